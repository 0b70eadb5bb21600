"""Which list entries match a caller's number: one indexed query, on every backend.

The number and each of its prefixes probe the ``(value, is_prefix, list_id)`` index; the
per-call path sends it straight to the driver (see
:func:`screener.db.engine.driver_connection` and docs/performance.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from screener.domain.model import ListMatch
from screener.domain.numbers import candidate_prefixes
from screener.domain.vocabulary import Action, ListKind

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_LOOKUP = (
    "SELECT e.id, e.value, e.is_prefix, e.label, e.valid_from, e.expires_at, "
    "l.id, l.name, l.action, l.kind "
    "FROM list_entries e JOIN lists l ON l.id = e.list_id "
    "WHERE e.value IN :values AND (e.is_prefix OR e.value = :number)"
)
"""The lookup, with ``:values`` (the number and its prefixes) and ``:number`` to fill in
with the driver's placeholders."""


def pg_lookup_sql(values: str = "$1", number: str = "$2") -> str:
    """``_LOOKUP`` for asyncpg with these placeholders for the candidate prefixes (an
    array) and the number: one prepared statement whatever the number's length."""
    return _LOOKUP.replace("IN :values", f"= ANY({values}::varchar[])").replace(
        ":number", f"{number}::varchar"
    )


_PG_LOOKUP = pg_lookup_sql()


@lru_cache(maxsize=32)
def _sqlite_lookup(candidates: int) -> str:
    """``_LOOKUP`` for the stdlib driver with ``candidates`` placeholders (a cached statement)."""
    marks = ", ".join("?" * candidates)
    return _LOOKUP.replace(":values", f"({marks})").replace(":number", "?")


def _as_aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def matches_in(rows: Iterable[Sequence[Any]], now: datetime) -> list[ListMatch]:
    """The entries in force at ``now`` among lookup rows (the lookup's columns, in order)."""
    matches: list[ListMatch] = []
    for row in rows:
        valid_from = _as_aware(row[4])
        expires_at = _as_aware(row[5])
        if valid_from is not None and valid_from > now:
            continue
        if expires_at is not None and expires_at <= now:
            continue
        matches.append(
            ListMatch(
                list_id=int(row[6]),
                list_name=str(row[7]),
                action=Action(row[8]),
                kind=ListKind(row[9]),
                entry_id=int(row[0]),
                value=str(row[1]),
                is_prefix=bool(row[2]),
                label=row[3],
            )
        )
    # Longest (most specific) match first, then by list name for stable output.
    matches.sort(key=lambda m: (-len(m.value), m.list_name))
    return matches


def sqlite_matches(connection: sqlite3.Connection, e164: str, now: datetime) -> list[ListMatch]:
    candidates = candidate_prefixes(e164)
    rows = connection.execute(_sqlite_lookup(len(candidates)), (*candidates, e164)).fetchall()
    return matches_in(rows, now)


async def pg_matches(connection: Any, e164: str, now: datetime) -> list[ListMatch]:
    rows = await connection.fetch(_PG_LOOKUP, candidate_prefixes(e164), e164)
    return matches_in(rows, now)


async def list_matches(
    session: AsyncSession, e164: str, now: datetime | None = None
) -> list[ListMatch]:
    """Every list entry in force at ``now`` that matches ``e164`` exactly or as a prefix."""
    from screener.db.engine import driver_connection

    now = now or datetime.now(UTC)
    driver = await driver_connection(session)
    if isinstance(driver, sqlite3.Connection):
        return sqlite_matches(driver, e164, now)
    return await pg_matches(driver, e164, now)
