"""Shared fixtures: real SQLite files and a real throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from screener.db import migrate
from screener.db.lifecycle import Database, open_database
from screener.settings import DatabaseSettings, Settings
from tests.support.pgcluster import PgCluster, throwaway_cluster

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPEECH_OFF = "SCREENER_SPEECH__ENABLED"


def pytest_configure(config: pytest.Config) -> None:
    """The services the tests start run without speech to text unless a test turns it on
    (``speech={"enabled": True, "model": ...}``): its default model, tiny.en by name, cannot
    be fetched here, and every service would start a worker process to find that out."""
    os.environ.setdefault(SPEECH_OFF, "false")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    with throwaway_cluster() as cluster:
        if cluster is None:
            pytest.skip("PostgreSQL server binaries (initdb) are not installed")
        yield cluster


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'screener.db'}"


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database=DatabaseSettings(url=db_url))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    async with open_database(settings.database, upgrade=True) as db:
        yield db


def upgrade_sync(url: str) -> None:
    migrate.upgrade(url)
