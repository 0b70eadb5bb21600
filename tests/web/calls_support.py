"""Recording calls the way the service does, for the console tests."""

from __future__ import annotations

from screener.call_payloads import outcome_payload, started_payload, verdict_payload
from screener.db import calls_repo, lists_repo
from screener.db.lifecycle import Database
from screener.domain import CallFacts, ListKind
from screener.events import CALL_OUTCOME, CALL_STARTED, CALL_VERDICT, EventBus
from screener.screening import ScreeningService


async def record_call(
    database: Database,
    screening: ScreeningService,
    number: str,
    name: str = "",
    *,
    trunk: str | None = None,
    bus: EventBus | None = None,
    outcome: str | None = None,
    recording: str | None = None,
) -> str:
    facts = CallFacts(caller_number=number, caller_name=name, did="+442079460000", trunk=trunk)
    async with database.sessions.begin() as session:
        decision = await screening.decide(facts, session)
        call = await calls_repo.record_call(
            session, facts, decision.verdict, decision_ms=decision.elapsed_ms
        )
        started, verdict = started_payload(call), verdict_payload(call)
        call_id = call.id
    if bus is not None:
        bus.publish(CALL_STARTED, started, call_id)
        bus.publish(CALL_VERDICT, verdict, call_id)
    if outcome is not None:
        async with database.sessions.begin() as session:
            done = await calls_repo.finish_call(
                session, call_id, outcome=outcome, recording=recording
            )
            assert done is not None
            payload = outcome_payload(done)
        if bus is not None:
            bus.publish(CALL_OUTCOME, payload, call_id)
    return call_id


async def make_list(database: Database, name: str, kind: ListKind, *numbers: str) -> int:
    from screener.numbers import NumberAnalyser

    analyser = NumberAnalyser("GB")
    async with database.sessions.begin() as session:
        created = await lists_repo.create_list(session, name, kind)
        for number in numbers:
            await lists_repo.add_entry(
                session, analyser, created, lists_repo.EntryInput(value=number), "test"
            )
        return created.id
