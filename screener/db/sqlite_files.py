"""SQLite database files, for the stdlib driver: no SQLAlchemy here.

The per-call reads and ``screener check`` open SQLite files with :mod:`sqlite3` directly;
they import this module, not :mod:`screener.db.engine`, so a command that only reads costs
no SQLAlchemy import.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SQLITE_MMAP_BYTES = 2**31 - 2**16
"""SQLite's largest memory map (SQLITE_MAX_MMAP_SIZE in the usual builds)."""

SQLITE_READER_TIMEOUT = 0.5
"""Seconds a reader waits for a lock (rare in WAL mode) before the read fails."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    """The file path inside a ``sqlite+aiosqlite:///path`` URL."""
    return url.split(":///", 1)[1].split("?", 1)[0]


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
