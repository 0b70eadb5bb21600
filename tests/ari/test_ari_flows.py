"""Every call flow end to end: the real service, a real SQLite file, the fake Asterisk
playing prompts and simulated callers reacting to them (time runs 50x faster)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from screener import composition
from screener.composition import Screener
from screener.demo.fake_asterisk import CallerBehaviour, FakeAsterisk
from screener.domain.events import AriConnected, CallDecided, CallFinished, CallStarted
from screener.domain.vocabulary import ListKind
from tests.ari.harness import PASSWORD, add_list, fast_settings, running_service

CONTACT = "+442071838750"
NUISANCE = "+447911123456"


async def seed(session: Any) -> None:
    await add_list(session, "contacts", ListKind.CONTACTS, CONTACT)
    await add_list(session, "nuisance", ListKind.NUISANCE, NUISANCE)


def settings(db_url: str, **overrides: Any) -> Any:
    return lambda url: fast_settings(db_url, url, **overrides)


async def test_allowed_call_rings_through_with_variables_and_events(sqlite_url: str) -> None:
    async with running_service(settings(sqlite_url), seed=seed) as run:
        channel = run.pbx.place_call(CONTACT, "ACME LTD")
        await run.finished(channel)
        call = await run.call_record(channel)
    assert channel.result == "continued"
    assert channel.continued_to == ("internal", "100", 1)
    assert channel.state == "Ring"  # never answered
    assert channel.variables["SCREENER_VERDICT"] == "allow"
    assert channel.variables["SCREENER_REASONS"] == "allow_list"
    assert channel.variables["SCREENER_CALL_ID"] == call.id
    assert (call.outcome, call.verdict, call.trunk, call.did) == (
        "connected",
        "allow",
        "trunk",
        "441234",
    )
    kinds = []
    while not run.events.queue.empty():
        kinds.append(type(await run.events.get()))
    assert AriConnected in kinds
    assert kinds.index(CallStarted) < kinds.index(CallDecided) < kinds.index(CallFinished)


async def test_challenge_passed_keeps_the_recorded_name(sqlite_url: str) -> None:
    async with running_service(settings(sqlite_url), digits="4") as run:
        channel = run.pbx.place_call(
            "anonymous", "Anonymous", behaviour=CallerBehaviour(presses=("correct",))
        )
        await run.finished(channel)
        call = await run.call_record(channel)
    assert channel.pressed == ["4"]
    assert "sound:digits/4" in channel.heard
    assert channel.result == "continued"
    assert channel.variables["SCREENER_VERDICT"] == "challenge-passed"
    assert call.recording == channel.recording == f"screener-{call.id}"
    assert (call.verdict, call.challenge_result, call.challenge_digit) == (
        "challenge-passed",
        "passed",
        "4",
    )
    kinds = [e.kind for e in call.events]
    assert kinds[:2] == ["decided", "answered"]
    assert kinds.index("digit_correct") < kinds.index("name_recorded") < kinds.index("outcome")
    # Then only what the dialplan did with it (followed after the hand-back).
    assert set(kinds[kinds.index("outcome") + 1 :]) <= {"ringing", "delivery"}


async def test_wrong_digits_fail_and_the_next_call_is_blocked(sqlite_url: str) -> None:
    async with running_service(settings(sqlite_url), digits="2") as run:
        first = run.pbx.place_call(
            "+441632960961",
            "",
            presentation="prohib_not_screened",
            behaviour=CallerBehaviour(presses=("wrong", "wrong", "wrong")),
        )
        await run.finished(first)
        failed = await run.call_record(first)
        again = run.pbx.place_call("+441632960961", "")
        await run.finished(again)
        blocked = await run.call_record(again)
    assert first.pressed == ["3", "3", "3"]
    assert first.result == "hung-up" and first.hangup_reason == "normal"
    assert "sound:vm-goodbye" in first.heard
    assert (failed.challenge_result, failed.challenge_attempts) == ("failed", 3)
    # The policy's recent-failure rule sees the stored "failed" result.
    assert blocked.action == "block"
    assert "recent_challenge_failed" in [r["code"] for r in blocked.reasons]


async def test_silent_caller_times_out(sqlite_url: str) -> None:
    overrides = {"challenge": {"attempts": 2, "digit_timeout_seconds": 0.1}}
    async with running_service(settings(sqlite_url, **overrides)) as run:
        channel = run.pbx.place_call("anonymous", "Anonymous")
        await run.finished(channel)
        call = await run.call_record(channel)
    assert channel.result == "hung-up"
    assert [e.kind for e in call.events].count("digit_timeout") == 2
    assert call.outcome == "challenge-failed"


async def test_block_hangs_up_unanswered(sqlite_url: str) -> None:
    async with running_service(settings(sqlite_url), seed=seed) as run:
        channel = run.pbx.place_call(NUISANCE, "PRIZE DRAW")
        await run.finished(channel)
        call = await run.call_record(channel)
    assert (channel.result, channel.hangup_reason, channel.state) == ("hung-up", "busy", "Ring")
    assert (call.outcome, call.verdict) == ("blocked", "block")


async def test_block_announce_answers_plays_and_hangs_up(sqlite_url: str) -> None:
    overrides = {"block": {"mode": "announce", "announcement_prompts": ["sound:ss-noservice"]}}
    async with running_service(settings(sqlite_url, **overrides), seed=seed) as run:
        channel = run.pbx.place_call(NUISANCE)
        await run.finished(channel)
        call = await run.call_record(channel)
    assert channel.heard == ["sound:ss-noservice"]
    assert (channel.result, channel.state) == ("hung-up", "Up")
    assert (call.outcome, call.outcome_step) == ("blocked", "announcement")


@pytest.mark.parametrize(
    ("hang_up_at", "number", "step"),
    [
        ("ringing", "anonymous", "deciding"),
        ("prompt", "anonymous", "prompt"),
        ("waiting", "anonymous", "waiting_digit"),
        ("recording", "anonymous", "recording"),
        ("announcement", NUISANCE, "announcement"),
    ],
)
async def test_caller_hangs_up_at_each_step(
    sqlite_url: str, hang_up_at: str, number: str, step: str
) -> None:
    presses = ("correct",) if hang_up_at == "recording" else ()
    overrides = {
        "block": {"mode": "announce"},
        "challenge": {"digit_timeout_seconds": 5, "record_prompts": []},
    }
    async with running_service(settings(sqlite_url, **overrides), seed=seed) as run:
        channel = run.pbx.place_call(
            number, behaviour=CallerBehaviour(hang_up_at=hang_up_at, presses=presses)
        )
        await run.finished(channel)
        await run.wait_idle()
        call = await run.call_record(channel)
        requests_after_end = [
            r for r in run.pbx.requests if r.status == 404 and channel.id in r.path
        ]
    assert channel.result == "caller-hung-up"
    assert call.outcome == "abandoned"
    if hang_up_at != "ringing":  # hanging up during the decision may land in either step
        assert call.outcome_step == step
    # Screener does not keep poking a channel after the caller left (at most the one
    # request that was already in flight).
    assert len(requests_after_end) <= 1


async def test_password_with_url_special_characters_and_wrong_password(sqlite_url: str) -> None:
    async with running_service(settings(sqlite_url)) as run:
        await run.wait_client_connected()
        assert PASSWORD not in run.ari.url
    pbx = FakeAsterisk(password="right", time_scale=0.02)
    await pbx.start()
    try:
        stop = asyncio.Event()
        started: list[Screener] = []
        task = asyncio.create_task(
            composition.run(
                fast_settings(sqlite_url, pbx.url),  # PASSWORD, not "right"
                stop_event=stop,
                started=started.append,
                install_signal_handlers=False,
            )
        )
        async with asyncio.timeout(10):
            while not started or started[0].health.ari.last_error is None:  # type: ignore[union-attr]
                await asyncio.sleep(0.02)
        state = started[0].health.ari
        assert state is not None and not state.connected
        assert state.last_error is not None
        assert "401" in state.last_error or "refused" in state.last_error
        assert pbx.websocket_connects == 0
        stop.set()
        await task
    finally:
        await pbx.stop()


def flow_requests(pbx: FakeAsterisk, channel_id: str) -> list[str]:
    return [
        f"{r.method} {r.path.split(channel_id)[-1] or '/'}"
        for r in pbx.requests
        if channel_id in r.path
    ]


async def test_an_allowed_call_costs_asterisk_two_requests(sqlite_url: str) -> None:
    async with running_service(settings(sqlite_url), seed=seed) as run:
        channel = run.pbx.place_call(CONTACT, "ACME LTD")
        await run.finished(channel)
        await run.call_record(channel)
    # The presentation came with the call (pres=...); the variables go in one request.
    assert flow_requests(run.pbx, channel.id) == ["POST /variables", "POST /continue"]
    assert channel.variables["SCREENER_VERDICT"] == "allow"


async def test_an_older_asterisk_and_dialplan_still_work(sqlite_url: str) -> None:
    pbx = FakeAsterisk(password=PASSWORD, time_scale=0.02, multi_variables=False)
    await pbx.start()
    try:
        async with running_service(settings(sqlite_url), pbx=pbx, seed=seed) as run:
            first = pbx.place_call(CONTACT, "ACME", pass_presentation=False)
            await run.finished(first)
            second = pbx.place_call(NUISANCE, pass_presentation=False, presentation="prohib")
            await run.finished(second)
            call = await run.call_record(second)
    finally:
        await pbx.stop()
    # No multi-variable set: found out once, then one request per variable.
    assert flow_requests(pbx, first.id) == [
        "GET /variable",
        "POST /variables",
        "POST /variable",
        "POST /variable",
        "POST /variable",
        "POST /continue",
    ]
    assert first.variables["SCREENER_VERDICT"] == "allow" and first.result == "continued"
    assert call.presentation == "prohib"  # read from CALLERID(pres)
    assert flow_requests(pbx, second.id) == ["GET /variable", "DELETE /"]
