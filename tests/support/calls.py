"""Recording calls the way the service does (the call store and its events), for the console
tests."""

from __future__ import annotations

from datetime import UTC, datetime

from screener.calls import store
from screener.calls.facts import call_facts
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.db.models import Call
from screener.domain.events import CallDecided, CallFinished, CallStarted
from screener.domain.model import CallEnding
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import (
    Action,
    CallSource,
    ChallengeResult,
    ListKind,
    Outcome,
    Step,
    Verdict,
)
from screener.events import EventBus
from screener.lists import repo as lists_repo


async def record_call(
    database: Database,
    screening: ScreeningService,
    number: str,
    name: str = "",
    *,
    presentation: str | None = None,
    trunk: str | None = None,
    bus: EventBus | None = None,
    outcome: str | None = None,
    challenge: ChallengeResult | None = None,
    recording: str | None = None,
    source: CallSource = CallSource.ARI,
) -> str:
    """Decide and record a call; with ``outcome``, record how it ended too."""
    facts = call_facts(
        caller_number=number,
        caller_name=name,
        presentation=presentation,
        did="+442079460000",
        channel_name=None,
        trunk=trunk,
    )
    screening_result = await screening.decide(facts)
    decision = screening_result.decision
    call_id = store.new_call_id()
    now = datetime.now(UTC)
    started = CallStarted(call_id, "main", source, None, facts, decision.number.e164, now)
    decided = CallDecided(call_id, "main", decision, screening_result.elapsed_ms, now)
    async with database.sessions.begin() as session:
        store.add_call(session, started, decided)
    if bus is not None:
        bus.publish(started)
        bus.publish(decided)
    if outcome is not None:
        await finish_call(database, call_id, outcome, challenge, recording=recording, bus=bus)
    return call_id


async def finish_call(
    database: Database,
    call_id: str,
    outcome: str,
    challenge: ChallengeResult | None = None,
    *,
    recording: str | None = None,
    bus: EventBus | None = None,
) -> None:
    """Record how a call ended, as the call path does when it leaves Screener's hands."""
    async with database.sessions.begin() as session:
        call = await session.get(Call, call_id)
        assert call is not None and call.action is not None
        action = Action(call.action)
        ending = CallEnding(
            Outcome(outcome),
            Step.CHALLENGE if action is Action.CHALLENGE else Step.DECISION,
            verdict=Verdict.of(action, challenge),
            challenge_result=challenge,
            recording=recording,
        )
        finished = CallFinished(call_id, call.site, ending, datetime.now(UTC))
        assert await store.finish_call(session, finished)
    if bus is not None:
        bus.publish(finished)


async def make_list(database: Database, name: str, kind: ListKind, *numbers: str) -> int:
    analyser = NumberAnalyser("GB")
    async with database.sessions.begin() as session:
        created = await lists_repo.create_list(session, name, kind)
        for number in numbers:
            await lists_repo.add_entry(
                session, analyser, created, lists_repo.EntryInput(value=number), "test"
            )
        return created.id
