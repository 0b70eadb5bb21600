"""Failures around a call: dropped sockets, Asterisk restarts, lost channels, database
outages, errors from Asterisk and from our own code, the call limit, and shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from screener.calls import machine, store
from screener.calls.screening import ScreeningService
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk, FakeChannel
from screener.domain.events import AriConnected, AriDisconnected, CallDecided, CallStarted
from screener.domain.model import CallFacts
from screener.domain.vocabulary import CallSource
from screener.settings import Settings
from tests.ari.harness import PASSWORD, Running, fast_settings, running_service

WAITING = CallerBehaviour(presses=())  # listens to the prompt and waits


def slow_digits(db_url: str, **more: Any) -> Any:
    """Settings where a caller can sit in the challenge for a long time."""
    overrides = {"challenge": {"digit_timeout_seconds": 60, "record_name": False}, **more}
    return lambda url: fast_settings(db_url, url, **overrides)


async def in_challenge(run: Running, channel: FakeChannel) -> None:
    """Wait until the caller has heard the digit prompt."""
    async with asyncio.timeout(10):
        while channel.prompts_heard == 0 or channel.playback is not None:
            await asyncio.sleep(0.01)


def bus_kinds(run: Running) -> list[type]:
    kinds: list[type] = []
    while not run.events.queue.empty():
        kinds.append(type(run.events.queue.get_nowait()))
    return kinds


async def test_dropped_socket_mid_call_reconnects_and_the_call_carries_on(
    sqlite_url: str,
) -> None:
    async with running_service(slow_digits(sqlite_url), digits="5") as run:
        channel = run.pbx.place_call("anonymous", "Anonymous", behaviour=WAITING)
        await in_challenge(run, channel)
        await run.pbx.drop_websockets()
        await run.wait_connected(connects=2)
        await run.pbx.press(channel, "5")
        await run.finished(channel)
        call = await run.call_record(channel)
        await run.wait_client_connected()
        assert run.ari.reconnects == 1
        kinds = bus_kinds(run)
    assert channel.result == "continued"
    assert call.verdict == "challenge-passed"
    assert kinds.count(AriConnected) == 2 and kinds.count(AriDisconnected) == 1


async def test_asterisk_restart_is_survived(sqlite_url: str) -> None:
    async with running_service(slow_digits(sqlite_url)) as run:
        await run.pbx.restart(down_seconds=0.4)
        await run.wait_connected(connects=2)
        channel = run.pbx.place_call("+442071838750", "ACME")
        await run.finished(channel)
        call = await run.call_record(channel)
        assert run.ari.reconnects >= 1
    assert channel.result == "continued" and call.outcome is not None


async def test_reconnect_sends_unknown_channels_back_and_records_it(sqlite_url: str) -> None:
    async def leftover_call(session: Any) -> None:
        # A call a previous screener process was handling when it crashed.
        service = ScreeningService.in_session(Settings(), session)
        screening = await service.decide(CallFacts("anonymous"))
        now = datetime.now(UTC)
        facts = CallFacts("anonymous")
        started = CallStarted("c" * 32, "main", CallSource.ARI, "1700000000.42", facts, None, now)
        store.add_call(session, started, CallDecided("c" * 32, "main", screening.decision, 1, now))

    async with running_service(slow_digits(sqlite_url), seed=leftover_call) as run:
        leftover = run.pbx.place_call("anonymous", channel_id="1700000000.42", announce=False)
        lost = run.pbx.place_call("+442071838750", announce=False)  # StasisStart lost
        await run.pbx.drop_websockets()
        await run.wait_connected(connects=2)
        await run.finished(leftover)
        await run.finished(lost)
        call = await run.call_record(leftover)
        assert run.ctx.calls is not None and run.ctx.calls.stats.reconciled == 2
    assert leftover.result == lost.result == "continued"
    assert leftover.continued_to == ("internal", "100", 1)
    assert (call.outcome, call.outcome_step) == ("fail-open", "reconcile")
    assert "reconciled" in [e.kind for e in call.events]


async def test_call_that_ended_while_disconnected_is_closed_after_reconnect(
    sqlite_url: str,
) -> None:
    async with running_service(slow_digits(sqlite_url)) as run:
        channel = run.pbx.place_call("anonymous", behaviour=WAITING)
        await in_challenge(run, channel)
        run.pbx.accepting_websockets = False
        await run.pbx.drop_websockets()
        await run.pbx.caller_hangs_up(channel)  # its events are lost
        run.pbx.accepting_websockets = True
        await run.wait_connected(connects=2)
        call = await run.call_record(channel)
        await run.wait_idle()
    assert (call.outcome, call.outcome_step) == ("abandoned", "waiting_digit")


async def test_sqlite_outage_mid_call_fails_open_and_service_recovers(
    sqlite_url: str, tmp_path: Path
) -> None:
    db_file = tmp_path / "screener.db"
    async with running_service(slow_digits(sqlite_url), digits="3") as run:
        in_progress = run.pbx.place_call("anonymous", behaviour=WAITING)
        await in_challenge(run, in_progress)
        # The database file is swapped for one that is not a database (atomically, so
        # the path never disappears).
        await run.ctx.database.engine.dispose()
        os.link(db_file, tmp_path / "kept.db")
        (tmp_path / "garbage").write_bytes(b"this is not an SQLite database " * 200)
        os.replace(tmp_path / "garbage", db_file)
        await run.pbx.press(in_progress, "3")
        await run.finished(in_progress)
        during = run.pbx.place_call("+442071838750", "ACME")
        await run.finished(during)
        await run.wait_idle()
        recorder = run.ctx.recorder
        async with asyncio.timeout(10):  # the writer tried (and failed) to record the calls
            while recorder.pending or recorder.stats.failed == 0:
                await asyncio.sleep(0.02)
        recorder_failures = recorder.stats.failed
        # The database comes back. Connections opened on the bad file meanwhile are
        # dropped (SQLite has no server to reconnect to); the service itself kept running.
        os.replace(tmp_path / "kept.db", db_file)
        await run.ctx.database.engine.dispose()
        after = run.pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=("correct",)))
        await run.finished(after)
        recorded = await run.call_record(after)
        assert not run.task.done()
    assert in_progress.result == "continued"
    assert in_progress.variables["SCREENER_VERDICT"] == "challenge-passed"
    assert during.result == "continued"  # fail-open: no decision, straight to the dialplan
    assert "SCREENER_VERDICT" not in during.variables
    assert recorder_failures >= 1
    assert recorded.verdict == "challenge-passed"


@pytest.mark.postgres
async def test_postgres_outage_mid_call_fails_open(pg_cluster: Any) -> None:
    url = pg_cluster.create_database()
    name = url.rsplit("/", 1)[1]
    async with running_service(slow_digits(url), digits="3") as run:
        in_progress = run.pbx.place_call("anonymous", behaviour=WAITING)
        await in_challenge(run, in_progress)
        pg_cluster.psql(
            f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; "
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        )
        await run.pbx.press(in_progress, "3")
        await run.finished(in_progress)
        during = run.pbx.place_call("+442071838750", "ACME")
        await run.finished(during)
        await run.wait_idle()
        pg_cluster.psql(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true;")
        after = run.pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=("correct",)))
        await run.finished(after)
        recorded = await run.call_record(after)
        assert not run.task.done()
    assert in_progress.result == "continued"
    assert during.result == "continued" and "SCREENER_VERDICT" not in during.variables
    assert recorded.verdict == "challenge-passed"


async def test_asterisk_error_mid_call_fails_open(sqlite_url: str) -> None:
    async with running_service(slow_digits(sqlite_url)) as run:
        run.pbx.fail_next("POST", r"/play$", 500)
        channel = run.pbx.place_call("anonymous", behaviour=WAITING)
        await run.finished(channel)
        call = await run.call_record(channel)
    assert channel.result == "continued" and channel.state == "Up"
    assert (call.outcome, call.outcome_step) == ("fail-open", "prompt")
    assert call.outcome_detail is not None and "play failed: 500" in call.outcome_detail


async def test_our_own_bug_fails_open_and_the_service_keeps_going(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = machine.step

    def broken_on_digits(state: Any, event: Any) -> Any:
        if isinstance(event, machine.DigitPressed):
            raise RuntimeError("bug")
        return real_step(state, event)

    async with running_service(slow_digits(sqlite_url), digits="1") as run:
        monkeypatch.setattr(machine, "step", broken_on_digits)
        channel = run.pbx.place_call("anonymous", behaviour=CallerBehaviour(presses=("correct",)))
        await run.finished(channel)
        call = await run.call_record(channel)
        monkeypatch.setattr(machine, "step", real_step)
        next_call = run.pbx.place_call("+442071838750")
        await run.finished(next_call)
        assert run.ctx.calls is not None and run.ctx.calls.stats.handler_errors == 1
    assert channel.result == next_call.result == "continued"
    assert (call.outcome, call.outcome_step) == ("fail-open", "error")


async def test_max_call_seconds_sends_a_stuck_call_back(sqlite_url: str) -> None:
    async with running_service(slow_digits(sqlite_url, ari={"max_call_seconds": 0.5})) as run:
        channel = run.pbx.place_call("anonymous", behaviour=WAITING)
        await run.finished(channel)
        call = await run.call_record(channel)
    assert channel.result == "continued"
    assert call.outcome == "fail-open" and "max_call_seconds" in (call.outcome_detail or "")


async def test_shutdown_skips_challenges_and_records_every_call(sqlite_url: str) -> None:
    """While stopping, a call in a challenge and one that arrives meanwhile both go back to
    the dialplan, and both are on record; nothing is sent back unrecorded."""
    async with running_service(slow_digits(sqlite_url)) as run:
        waiting = run.pbx.place_call("anonymous", behaviour=WAITING)
        await in_challenge(run, waiting)
        assert run.ctx.calls is not None
        stopping = asyncio.create_task(run.ctx.calls.shutdown())
        late = run.pbx.place_call("anonymous", behaviour=WAITING)
        await run.finished(late)
        await run.finished(waiting)
        await stopping
        records = [await run.call_record(channel) for channel in (waiting, late)]
        assert run.ctx.calls.stats.calls_started == 2
    assert waiting.result == late.result == "continued"
    assert "SCREENER_VERDICT" not in late.variables  # fail-open: the dialplan's own way
    assert [(c.outcome, c.outcome_detail) for c in records] == [
        ("fail-open", "service shutting down")
    ] * 2
    assert late.prompts_heard == 0  # its challenge never started


async def test_sigterm_sends_calls_in_progress_back(sqlite_url: str, tmp_path: Path) -> None:
    async with FakeAsterisk(password=PASSWORD, time_scale=0.02) as pbx:
        env = {
            **os.environ,
            "SCREENER_CONFIG": str(tmp_path / "none.toml"),
            "SCREENER_DATABASE__URL": sqlite_url,
            "SCREENER_ARI__URL": pbx.url,
            "SCREENER_ARI__PASSWORD": PASSWORD,
            "SCREENER_CHALLENGE__DIGIT_TIMEOUT_SECONDS": "60",
            "SCREENER_WEB__ENABLED": "false",
        }
        (tmp_path / "none.toml").write_text("")
        process = subprocess.Popen(
            [sys.executable, "-m", "screener", "run"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(30):
                while not pbx.app_connected:
                    await asyncio.sleep(0.05)
            calls = [pbx.place_call("anonymous", behaviour=WAITING) for _ in range(3)]
            async with asyncio.timeout(10):
                while any(c.prompts_heard == 0 for c in calls):
                    await asyncio.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            for channel in calls:
                async with asyncio.timeout(15):
                    await channel.done.wait()
            rc = await asyncio.to_thread(process.wait, 20)
        finally:
            if process.poll() is None:
                process.kill()
            output = process.stdout.read().decode() if process.stdout else ""
    assert rc == 0, output
    assert [c.result for c in calls] == ["continued"] * 3
    assert "screener stopped" in output
    assert PASSWORD not in output
