"""Engine and session factory, built from the settings (never at import time)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from screener.settings import DatabaseSettings

SQLITE_MMAP_BYTES = 2**31 - 2**16
"""SQLite's largest memory map (SQLITE_MAX_MMAP_SIZE in the usual builds)."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Reads map the file instead of copying pages per connection: an indexed lookup in a
    # list of millions drops from ~130 to ~30 us (bench/lookup_bench.py). Mapped pages are
    # the OS page cache, shared by every connection, not private memory.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": settings.echo}
    if is_sqlite(settings.url):
        kwargs["connect_args"] = {"timeout": 5}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(settings.url, **kwargs)
    if is_sqlite(settings.url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sqlite_path(url: str) -> str:
    """The file path inside a ``sqlite+aiosqlite:///path`` URL."""
    return url.split(":///", 1)[1].split("?", 1)[0]


SQLITE_READER_TIMEOUT = 0.5
"""Seconds a reader waits for a lock (rare in WAL mode) before the read fails."""


def open_sqlite_reader(url: str) -> sqlite3.Connection | None:
    """A read-only stdlib connection to the SQLite file of ``url`` (None for an in-memory
    database or a file that does not exist yet).

    Autocommit: each statement sees what is committed at that moment. For use on one
    thread (the event loop's); it never writes (``query_only``).
    """
    path = sqlite_path(url)
    if not path or path == ":memory:" or "mode=memory" in url or not Path(path).is_file():
        return None
    connection = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=SQLITE_READER_TIMEOUT
    )
    connection.execute("PRAGMA query_only=ON")
    connection.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    return connection


_DRIVER_KEY = "screener.driver_connection"


async def driver_connection(session: AsyncSession) -> Any:
    """The driver's own connection under ``session``: a ``sqlite3.Connection`` (inside
    aiosqlite) or an ``asyncpg.Connection``. Found once per transaction.

    The per-call reads (list lookup, caller history) use it directly: through
    SQLAlchemy and aiosqlite a short indexed read costs several times the read itself
    (a worker-thread hop per statement on SQLite, statement handling in Python on
    both; see docs/performance.md). On SQLite the read runs on this thread, on the
    session's own connection, so it sees the session's transaction; a session never
    has two statements in flight, so the connection is never used from two threads at
    once. Pending ORM changes are flushed first, as an ORM query would.
    """
    sync = session.sync_session
    if sync.new or sync.deleted or sync.dirty:
        await session.flush()
    cached = session.info.get(_DRIVER_KEY)
    transaction = sync.get_transaction()
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    inner = getattr(driver, "_conn", None)  # aiosqlite keeps the sqlite3 connection here
    found = inner if isinstance(inner, sqlite3.Connection) else driver
    session.info[_DRIVER_KEY] = (sync.get_transaction(), found)
    return found
