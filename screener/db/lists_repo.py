"""Named number lists and their entries: CRUD and the per-call lookup."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.engine import driver_connection
from screener.db.models import ListEntry, NumberList
from screener.domain import Action, ListKind, ListMatch
from screener.numbers import NumberAnalyser, candidate_prefixes
from screener.policy import DEFAULT_LIST_ACTIONS


class ListError(ValueError):
    """A list operation that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class EntryInput:
    """A list entry as given by an admin, a CSV row or the API (not yet normalised)."""

    value: str
    label: str | None = None
    note: str | None = None
    source: str | None = None
    valid_from: datetime | None = None
    expires_at: datetime | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


async def create_list(
    session: AsyncSession,
    name: str,
    kind: ListKind,
    action: Action | None = None,
    description: str = "",
) -> NumberList:
    name = name.strip()
    if not name or len(name) > 100:
        raise ListError("a list name must be 1 to 100 characters")
    if await get_list(session, name) is not None:
        raise ListError(f"a list named {name!r} already exists")
    now = utcnow()
    number_list = NumberList(
        name=name,
        kind=kind.value,
        action=(action or DEFAULT_LIST_ACTIONS[kind]).value,
        description=description,
        created_at=now,
        updated_at=now,
    )
    session.add(number_list)
    await session.flush()
    return number_list


async def get_list(session: AsyncSession, name_or_id: str | int) -> NumberList | None:
    if isinstance(name_or_id, int):
        return await session.get(NumberList, name_or_id)
    return (
        await session.execute(select(NumberList).where(NumberList.name == name_or_id))
    ).scalar_one_or_none()


async def require_list(session: AsyncSession, name_or_id: str | int) -> NumberList:
    found = await get_list(session, name_or_id)
    if found is None:
        raise ListError(f"no list named {name_or_id!r}")
    return found


async def all_lists(session: AsyncSession) -> list[tuple[NumberList, int]]:
    """Every list with its entry count."""
    counts = (
        select(ListEntry.list_id, func.count().label("n")).group_by(ListEntry.list_id).subquery()
    )
    rows = await session.execute(
        select(NumberList, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.list_id == NumberList.id)
        .order_by(NumberList.name)
    )
    return [(row[0], int(row[1])) for row in rows]


async def update_list(
    session: AsyncSession,
    number_list: NumberList,
    *,
    name: str | None = None,
    action: Action | None = None,
    kind: ListKind | None = None,
    description: str | None = None,
) -> NumberList:
    if name is not None and name.strip() != number_list.name:
        name = name.strip()
        if not name or len(name) > 100:
            raise ListError("a list name must be 1 to 100 characters")
        if await get_list(session, name) is not None:
            raise ListError(f"a list named {name!r} already exists")
        number_list.name = name
    if action is not None:
        number_list.action = action.value
    if kind is not None:
        number_list.kind = kind.value
    if description is not None:
        number_list.description = description
    number_list.updated_at = utcnow()
    await session.flush()
    return number_list


async def delete_list(session: AsyncSession, number_list: NumberList) -> None:
    await session.execute(delete(ListEntry).where(ListEntry.list_id == number_list.id))
    await session.delete(number_list)
    await session.flush()


async def add_entry(
    session: AsyncSession,
    analyser: NumberAnalyser,
    number_list: NumberList,
    entry: EntryInput,
    added_by: str,
) -> tuple[ListEntry, bool]:
    """Add (or update) one entry. Returns ``(entry, created)``; raises InvalidEntry."""
    value, is_prefix = analyser.normalise_entry(entry.value)
    if entry.valid_from and entry.expires_at and entry.expires_at <= entry.valid_from:
        raise ListError("expires_at must be after valid_from")
    existing = (
        await session.execute(
            select(ListEntry).where(
                ListEntry.list_id == number_list.id,
                ListEntry.value == value,
                ListEntry.is_prefix == is_prefix,
            )
        )
    ).scalar_one_or_none()
    created = existing is None
    row = existing or ListEntry(
        list_id=number_list.id,
        value=value,
        is_prefix=is_prefix,
        created_at=utcnow(),
        added_by=added_by,
    )
    # Re-adding a number updates what was given and keeps the rest.
    for field_name in ("label", "note", "source", "valid_from", "expires_at"):
        given = getattr(entry, field_name)
        if created or given is not None:
            setattr(row, field_name, given)
    if created:
        session.add(row)
    await session.flush()
    return row, created


