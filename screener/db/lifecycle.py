"""Open the database for a command or the service: engine, sessions, schema upgrade."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from screener.db.engine import create_engine, session_factory
from screener.settings import DatabaseSettings

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or used; the message is safe to show (no password)."""


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    url: str


@asynccontextmanager
async def open_database(
    settings: DatabaseSettings, upgrade: bool | None = None
) -> AsyncIterator[Database]:
    """Yield a ready database; upgrade the schema first when configured to."""
    if upgrade if upgrade is not None else settings.auto_upgrade:
        from screener.db import migrate  # Alembic: only loaded to upgrade

        try:
            await migrate.upgrade_async(settings.url)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise DatabaseUnavailable(
                f"cannot open the database at {safe_url(settings.url)}: {_cause(exc)}"
            ) from exc
    engine = create_engine(settings)
    try:
        yield Database(engine, session_factory(engine), settings.url)
    finally:
        await engine.dispose()


def _cause(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    lines = str(orig or exc).splitlines()
    return lines[0] if lines else type(orig or exc).__name__


def describe_db_error(exc: BaseException, url: str) -> str:
    return f"database error at {safe_url(url)}: {_cause(exc)}"
