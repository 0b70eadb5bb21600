"""Under load the call recorder writes fewer, larger transactions, and never makes anyone
who waits for a write (a caller on hold, the shutdown) sit out that longer wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from screener.calls import recorder as recorder_module
from screener.calls.recorder import BUSY_OPERATIONS, CallRecorder
from screener.db import migrate
from screener.db.engine import create_engine, session_factory
from screener.db.models import Call
from screener.events import EventBus
from screener.settings import DatabaseSettings
from tests.test_recorder_retry import call_events, ending

GUARD_SECONDS = 20.0
"""Only guards against a hang; the busy window below is far longer, so a write that came
back within this guard did not sit it out."""


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate.upgrade_async(sqlite_url)
    built = create_engine(DatabaseSettings(url=sqlite_url))
    yield built
    await built.dispose()


def count_commits(engine: AsyncEngine) -> list[int]:
    commits = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _commit(_connection: Any) -> None:
        commits[0] += 1

    return commits


async def test_a_busy_writer_gathers_calls_into_one_transaction(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "BUSY_BATCH_WINDOW_SECONDS", 1.0)
    recorder = CallRecorder(session_factory(engine), EventBus())
    writer = asyncio.create_task(recorder.run())
    commits = count_commits(engine)
    # A burst large enough to mark the writer busy...
    for _ in range(BUSY_OPERATIONS):
        recorder.call_taken(*call_events("+447700900123"))
    async with asyncio.timeout(GUARD_SECONDS):
        while recorder.pending:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # its transaction commits
    before = commits[0]
    # ...then calls trickling in over less than the busy window share one transaction.
    calls = [call_events("+447700900124") for _ in range(8)]
    for started, decided in calls:
        recorder.call_taken(started, decided)
        recorder.finish(ending(started.call_id))
        await asyncio.sleep(0.04)
    await recorder.caught_up()
    await recorder.close()
    await writer
    assert commits[0] - before <= 2  # the trickle, and at most the wait that ends it
    async with session_factory(engine)() as session:
        finished = await session.scalar(
            select(func.count()).select_from(Call).where(Call.outcome.is_not(None))
        )
    assert finished == 8
    assert recorder.stats.failed == 0


async def test_a_waiter_never_sits_out_the_busy_window(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "BUSY_BATCH_WINDOW_SECONDS", 3600.0)
    recorder = CallRecorder(session_factory(engine), EventBus())
    writer = asyncio.create_task(recorder.run())
    for _ in range(BUSY_OPERATIONS * 2):
        recorder.call_taken(*call_events("+447700900125"))
    async with asyncio.timeout(GUARD_SECONDS):
        await recorder.caught_up()  # written at once, busy or not
        started, decided = call_events("+447700900126")
        recorder.call_taken(started, decided)  # the writer now lingers for more...
        await asyncio.sleep(0.05)
        await recorder.caught_up()  # ...until someone waits
        await recorder.close()  # and the shutdown does not wait out the window either
        await writer
    async with session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == (
            BUSY_OPERATIONS * 2 + 1
        )