async def remove_entry(
    session: AsyncSession, analyser: NumberAnalyser, number_list: NumberList, value: str
) -> bool:
    normalised, is_prefix = analyser.normalise_entry(value)
    result = await session.execute(
        delete(ListEntry).where(
            ListEntry.list_id == number_list.id,
            ListEntry.value == normalised,
            ListEntry.is_prefix == is_prefix,
        )
    )
    await session.flush()
    return bool(getattr(result, "rowcount", 0))


async def entries_page(
    session: AsyncSession,
    number_list: NumberList,
    *,
    search: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> Sequence[ListEntry]:
    """Entries in insertion order, keyset-paginated; ``search`` matches value or label."""
    query = select(ListEntry).where(ListEntry.list_id == number_list.id, ListEntry.id > after_id)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        digits = "".join(ch for ch in search if ch.isdigit())
        conditions = [ListEntry.label.like(pattern, escape="\\")]
        if digits:
            conditions.append(ListEntry.value.like(f"%{digits}%"))
        from sqlalchemy import or_

        query = query.where(or_(*conditions))
    return (await session.execute(query.order_by(ListEntry.id).limit(limit))).scalars().all()


_LOOKUP = text(
    "SELECT e.id, e.value, e.is_prefix, e.label, e.valid_from, e.expires_at, "
    "l.id, l.name, l.action, l.kind "
    "FROM list_entries e JOIN lists l ON l.id = e.list_id "
    "WHERE e.value IN :values AND (e.is_prefix OR e.value = :number)"
).bindparams(bindparam("values", expanding=True))


def _as_aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


_PG_LOOKUP = (
    str(_LOOKUP.text)
    .replace("IN :values", "= ANY($1::varchar[])")
    .replace(":number", "$2::varchar")
)
"""``_LOOKUP`` for asyncpg: one prepared statement whatever the number's length."""


@lru_cache(maxsize=32)
def _sqlite_lookup(candidates: int) -> str:
    """``_LOOKUP`` for the stdlib driver with ``candidates`` placeholders (a cached statement)."""
    marks = ", ".join("?" * candidates)
    return str(_LOOKUP.text).replace(":values", f"({marks})").replace(":number", "?")


async def lookup(session: AsyncSession, e164: str, now: datetime | None = None) -> list[ListMatch]:
    """Every list entry in force now that matches ``e164`` exactly or as a prefix.

    One indexed query: the number and each of its prefixes probe the
    ``(value, is_prefix, list_id)`` index, sent straight to the driver (see
    :func:`screener.db.engine.driver_connection`).
    """
    now = now or utcnow()
    driver = await driver_connection(session)
    if isinstance(driver, sqlite3.Connection):
        return lookup_sqlite(driver, e164, now)
    return await lookup_pg(driver, e164, now)


async def lookup_pg(connection: Any, e164: str, now: datetime | None = None) -> list[ListMatch]:
    """:func:`lookup` on an asyncpg connection (one prepared statement)."""
    rows = await connection.fetch(_PG_LOOKUP, candidate_prefixes(e164), e164)
    return _matches(rows, now or utcnow())


def lookup_sqlite(
    connection: sqlite3.Connection, e164: str, now: datetime | None = None
) -> list[ListMatch]:
    """:func:`lookup` on a stdlib SQLite connection (no session; runs on this thread)."""
    candidates = candidate_prefixes(e164)
    rows = connection.execute(_sqlite_lookup(len(candidates)), (*candidates, e164)).fetchall()
    return _matches(rows, now or utcnow())


def _matches(rows: Iterable[Sequence[Any]], now: datetime) -> list[ListMatch]:
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
