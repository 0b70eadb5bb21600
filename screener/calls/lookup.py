"""What deciding one call reads from the database: list matches and the caller's history.

These reads run on every call, so they go straight to the driver (see
:func:`screener.db.engine.driver_connection` and docs/performance.md). A
:class:`CallReader` is the lookup backend the composition root builds for the
database in use:

- :class:`SqliteCallReader`: one read-only stdlib connection on the event loop's thread;
- :class:`PgCallReader`: a few autocommit asyncpg connections of its own;
- :class:`SessionCallReader`: a SQLAlchemy session per call (any backend; also what the
  CLI uses inside its own session).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from screener.db.sqlite_files import open_sqlite_reader, sqlite_path
from screener.domain.model import CallerHistory, ListMatch
from screener.domain.numbers import candidate_prefixes
from screener.domain.vocabulary import ChallengeResult
from screener.lists.matching import (
    list_matches,
    matches_in,
    pg_lookup_sql,
    pg_matches,
    sqlite_matches,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """How far back the caller's history matters."""

    repeat_since: datetime
    challenge_since: datetime

    @classmethod
    def before(cls, now: datetime, repeat: timedelta, challenge: timedelta) -> HistoryWindow:
        return cls(now - repeat, now - challenge)


class CallReader(Protocol):
    """Reads what deciding a call from ``e164`` needs (``window`` None: no history)."""

    async def read(
        self, e164: str, now: datetime, window: HistoryWindow | None
    ) -> tuple[list[ListMatch], CallerHistory]: ...

    async def close(self) -> None: ...


# -- caller history ------------------------------------------------------------------

_SQLITE_RECENT = "SELECT count(*) FROM calls WHERE caller_number = ? AND started_at >= ?"
_SQLITE_LAST_CHALLENGE = (
    "SELECT challenge_result, ended_at, started_at FROM calls "
    "WHERE caller_number = ? AND started_at >= ? AND challenge_result IN ('passed', 'failed') "
    "ORDER BY started_at DESC LIMIT 1"
)


def _pg_history_sql(number: str, repeat_since: str, challenge_since: str) -> str:
    """Both history questions in one statement (a round trip costs more than the query)."""
    # Only placeholders ($1...) are put in, by this module.
    return (
        f"SELECT (SELECT count(*) FROM calls WHERE caller_number = {number} "  # noqa: S608
        f"AND started_at >= {repeat_since}), "
        "last.challenge_result, last.ended_at, last.started_at "
        "FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
        f"SELECT challenge_result, ended_at, started_at FROM calls "
        f"WHERE caller_number = {number} AND started_at >= {challenge_since} "
        "AND challenge_result IN ('passed', 'failed') "
        "ORDER BY started_at DESC LIMIT 1) AS last ON true"
    )


_PG_HISTORY = _pg_history_sql("$1", "$2", "$3")
_HISTORY_COLUMNS = 4
_PG_READ = (
    f"SELECT h.*, m.* FROM ({_pg_history_sql('$1', '$3', '$4')}) AS h "  # noqa: S608
    f"LEFT JOIN ({pg_lookup_sql(values='$2', number='$1')}) AS m ON true"
)
"""The list lookup and the history in one round trip: a row per match, each carrying the
history, or one row with empty match columns when nothing matches."""


