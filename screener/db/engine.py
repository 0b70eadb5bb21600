"""Engine and session factory, built from the settings (never at import time)."""

from __future__ import annotations

import sqlite3
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


_INLINE_KEY = "screener.inline_sqlite"


async def inline_sqlite(session: AsyncSession) -> sqlite3.Connection | None:
    """The stdlib connection under an aiosqlite session (None on other databases).

    aiosqlite runs each statement on a worker thread; handing a statement over and
    the result back costs more than a short indexed read (see bench/lookup_bench.py),
    so the per-call reads run on this thread instead, on the session's own connection
    (they see its transaction). A session never has two statements in flight, so the
    connection is never used from two threads at once. Found once per transaction.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    sync = session.sync_session
    if sync.new or sync.deleted or sync.dirty:
        await session.flush()  # what an ORM query would have autoflushed
    cached = session.info.get(_INLINE_KEY)
    transaction = sync.get_transaction()
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    inner = getattr(raw.driver_connection, "_conn", None)
    if not isinstance(inner, sqlite3.Connection):
        return None
    session.info[_INLINE_KEY] = (sync.get_transaction(), inner)
    return inner
