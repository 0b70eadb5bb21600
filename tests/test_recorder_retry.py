"""The call recorder keeps its records when SQLite stays locked for longer than the busy
timeout (a bulk import applying), writes them in order once it is free, and gives up only
after a bounded time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from screener.calls.recorder import CallRecorder
from screener.calls.store import new_call_id
from screener.db import migrate
from screener.db.engine import session_factory
from screener.db.models import Call, CallEvent
from screener.db.sqlite_files import sqlite_path
from screener.domain.events import CallDecided, CallFinished, CallStarted
from screener.domain.model import CallEnding, CallFacts
from screener.domain.numbers import NumberAnalyser
from screener.domain.policy import Policy, decide
from screener.domain.vocabulary import CallSource, Outcome, Step, TimelineKind, Verdict
from screener.events import EventBus

GB = NumberAnalyser("GB")
BUSY_TIMEOUT_MS = 100
"""The recorder's busy timeout here (the service's is 5 s): the lock outlasts it many times."""
GUARD_SECONDS = 60.0
"""Bounded waits only guard against a hang; nothing here asserts a time."""


def short_timeout_engine(url: str) -> AsyncEngine:
    """An engine like the service's (screener.db.engine), with a short busy timeout."""
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate.upgrade_async(sqlite_url)
    built = short_timeout_engine(sqlite_url)
    yield built
    await built.dispose()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_SECONDS):
        while not condition():
            await asyncio.sleep(0.01)


def call_events(number: str) -> tuple[CallStarted, CallDecided]:
    call_id = new_call_id()
    now = datetime.now(UTC)
    facts = CallFacts(caller_number=number)
    decision = decide(Policy(), GB.analyse(number))
    started = CallStarted(call_id, "main", CallSource.DEMO, None, facts, decision.number.e164, now)
    return started, CallDecided(call_id, "main", decision, 0.1, now)


def ending(call_id: str) -> CallFinished:
    done = CallEnding(Outcome.CONNECTED, Step.DECISION, Verdict.ALLOW)
    return CallFinished(call_id, "main", done, datetime.now(UTC))


class WriteLock:
    """An exclusive write lock on the database file, from a connection of its own."""

    def __init__(self, url: str) -> None:
        self.connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.close()


async def test_records_written_while_the_database_is_locked_land_in_order_when_released(
    sqlite_url: str, engine: AsyncEngine
) -> None:
    bus = EventBus()
    published = bus.subscribe(kinds=[CallStarted])
    recorder = CallRecorder(session_factory(engine), bus)
    writer = asyncio.create_task(recorder.run())
    lock = WriteLock(sqlite_url)
    calls = [call_events(f"07911 123{i:03d}") for i in range(150)]
    finished = []
    for started, decided in calls:
        recorder.call_taken(started, decided)
        recorder.step(started.call_id, TimelineKind.ANSWERED, datetime.now(UTC))
        finished.append(recorder.finish(ending(started.call_id)))

    # The recorder has met the lock several times, each after its whole busy timeout.
    await until(lambda: recorder.stats.retried >= 3)
    assert recorder.stats.written == 0 and recorder.stats.failed == 0
    lock.release()

    async with asyncio.timeout(GUARD_SECONDS):
        assert all(await asyncio.gather(*finished))
    await recorder.close()
    async with asyncio.timeout(GUARD_SECONDS):
        await writer
    assert recorder.stats.failed == 0
    assert recorder.stats.written == 3 * len(calls)

    sessions = session_factory(engine)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == len(calls)
        finished_rows = await session.scalar(
            select(func.count()).select_from(Call).where(Call.outcome == Outcome.CONNECTED.value)
        )
        assert finished_rows == len(calls)
        steps = (await session.execute(select(CallEvent.call_id, CallEvent.kind))).all()
    # Every step is there, in the order it was handed over: the calls in turn, and each
    # call's decided, answered and outcome steps one after the other.
    decided_order = [call_id for call_id, kind in steps if kind == TimelineKind.DECIDED.value]
    assert decided_order == [started.call_id for started, _ in calls]
    by_call: dict[str, list[str]] = {}
    for call_id, kind in steps:
        by_call.setdefault(call_id, []).append(kind)
    expected = [TimelineKind.DECIDED.value, TimelineKind.ANSWERED.value, TimelineKind.OUTCOME.value]
    assert all(kinds == expected for kinds in by_call.values()), by_call
    # Each call's events went out once, after its record had committed.
    published_ids = [published.queue.get_nowait().call_id for _ in range(published.queue.qsize())]
    assert published_ids == [started.call_id for started, _ in calls]


async def test_the_recorder_gives_up_after_its_retry_time_and_carries_on(
    sqlite_url: str, engine: AsyncEngine
) -> None:
    recorder = CallRecorder(session_factory(engine), EventBus(), lock_retry_seconds=0.5)
    writer = asyncio.create_task(recorder.run())
    lock = WriteLock(sqlite_url)
    lost_started, lost_decided = call_events("07911 123456")
    recorder.call_taken(lost_started, lost_decided)
    await until(lambda: recorder.stats.failed == 1)
    assert recorder.stats.retried >= 1 and recorder.stats.written == 0
    assert recorder.stats.last_error and "locked" in recorder.stats.last_error
    lock.release()

    started, decided = call_events("07911 654321")
    recorder.call_taken(started, decided)
    async with asyncio.timeout(GUARD_SECONDS):
        assert await recorder.finish(ending(started.call_id))
    await recorder.close()
    async with asyncio.timeout(GUARD_SECONDS):
        await writer
    assert recorder.stats.failed == 1
    async with session_factory(engine)() as session:
        ids = (await session.scalars(select(Call.id))).all()
    assert ids == [started.call_id]


async def test_other_errors_are_not_retried(engine: AsyncEngine) -> None:
    recorder = CallRecorder(session_factory(engine), EventBus())
    writer = asyncio.create_task(recorder.run())
    first, decided = call_events("07911 123456")
    recorder.call_taken(first, decided)
    async with asyncio.timeout(GUARD_SECONDS):
        assert await recorder.finish(ending(first.call_id))
    # The same call again (a duplicate key) fails at once, alone: the others in its batch
    # are written one at a time.
    second, second_decided = call_events("07911 654321")
    recorder.call_taken(first, decided)
    recorder.call_taken(second, second_decided)
    async with asyncio.timeout(GUARD_SECONDS):
        assert await recorder.finish(ending(second.call_id))
    await recorder.close()
    async with asyncio.timeout(GUARD_SECONDS):
        await writer
    assert recorder.stats.failed == 1 and recorder.stats.retried == 0
    async with session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Call)) == 2
