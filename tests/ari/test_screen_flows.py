"""Live screening through the real service and the fake Asterisk: callers who hang up on
hold, Asterisk going away while callers wait, shutdown, and a decision taken on another
Screener process (PostgreSQL, the call feed)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import select

from screener.application.unit_of_work import UnitOfWork
from screener.calls import screen_decisions
from screener.db.models import Call, Screening
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.events import CallChangedElsewhere
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.domain.screen_events import CallWaiting
from screener.domain.vocabulary import Via
from tests.ari.harness import PASSWORD, Running, fast_settings, running_service

SCREEN = {"policy": {"actions": {"withheld": "screen"}}}


def screen_settings(db_url: str, **more: Any) -> Any:
    screen = {"decision_timeout_seconds": 30, **more.pop("screen", {})}
    return lambda url: fast_settings(db_url, url, screen=screen, **SCREEN, **more)


async def on_hold(run: Running, channel: FakeChannel, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while channel.moh is None:
            await asyncio.sleep(0.01)


async def call_id_of(run: Running, channel: FakeChannel) -> str:
    async with asyncio.timeout(10):
        while True:
            async with run.ctx.database.sessions() as session:
                found = await session.scalar(select(Call.id).where(Call.channel_id == channel.id))
            if found:
                return str(found)
            await asyncio.sleep(0.01)


async def test_a_caller_who_hangs_up_on_hold_is_abandoned_while_waiting(sqlite_url: str) -> None:
    async with running_service(screen_settings(sqlite_url)) as run:
        with run.ctx.presence.watching():
            behaviour = CallerBehaviour(speak_seconds=2, hang_up_on_hold_after=3)
            channel = run.pbx.place_call("anonymous", "Anonymous", behaviour=behaviour)
            await run.finished(channel)
            call = await run.call_record(channel)
    assert channel.result == "caller-hung-up"
    assert [h for h in channel.heard if h.startswith("moh:")] == ["moh:default"]
    assert (call.outcome, call.outcome_step, call.verdict) == ("abandoned", "waiting", "screen")
    assert call.recording == f"screener-{call.id}"
    kinds = [e.kind for e in call.events]
    assert kinds.index("name_recorded") < kinds.index("waiting") < kinds.index("outcome")
    assert "screened" not in kinds


async def test_asterisk_going_down_while_callers_wait_fails_open_and_is_recorded(
    sqlite_url: str,
) -> None:
    pbx = FakeAsterisk(password=PASSWORD, time_scale=0.02)
    await pbx.start()
    try:
        async with running_service(screen_settings(sqlite_url), pbx=pbx) as run:
            with run.ctx.presence.watching():
                channels = [pbx.place_call("anonymous", f"Caller {n}") for n in range(3)]
                for channel in channels:
                    await on_hold(run, channel)
                await pbx.stop()  # Asterisk goes away: socket and REST
                calls = [await run.call_record(channel) for channel in channels]
                await pbx.start()  # back, on the same port: the channels are still there
                await run.wait_connected(connects=2)
                await run.wait_idle()
    finally:
        await pbx.stop()
    for call in calls:
        assert call.outcome == "fail-open", call.outcome
        kinds = [e.kind for e in call.events]
        assert "fail_open" in kinds and "waiting" in kinds
        detail = next(e.detail for e in call.events if e.kind == "fail_open")
        assert detail["detail"] == "ARI connection lost while waiting for reception"


async def test_shutdown_sends_waiting_callers_back_to_the_dialplan(sqlite_url: str) -> None:
    async with running_service(screen_settings(sqlite_url)) as run:
        with run.ctx.presence.watching():
            channel = run.pbx.place_call("anonymous", "Anonymous")
            await on_hold(run, channel)
            assert run.ctx.ari is not None
            await run.ctx.ari.app.shutdown()
            await run.finished(channel)
            call = await run.call_record(channel)
    assert channel.result == "continued" and channel.continued_to == ("internal", "100", 1)
    assert channel.moh is None  # stopped before the hand-back
    assert (call.outcome, call.outcome_step, call.outcome_detail) == (
        "fail-open",
        "waiting",
        "service shutting down",
    )


async def test_the_board_closing_applies_the_default_to_callers_on_hold(sqlite_url: str) -> None:
    async with running_service(
        screen_settings(sqlite_url, screen={"watch_grace_seconds": 0})
    ) as run:
        board = run.ctx.presence.watching()
        board.__enter__()
        channel = run.pbx.place_call("anonymous", "Anonymous")
        await on_hold(run, channel)
        board.__exit__(None, None, None)  # the last console closes
        await run.finished(channel)
        call = await run.call_record(channel)
        async with run.ctx.database.sessions() as session:
            row = await session.get(Screening, call.id)
    assert channel.continued_to == ("internal", "100", 1)
    assert (call.outcome, call.verdict, call.outcome_step) == (
        "connected",
        "screened-unwatched",
        "waiting",
    )
    assert row is not None and (row.decision, row.decided_by) == ("unwatched", "screener")
    assert channel.caller_name == "[screened] Anonymous"


@pytest.mark.postgres
async def test_a_decision_on_another_process_reaches_the_call_there(pg_url: str) -> None:
    """Two Screener processes on one PostgreSQL: the call waits on the first, whose own
    console is closed; the board is open on the second (the feed says so), and the
    decision is taken there."""
    pbx = FakeAsterisk(password=PASSWORD, time_scale=0.02)
    await pbx.start()
    try:
        async with AsyncExitStack() as stack:
            holding, other = [
                await stack.enter_async_context(
                    running_service(
                        lambda url, app=app: fast_settings(
                            pg_url,
                            url,
                            ari={"app": app},
                            screen={"decision_timeout_seconds": 30},
                            **SCREEN,
                        ),
                        pbx=pbx,
                    )
                )
                for app in ("screener-1", "screener-2")
            ]
            assert holding.ctx.feed is not None and other.ctx.feed is not None
            async with asyncio.timeout(10):
                while not (holding.ctx.feed.connected and other.ctx.feed.connected):
                    await asyncio.sleep(0.02)
            with other.ctx.presence.watching():
                async with asyncio.timeout(5):  # the first hears the second's open board
                    while not holding.ctx.presence.watched():
                        await asyncio.sleep(0.02)
                seen = other.ctx.bus.subscribe(kinds=[CallChangedElsewhere])
                channel = pbx.place_call("anonymous", "Anonymous", apps=("screener-1",))
                await on_hold(holding, channel)
                call_id = await call_id_of(holding, channel)
                uow = UnitOfWork(other.ctx.database, Actor("alice", Via.WEB), other.ctx.bus)
                decided = await screen_decisions.decide_waiting_call(
                    uow, NumberAnalyser("GB"), call_id, "voicemail"
                )
                await holding.finished(channel)
                call = await holding.call_record(channel)
                changes = []
                while not seen.queue.empty():
                    event = seen.queue.get_nowait()
                    assert isinstance(event, CallChangedElsewhere)
                    changes.append(event.change)
                # The second process's board heard the call go on hold.
                assert CallWaiting.kind in changes
    finally:
        await pbx.stop()
    assert decided.decided.decided_by == "alice"
    assert channel.continued_to == ("screened", "voicemail", 1)
    assert (call.outcome, call.verdict) == ("voicemail", "screened-voicemail")
