"""The Alembic chain goes up and down on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from screener.db import migrate
from screener.db.models import Base


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head_revision()
    tables = asyncio.run(_tables(db_url))
    assert set(Base.metadata.tables) <= tables
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert asyncio.run(_tables(db_url)) <= {"alembic_version"}
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head_revision()


def test_each_revision_steps_down_and_up(db_url: str) -> None:
    migrate.upgrade(db_url)
    head = migrate.current(db_url)
    migrate.downgrade(db_url, "-1")
    migrate.upgrade(db_url, "+1")
    assert migrate.current(db_url) == head


def test_models_match_the_migrations(db_url: str) -> None:
    """No model change is missing a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(db_url)

    async def diff() -> list[object]:
        engine = create_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(diff()) == []


@pytest.mark.postgres
def test_processes_starting_together_upgrade_once(pg_url: str) -> None:
    """Several workers start at once on one PostgreSQL: one upgrades, the others wait."""
    import subprocess
    import sys

    script = "import sys; from screener.db import migrate; migrate.upgrade(sys.argv[1])"
    runs = [
        subprocess.Popen([sys.executable, "-c", script, pg_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    assert migrate.current(pg_url) == migrate.head_revision()