def _sqlite_time(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it on SQLite (so text comparison orders it)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_read_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


def _history(recent: int, result: str | None, at: datetime | None) -> CallerHistory:
    if result is None:
        return CallerHistory(recent_calls=recent)
    return CallerHistory(recent, ChallengeResult(result), at)


def sqlite_history(
    connection: sqlite3.Connection, e164: str, window: HistoryWindow
) -> CallerHistory:
    recent = connection.execute(
        _SQLITE_RECENT, (e164, _sqlite_time(window.repeat_since))
    ).fetchone()
    last = connection.execute(
        _SQLITE_LAST_CHALLENGE, (e164, _sqlite_time(window.challenge_since))
    ).fetchone()
    if last is None:
        return CallerHistory(recent_calls=int(recent[0]))
    at = _sqlite_read_time(last[1]) or _sqlite_read_time(last[2])
    return _history(int(recent[0]), last[0], at)


async def pg_history(connection: Any, e164: str, window: HistoryWindow) -> CallerHistory:
    row = await connection.fetchrow(_PG_HISTORY, e164, window.repeat_since, window.challenge_since)
    return _history(int(row[0]), row[1], row[2] or row[3])


async def pg_read(
    connection: Any, e164: str, now: datetime, window: HistoryWindow
) -> tuple[list[ListMatch], CallerHistory]:
    """List matches and history of ``e164`` in one statement (:data:`_PG_READ`)."""
    rows = await connection.fetch(
        _PG_READ, e164, candidate_prefixes(e164), window.repeat_since, window.challenge_since
    )
    first = rows[0]
    history = _history(int(first[0]), first[1], first[2] or first[3])
    found = [tuple(row)[_HISTORY_COLUMNS:] for row in rows if row[_HISTORY_COLUMNS] is not None]
    return matches_in(found, now), history


async def caller_history(session: AsyncSession, e164: str, window: HistoryWindow) -> CallerHistory:
    """How often ``e164`` called recently and how its last challenge went."""
    from screener.db.engine import driver_connection

    driver = await driver_connection(session)
    if isinstance(driver, sqlite3.Connection):
        return sqlite_history(driver, e164, window)
    return await pg_history(driver, e164, window)


# -- the backends ----------------------------------------------------------------------


class SessionCallReader:
    """Reads in a session: the one given, or a new one from ``sessions`` per call."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        assert sessions is not None or session is not None
        self._sessions = sessions
        self._session = session

    async def read(
        self, e164: str, now: datetime, window: HistoryWindow | None
    ) -> tuple[list[ListMatch], CallerHistory]:
        if self._session is not None:
            return await self._read(self._session, e164, now, window)
        assert self._sessions is not None
        async with self._sessions() as session:
            return await self._read(session, e164, now, window)

    @staticmethod
    async def _read(
        session: AsyncSession, e164: str, now: datetime, window: HistoryWindow | None
    ) -> tuple[list[ListMatch], CallerHistory]:
        matches = await list_matches(session, e164, now)
        history = await caller_history(session, e164, window) if window else CallerHistory()
        return matches, history

    async def close(self) -> None:
        return None


class SqliteCallReader:
    """One read-only stdlib connection, used only on the event loop's thread.

    A session per call costs a pool checkout and a rollback at close, each a hop to
    aiosqlite's worker thread (~0.5 ms together on a small server) for reads that take
    tens of microseconds (docs/performance.md). In autocommit mode each read sees what is
    committed at that moment. If the file is replaced (a backup restored while Screener
    runs), the next read opens the new file instead of reading the old one for ever.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._path = sqlite_path(url)
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    def _current(self) -> sqlite3.Connection:
        try:
            stat = os.stat(self._path)
            identity: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except OSError:
            identity = None
        if self._connection is not None and identity == self._identity:
            return self._connection
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        connection = open_sqlite_reader(self._url)
        if connection is None:
            raise sqlite3.OperationalError(f"no database file at {self._path}")
        self._connection, self._identity = connection, identity
        return connection

    async def read(
        self, e164: str, now: datetime, window: HistoryWindow | None
    ) -> tuple[list[ListMatch], CallerHistory]:
        connection = self._current()
        matches = sqlite_matches(connection, e164, now)
        history = sqlite_history(connection, e164, window) if window else CallerHistory()
        return matches, history

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PgCallReader:
    """Autocommit asyncpg connections of its own (no pool pre-ping, no rollback per call)."""

    def __init__(self, url: str) -> None:
        from screener.db.pg_readers import PgReaders  # asyncpg: only on PostgreSQL

        self._readers = PgReaders(url)

    async def read(
        self, e164: str, now: datetime, window: HistoryWindow | None
    ) -> tuple[list[ListMatch], CallerHistory]:
        async with self._readers.connection() as conn:
            if window is None:
                return await pg_matches(conn, e164, now), CallerHistory()
            return await pg_read(conn, e164, now, window)

    async def close(self) -> None:
        await self._readers.close()


def call_reader(url: str, sessions: async_sessionmaker[AsyncSession]) -> CallReader:
    """The fastest backend for the database at ``url``."""
    if url.startswith("postgresql"):
        return PgCallReader(url)
    path = sqlite_path(url)
    if path and path != ":memory:" and "mode=memory" not in url:
        return SqliteCallReader(url)
    return SessionCallReader(sessions)
