"""The screening service's own PostgreSQL reader connections."""

from __future__ import annotations

import asyncpg
import pytest

from screener.calls.lookup import PgCallReader, call_reader
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import open_database
from screener.domain.model import CallFacts
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import Action, ListKind
from screener.lists import repo as lists_repo
from screener.settings import DatabaseSettings, Settings
from tests.support.pgcluster import PgCluster

pytestmark = pytest.mark.postgres


async def test_reads_match_the_session_path_and_survive_a_killed_connection(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    settings = Settings(database=DatabaseSettings(url=pg_url))
    async with open_database(settings.database) as db:
        async with db.sessions.begin() as session:
            scams = await lists_repo.create_list(session, "scams", ListKind.NUISANCE)
            await lists_repo.add_entry(
                session, NumberAnalyser("GB"), scams, lists_repo.EntryInput("0161 496*"), "t"
            )
        service = ScreeningService(settings, call_reader(db.url, db.sessions))
        assert isinstance(service.reader, PgCallReader)
        try:
            facts = CallFacts("+441614960123")
            held = await service.decide(facts)
            async with db.sessions() as session:
                with_session = await ScreeningService.in_session(settings, session).decide(facts)
            assert held.decision == with_session.decision
            assert held.decision.action is Action.BLOCK

            # The server drops every other connection (a restart, an admin's kill).
            database = pg_url.rsplit("/", 1)[1]
            pg_cluster.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            )
            # The broken connection fails this one call (its caller fails open) ...
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await service.decide(facts)
            # ... and the next call connects afresh.
            again = await service.decide(facts)
            assert again.decision.action is Action.BLOCK
        finally:
            await service.close()
