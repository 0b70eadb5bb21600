"""A few asyncpg connections kept for the per-call reads of the screening service.

A SQLAlchemy session per call costs two extra round trips on PostgreSQL (the pool's
pre-ping at checkout, the rollback at close) around two short reads. These connections
run only read statements in autocommit, so they need no reset between calls. A
connection that fails is dropped; the error goes to the caller (who fails open) and the
next call connects afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://...`` as a DSN asyncpg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgReaders:
    """Up to ``size`` connections, opened on first use and reused."""

    def __init__(self, url: str, size: int = 4) -> None:
        self._dsn = asyncpg_dsn(url)
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None or conn.is_closed():
                conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
            try:
                yield conn
            except BaseException:
                # The connection may be broken or mid-statement: never reuse it.
                conn.terminate()
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
