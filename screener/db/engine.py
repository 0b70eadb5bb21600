"""Engine and session factory, built from the settings (never at import time)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from screener.db.sqlite_files import SQLITE_MMAP_BYTES, is_sqlite
from screener.settings import DatabaseSettings


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
