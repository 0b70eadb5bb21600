"""Overloaded, Screener sheds calls safely: straight back to the dialplan, each on record.

Two ways to be overloaded: more calls at once than ``ari.max_calls_in_progress`` (a flood
of withheld callers, each held in a challenge), or a database that cannot keep up (here:
locked by another writer) so that more than ``ari.max_records_behind`` writes wait. Either
way new calls are continued at once, undecided, and recorded with their true times once
the database takes them; memory stays bounded because nothing per call waits but a small
record.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from screener.db.models import Call
from screener.db.sqlite_files import sqlite_path
from screener.demo.fake_asterisk import CallerBehaviour
from screener.domain.vocabulary import ListKind
from tests.ari.harness import add_list, fast_settings, running_service

SILENT = CallerBehaviour(presses=("none",) * 3)


async def rows(run: Any) -> list[Call]:
    async with run.ctx.database.sessions() as session:
        return list((await session.execute(select(Call))).scalars())


async def until(predicate: Any, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_a_flood_beyond_the_calls_in_progress_limit_goes_straight_back(
    sqlite_url: str,
) -> None:
    settings = lambda url: fast_settings(  # noqa: E731
        sqlite_url,
        url,
        ari={"max_calls_in_progress": 20},
        challenge={"digit_timeout_seconds": 2.0, "record_name": False},
    )
    async with running_service(settings) as run:
        assert run.ctx.calls is not None
        placed = []
        peak = 0
        for _ in range(60):
            placed.append(run.pbx.place_call("anonymous", behaviour=SILENT))
            await asyncio.sleep(0.005)
            peak = max(peak, run.ctx.calls.active_calls)
        for channel in placed:
            await run.finished(channel, timeout=30)
        await run.ctx.recorder.caught_up()
        recorded = await rows(run)
        shed_count = run.ctx.calls.stats.calls_shed
    assert peak <= 20
    assert len(recorded) == len(placed) == 60  # every call is on record
    shed = [c for c in recorded if c.outcome_step == "overload"]
    assert len(shed) == shed_count >= 30
    by_channel = {c.channel_id: c for c in recorded}
    for channel in placed:
        call = by_channel[channel.id]
        if call.outcome_step == "overload":
            # Straight back: never answered, no prompt, continued where fail-open goes.
            assert channel.result == "continued" and channel.prompts_heard == 0
            assert (call.outcome, call.action, call.verdict) == ("fail-open", None, None)
            assert call.withheld and "overloaded" in (call.outcome_detail or "")
            assert call.ended_at is not None
            assert timedelta(0) <= call.ended_at - call.started_at < timedelta(seconds=2)
        else:
            assert call.action == "challenge"


async def test_a_database_that_falls_behind_sheds_calls_and_loses_none(
    sqlite_url: str,
) -> None:
    async def contacts(session: Any) -> None:
        await add_list(session, "contacts", ListKind.CONTACTS, "+442071838750")

    settings = lambda url: fast_settings(sqlite_url, url, ari={"max_records_behind": 100})  # noqa: E731
    async with running_service(settings, seed=contacts) as run:
        assert run.ctx.calls is not None
        recorder = run.ctx.recorder
        # Another writer holds the database (a long import applying, say).
        blocker = sqlite3.connect(sqlite_path(sqlite_url), isolation_level=None, timeout=10)
        blocker.execute("BEGIN IMMEDIATE")
        placed_at = datetime.now(UTC)
        placed = []
        peak = 0
        try:
            for _ in range(150):
                placed.append(run.pbx.place_call("+442071838750", "ACME"))
                await asyncio.sleep(0.01)
                peak = max(peak, recorder.pending)
            for channel in placed:
                await run.finished(channel)
            assert run.ctx.calls.stats.calls_shed > 0
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        async with asyncio.timeout(60):
            await recorder.caught_up()
        recorded = await rows(run)
        shed_count = run.ctx.calls.stats.calls_shed
    assert recorder.stats.failed == 0
    assert len(recorded) == 150 and {c.channel_id for c in recorded} == {c.id for c in placed}
    # The writer's backlog stayed near the limit (each call in progress adds a few writes).
    assert peak <= 100 + 5 * 20
    shed = [c for c in recorded if c.outcome_step == "overload"]
    assert len(shed) == shed_count
    for call in recorded:
        # True times: when the call came, not when its row could be written.
        assert placed_at - timedelta(seconds=1) <= call.started_at <= call.ended_at
        assert call.ended_at - call.started_at < timedelta(seconds=2)
