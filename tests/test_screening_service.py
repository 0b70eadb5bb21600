"""The screening service against a real database: lists, expiry, history, records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from screener.calls import store
from screener.calls.lookup import SessionCallReader, call_reader
from screener.calls.queries import CallFilter, find_calls, get_call
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.domain.events import CallFinished
from screener.domain.model import CallEnding, CallFacts
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import (
    Action,
    ChallengeResult,
    ListKind,
    Outcome,
    ReasonCode,
    Step,
    TimelineKind,
    Verdict,
)
from screener.lists import repo as lists_repo
from screener.policy.store import build_policy, load_overrides
from screener.settings import Settings
from tests.support.calls import finish_call, record_call

GB = NumberAnalyser("GB")


async def add(db: Database, name: str, kind: ListKind, *entries: lists_repo.EntryInput) -> None:
    async with db.sessions.begin() as session:
        found = await lists_repo.get_list(session, name) or await lists_repo.create_list(
            session, name, kind
        )
        for entry in entries:
            await lists_repo.add_entry(session, GB, found, entry, "test")


async def test_number_in_any_format_matches_however_presented(
    database: Database, settings: Settings
) -> None:
    await add(database, "scams", ListKind.NUISANCE, lists_repo.EntryInput("(020) 7123-4567"))
    service = ScreeningService(settings, call_reader(database.url, database.sessions))
    for presented in ("+442071234567", "sip:02071234567@carrier", "0044 20 7123 4567"):
        decision = await service.decide(CallFacts(presented))
        assert decision.decision.action is Action.BLOCK, presented
        assert decision.decision.matches[0].list_name == "scams"


async def test_expired_and_future_entries_do_not_match(
    database: Database, settings: Settings
) -> None:
    now = lists_repo.utcnow()
    await add(
        database,
        "tps",
        ListKind.REGISTRY,
        lists_repo.EntryInput("07911 000001", expires_at=now - timedelta(days=1)),
        lists_repo.EntryInput("07911 000002", valid_from=now + timedelta(days=28)),
        lists_repo.EntryInput("07911 000003", valid_from=now - timedelta(days=1)),
    )
    service = ScreeningService(settings, call_reader(database.url, database.sessions))
    expired = await service.decide(CallFacts("07911000001"))
    future = await service.decide(CallFacts("07911000002"))
    current = await service.decide(CallFacts("07911000003"))
    assert expired.decision.matches == () and future.decision.matches == ()
    assert [m.list_name for m in current.decision.matches] == ["tps"]
    later = await service.decide(CallFacts("07911000002"), now=now + timedelta(days=29))
    assert [m.list_name for m in later.decision.matches] == ["tps"]


async def test_repeat_dialler_and_challenge_history(database: Database, settings: Settings) -> None:
    settings.policy.repeat_calls = 3
    service = ScreeningService(settings, call_reader(database.url, database.sessions))
    for _ in range(3):
        assert (await service.decide(CallFacts("07911 123456"))).decision.action is Action.ALLOW
        await record_call(database, service, "07911 123456")
    fourth = await service.decide(CallFacts("07911 123456"))
    assert fourth.decision.action is Action.CHALLENGE
    assert "repeat_caller" in fourth.decision.reason_codes

    call_id = await record_call(database, service, "07911 123456")
    await finish_call(database, call_id, "challenge-failed", ChallengeResult.FAILED)
    blocked = await service.decide(CallFacts("07911 123456"))
    assert blocked.decision.action is Action.BLOCK
    assert "recent_challenge_failed" in blocked.decision.reason_codes


async def test_call_record_and_timeline(database: Database, settings: Settings) -> None:
    service = ScreeningService(settings, call_reader(database.url, database.sessions))
    hostile = "<img src=x onerror=alert(1)>\x00" + "A" * 1000
    call_id = await record_call(database, service, "anonymous", hostile, presentation="prohib")
    now = datetime.now(UTC)
    first = CallFinished(
        call_id, "main", CallEnding(Outcome.ABANDONED, Step.PROMPT, Verdict.CHALLENGE), now
    )
    second = CallFinished(call_id, "main", CallEnding(Outcome.CONNECTED, Step.CHALLENGE), now)
    async with database.sessions.begin() as session:
        store.add_step(session, call_id, TimelineKind.ANSWERED, now)
        assert await store.finish_call(session, first)
        # A second outcome for the same call is ignored.
        assert not await store.finish_call(session, second)
    async with database.sessions() as session:
        stored = await get_call(session, call_id)
        flagged, _ = await find_calls(session, CallFilter(flagged=True))
        by_reason, _ = await find_calls(session, CallFilter(reason=ReasonCode.WITHHELD))
    assert stored is not None
    assert stored.caller_name.startswith("<img src=x")
    assert "\x00" not in stored.caller_name and len(stored.caller_name) == 256
    assert stored.withheld and stored.flagged
    assert (stored.action, stored.verdict) == ("challenge", "challenge")
    assert stored.outcome == "abandoned" and stored.outcome_step == "prompt"
    assert [e.kind for e in stored.events] == ["decided", "answered", "outcome"]
    assert [c.id for c in flagged] == [call_id] == [c.id for c in by_reason]


async def test_policy_overrides_from_the_database(database: Database, settings: Settings) -> None:
    from screener.db.models import PolicySetting

    async with database.sessions.begin() as session:
        session.add(
            PolicySetting(
                key="withheld", value="block", updated_at=lists_repo.utcnow(), updated_by="a"
            )
        )
    service = ScreeningService(settings, call_reader(database.url, database.sessions))
    assert (await service.decide(CallFacts("anonymous"))).decision.action is Action.CHALLENGE
    await service.reload_policy(database.sessions)
    assert (await service.decide(CallFacts("anonymous"))).decision.action is Action.BLOCK
    async with database.sessions() as session:
        assert await load_overrides(session) == {"withheld": "block"}


async def test_the_session_reader_and_the_fast_reader_agree(
    database: Database, settings: Settings
) -> None:
    await add(database, "scams", ListKind.NUISANCE, lists_repo.EntryInput("0161 496*"))
    await add(database, "partners", ListKind.CONTACTS, lists_repo.EntryInput("0161 4960123"))
    fast = ScreeningService(settings, call_reader(database.url, database.sessions))
    slow = ScreeningService(settings, SessionCallReader(database.sessions))
    # History too: recent calls and a failed challenge, for a number on two lists and not.
    for number in ("+441614960123", "+442071234567"):
        for _ in range(2):
            await record_call(database, fast, number)
        call_id = await record_call(database, fast, number)
        await finish_call(database, call_id, "challenge-failed", ChallengeResult.FAILED)
    for number in ("+441614960123", "+441614960999", "+442071234567", "+447700900123"):
        a, b = await fast.decide(CallFacts(number)), await slow.decide(CallFacts(number))
        assert a.decision == b.decision and a.history == b.history, number
    both = await fast.decide(CallFacts("+441614960123"))
    assert [m.list_name for m in both.decision.matches] == ["partners", "scams"]
    assert both.history.recent_calls == 3
    assert both.history.last_challenge_result is ChallengeResult.FAILED
    await fast.close()


def test_own_numbers_are_normalised(settings: Settings) -> None:
    settings.office.own_numbers = ["0113 123 4567", "+44 113 123 4568"]
    policy = build_policy(settings)
    assert policy.own_numbers == {"+441131234567", "+441131234568"}
    settings.office.own_numbers = ["not a number"]
    with pytest.raises(ValueError, match=r"office\.own_numbers"):
        build_policy(settings)
