"""The screening service against a real database: lists, expiry, history, records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from screener.db import calls_repo, lists_repo
from screener.db.lifecycle import Database
from screener.domain import Action, CallFacts, ListKind
from screener.numbers import NumberAnalyser
from screener.screening import ScreeningService, build_policy, load_policy_overrides
from screener.settings import Settings

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
    service = ScreeningService(settings, database.sessions)
    for presented in ("+442071234567", "sip:02071234567@carrier", "0044 20 7123 4567"):
        decision = await service.decide(CallFacts(presented))
        assert decision.verdict.action is Action.BLOCK, presented
        assert decision.verdict.matches[0].list_name == "scams"


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
    service = ScreeningService(settings, database.sessions)
    expired = await service.decide(CallFacts("07911000001"))
    future = await service.decide(CallFacts("07911000002"))
    current = await service.decide(CallFacts("07911000003"))
    assert expired.verdict.matches == () and future.verdict.matches == ()
    assert [m.list_name for m in current.verdict.matches] == ["tps"]
    later = await service.decide(CallFacts("07911000002"), now=now + timedelta(days=29))
    assert [m.list_name for m in later.verdict.matches] == ["tps"]


async def test_repeat_dialler_and_challenge_history(database: Database, settings: Settings) -> None:
    settings.policy.repeat_calls = 3
    service = ScreeningService(settings, database.sessions)
    facts = CallFacts("07911 123456")
    for _ in range(3):
        decision = await service.decide(facts)
        assert decision.verdict.action is Action.ALLOW
        async with database.sessions.begin() as session:
            await calls_repo.record_call(session, facts, decision.verdict)
    fourth = await service.decide(facts)
    assert fourth.verdict.action is Action.CHALLENGE
    assert "repeat_caller" in fourth.verdict.reason_codes

    async with database.sessions.begin() as session:
        call = await calls_repo.record_call(session, facts, fourth.verdict)
        await calls_repo.finish_call(
            session,
            call.id,
            outcome="hung-up",
            verdict="challenge-failed",
            challenge_result="failed",
        )
    blocked = await service.decide(facts)
    assert blocked.verdict.action is Action.BLOCK
    assert "recent_challenge_failed" in blocked.verdict.reason_codes


async def test_call_record_and_timeline(database: Database, settings: Settings) -> None:
    service = ScreeningService(settings, database.sessions)
    hostile = "<img src=x onerror=alert(1)>\x00" + "A" * 1000
    facts = CallFacts("anonymous", hostile, "prohib", "441234", "trunk")
    decision = await service.decide(facts)
    async with database.sessions.begin() as session:
        call = await calls_repo.record_call(session, facts, decision.verdict, decision_ms=1.5)
        await calls_repo.add_event(session, call.id, "answered")
        await calls_repo.finish_call(session, call.id, outcome="abandoned", step="prompt")
        # A second outcome for the same call is ignored.
        await calls_repo.finish_call(session, call.id, outcome="continued")
    async with database.sessions() as session:
        stored = await calls_repo.get_call(session, call.id)
        flagged = await calls_repo.list_calls(session, flagged=True)
        by_reason = await calls_repo.list_calls(session, reason="withheld")
    assert stored is not None
    assert stored.caller_name.startswith("<img src=x")
    assert "\x00" not in stored.caller_name and len(stored.caller_name) == 256
    assert stored.withheld and stored.verdict == "challenge" and stored.flagged
    assert stored.outcome == "abandoned" and stored.outcome_step == "prompt"
    assert [e.kind for e in stored.events] == ["decided", "answered", "outcome"]
    assert [c.id for c in flagged] == [call.id] == [c.id for c in by_reason]


async def test_policy_overrides_from_the_database(database: Database, settings: Settings) -> None:
    from screener.db.models import PolicySetting

    async with database.sessions.begin() as session:
        session.add(
            PolicySetting(
                key="withheld", value="block", updated_at=lists_repo.utcnow(), updated_by="a"
            )
        )
    service = ScreeningService(settings, database.sessions)
    assert (await service.decide(CallFacts("anonymous"))).verdict.action is Action.CHALLENGE
    await service.reload_policy()
    assert (await service.decide(CallFacts("anonymous"))).verdict.action is Action.BLOCK
    async with database.sessions() as session:
        assert await load_policy_overrides(session) == {"withheld": "block"}


def test_own_numbers_are_normalised(settings: Settings) -> None:
    settings.office.own_numbers = ["0113 123 4567", "+44 113 123 4568"]
    policy = build_policy(settings)
    assert policy.own_numbers == {"+441131234567", "+441131234568"}
    settings.office.own_numbers = ["not a number"]
    with pytest.raises(ValueError, match=r"office\.own_numbers"):
        build_policy(settings)
