"""A bulk import on SQLite while the service writes: calls keep being recorded and reviewed.

A real import of 200,000 numbers into a real SQLite file, through the import use case the
CLI runs, while one task keeps taking calls through the real call desk (screening service
and call recorder) and another keeps reviewing them through the review use case. The
import must apply every number, and every call and review must be written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from screener.application.unit_of_work import UnitOfWork
from screener.calls.desk import CallDesk
from screener.calls.recorder import CallRecorder
from screener.calls.screening import ScreeningService
from screener.calls.service import review_call
from screener.db.lifecycle import open_database
from screener.db.models import Call, ListEntry
from screener.domain.model import Actor, CallEnding, CallFacts
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import (
    CallSource,
    ListKind,
    Outcome,
    ReviewState,
    Step,
    TimelineKind,
    Verdict,
    Via,
)
from screener.events import EventBus
from screener.lists.import_reader import EntryReader, RejectionLog
from screener.lists.importer import import_entries
from screener.settings import DatabaseSettings, Settings
from tests.support.calls import make_list

ROWS = 200_000
GUARD_SECONDS = 300.0
"""Only guards against a hang: nothing here asserts a time."""


def registry_file(path: Path) -> Path:
    """ROWS distinct national numbers, one a line, as registry files come."""
    with path.open("w", encoding="ascii") as out:
        for start in range(0, ROWS, 10_000):
            out.write("".join(f"020{n:08d}\n" for n in range(start, start + 10_000)))
    return path


async def test_an_import_applies_while_calls_and_reviews_are_written(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = Settings(database=DatabaseSettings(url=sqlite_url))
    source = registry_file(tmp_path / "tps.txt")
    async with open_database(settings.database, upgrade=True) as database:
        await make_list(database, "tps", ListKind.REGISTRY)
        recorder = CallRecorder(database.sessions, EventBus())
        writer = asyncio.create_task(recorder.run())
        screening = ScreeningService.per_session(settings, database.sessions)
        desk = CallDesk(screening, recorder, site="main", attempts=3)
        stop = asyncio.Event()
        taken: list[str] = []
        to_review: asyncio.Queue[tuple[str, asyncio.Future[bool]]] = asyncio.Queue()
        reviewed: list[str] = []

        async def keep_calling() -> None:
            while not stop.is_set():
                number = f"07911 {len(taken):06d}"
                call = await desk.take(
                    CallFacts(caller_number=number), source=CallSource.DEMO, channel_id=None
                )
                taken.append(call.call_id)
                desk.step(call.call_id, TimelineKind.ANSWERED)
                ended = CallEnding(Outcome.CONNECTED, Step.DECISION, Verdict.ALLOW)
                to_review.put_nowait((call.call_id, desk.finish(call.call_id, ended)))
                await asyncio.sleep(0.01)

        async def keep_reviewing() -> None:
            while not (stop.is_set() and to_review.empty()):
                try:
                    call_id, finished = await asyncio.wait_for(to_review.get(), 0.1)
                except TimeoutError:
                    continue
                assert await finished  # the call's record is written
                uow = UnitOfWork(database, Actor("alice", Via.WEB, "192.0.2.7"))
                await review_call(uow, call_id, ReviewState.LEGITIMATE.value, "checked")
                reviewed.append(call_id)

        callers = asyncio.gather(keep_calling(), keep_reviewing())
        # The service is writing (its connections hold the file in WAL mode) before the
        # import starts, as it would be on a live switchboard.
        async with asyncio.timeout(GUARD_SECONDS):
            while not reviewed:
                await asyncio.sleep(0.01)
        before = len(taken)
        rejections = RejectionLog()
        with source.open("rb") as stream:
            reader = EntryReader(stream, NumberAnalyser("GB"), rejections)
            async with asyncio.timeout(GUARD_SECONDS):
                result = await import_entries(database, Actor.cli("test"), "tps", reader)
        during = len(taken) - before
        stop.set()
        async with asyncio.timeout(GUARD_SECONDS):
            await callers
        await recorder.close()
        async with asyncio.timeout(GUARD_SECONDS):
            await writer

        stats = result.stats
        assert stats.applied and rejections.total == 0
        assert (stats.read, stats.added) == (ROWS, ROWS)
        assert during > 0, "calls were taken while the import ran"
        assert recorder.stats.failed == 0
        async with database.sessions() as session:
            entries = await session.scalar(select(func.count()).select_from(ListEntry))
            calls = await session.scalar(select(func.count()).select_from(Call))
            ended = await session.scalar(
                select(func.count()).select_from(Call).where(Call.outcome.is_not(None))
            )
            marked = (
                await session.scalars(
                    select(Call.id).where(Call.review_state == ReviewState.LEGITIMATE.value)
                )
            ).all()
        assert entries == ROWS
        assert calls == ended == len(taken)
        assert sorted(marked) == sorted(reviewed)
