"""Run the Alembic chain programmatically (``screener db upgrade`` and start-up)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The chain bundled in the installed package, or ``migrations/`` in a source checkout."""
    package = Path(__file__).resolve().parents[1]
    bundled = package / "migrations"
    if (bundled / "env.py").exists():
        return bundled
    return package.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(config).get_current_head()


def upgrade(url: str, revision: str = "head") -> None:
    if revision == "head" and current(url) == head_revision():
        log.debug("database schema already at head")
        return
    log.info("upgrading database schema to %s", revision)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    log.info("downgrading database schema to %s", revision)
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    from sqlalchemy import create_engine as create_sync_engine
    from sqlalchemy import text

    if "+asyncpg" in url:
        return asyncio.run(_current_async(url))
    engine = create_sync_engine(url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            try:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            except Exception:
                return None
            return str(row[0]) if row else None
    finally:
        engine.dispose()


async def _current_async(url: str) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            try:
                row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
            except Exception:
                return None
            return str(row[0]) if row else None
    finally:
        await engine.dispose()


async def upgrade_async(url: str, revision: str = "head") -> None:
    """From inside a running loop: Alembic's env.py runs its own loop, so use a thread."""
    await asyncio.to_thread(upgrade, url, revision)
