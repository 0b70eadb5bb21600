"""The decision on a waiting call: exactly one wins, on SQLite and on PostgreSQL, however many
receptionists (and Screener's own default) decide at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from screener.application.unit_of_work import UnitOfWork
from screener.calls import screen_store
from screener.calls.lookup import call_reader
from screener.calls.screen_decisions import (
    AlreadyDecided,
    NotWaiting,
    WaitingCallDecided,
    decide_waiting_call,
)
from screener.calls.screening import ScreeningService
from screener.calls.service import CallActionError, NoSuchCall
from screener.db.lifecycle import Database
from screener.db.models import AuditEntry, CallEvent, ListEntry, NumberList, Screening
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.domain.screen_events import CallScreened
from screener.domain.vocabulary import AuditAction, ScreenDecision, TimelineKind, Via
from screener.events import EventBus
from screener.settings import Settings
from tests.support.calls import finish_call, record_call

ANALYSER = NumberAnalyser("GB")
NUMBER = "+447911123456"


@pytest.fixture
async def screening(settings: Settings, database: Database) -> AsyncIterator[ScreeningService]:
    service = ScreeningService(settings, call_reader(database.url, database.sessions))
    yield service
    await service.close()


async def waiting_call(
    database: Database, screening: ScreeningService, on_hold: bool = True
) -> str:
    """A call on the board, as the call desk records it when screening starts."""
    call_id = await record_call(database, screening, NUMBER, "Caller")
    now = datetime.now(UTC)
    async with database.sessions.begin() as session:
        screen_store.offer(session, call_id, "main", now - timedelta(seconds=8))
    if on_hold:
        async with database.sessions.begin() as session:
            await screen_store.put_on_hold(
                session, call_id, "main", now - timedelta(seconds=5), 45, "screener-x"
            )
    return call_id


def uow(database: Database, who: str, bus: EventBus | None = None) -> UnitOfWork:
    return UnitOfWork(database, Actor(who, Via.WEB, "192.0.2.1"), bus)


async def test_of_many_receptionists_deciding_at_once_exactly_one_wins(
    database: Database, screening: ScreeningService
) -> None:
    call_id = await waiting_call(database, screening)
    bus = EventBus()
    published = bus.subscribe(kinds=[CallScreened])
    choices = ["connect", "voicemail", "decline", "block", "connect", "voicemail", "decline"]
    people = [f"desk{n}" for n in range(len(choices))]
    results = await asyncio.gather(
        *(
            decide_waiting_call(uow(database, who, bus), ANALYSER, call_id, choice)
            for who, choice in zip(people, choices, strict=True)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, WaitingCallDecided)]
    lost = [r for r in results if isinstance(r, AlreadyDecided)]
    assert len(won) == 1 and len(lost) == len(choices) - 1, results
    winner = won[0].decided
    # Every loser is told who decided and what.
    assert {(r.decided.decided_by, r.decided.decision) for r in lost} == {
        (winner.decided_by, winner.decision)
    }
    assert winner.decided_by in str(lost[0])
    assert winner.waited_seconds is not None and 4 <= winner.waited_seconds < 60
    async with database.sessions() as session:
        row = await session.get(Screening, call_id)
        assert row is not None
        assert (row.decision, row.decided_by, row.decided_via) == (
            winner.decision.value,
            winner.decided_by,
            "web",
        )
        audits = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == AuditAction.CALL_SCREEN.value)
        )
        steps = await session.scalar(
            select(func.count())
            .select_from(CallEvent)
            .where(CallEvent.call_id == call_id, CallEvent.kind == TimelineKind.SCREENED.value)
        )
        entries = await session.scalar(select(func.count()).select_from(ListEntry))
    assert audits == 1 and steps == 1
    # A block only when the block won.
    assert entries == (1 if winner.decision is ScreenDecision.BLOCK else 0)
    assert published.queue.qsize() == 1
    event = published.queue.get_nowait()
    assert isinstance(event, CallScreened) and event.decided_by == winner.decided_by


async def test_a_receptionist_and_the_default_at_once_give_one_decision(
    database: Database, screening: ScreeningService
) -> None:
    for _ in range(3):
        call_id = await waiting_call(database, screening)
        now = datetime.now(UTC)

        async def default(call_id: str = call_id, now: datetime = now) -> ScreenDecision:
            async with database.sessions.begin() as session:
                decision, _events = await screen_store.claim_default(
                    session, call_id, "main", ScreenDecision.TIMEOUT, now
                )
            return decision

        person, applied = await asyncio.gather(
            decide_waiting_call(uow(database, "alice"), ANALYSER, call_id, "decline"),
            default(),
            return_exceptions=True,
        )
        assert isinstance(applied, ScreenDecision)
        async with database.sessions() as session:
            row = await session.get(Screening, call_id)
        assert row is not None and row.decision == applied.value
        if isinstance(person, WaitingCallDecided):
            assert applied is ScreenDecision.DECLINE
        else:
            assert isinstance(person, AlreadyDecided)
            assert applied is ScreenDecision.TIMEOUT and person.decided.decided_by == "screener"


async def test_a_call_that_is_not_waiting_cannot_be_decided(
    database: Database, screening: ScreeningService
) -> None:
    with pytest.raises(NoSuchCall):
        await decide_waiting_call(uow(database, "alice"), ANALYSER, "f" * 32, "connect")
    plain = await record_call(database, screening, NUMBER, "Caller")
    with pytest.raises(NotWaiting, match="not waiting"):
        await decide_waiting_call(uow(database, "alice"), ANALYSER, plain, "connect")
    gone = await waiting_call(database, screening)
    await finish_call(database, gone, "abandoned")
    with pytest.raises(NotWaiting, match="no longer waiting"):
        await decide_waiting_call(uow(database, "alice"), ANALYSER, gone, "connect")
    with pytest.raises(CallActionError, match="choose connect"):
        await decide_waiting_call(uow(database, "alice"), ANALYSER, plain, "timeout")


async def test_a_block_that_cannot_be_done_leaves_the_call_waiting(
    database: Database, screening: ScreeningService
) -> None:
    call_id = await waiting_call(database, screening)
    async with database.sessions.begin() as session:
        contacts = NumberList(
            name="contacts",
            kind="contacts",
            action="allow",
            created_at=datetime.now(UTC),
            updated_at=datetime.now(UTC),
        )
        session.add(contacts)
    with pytest.raises(CallActionError, match="nuisance list"):
        await decide_waiting_call(
            uow(database, "alice"), ANALYSER, call_id, "block", list_id=contacts.id
        )
    async with database.sessions() as session:
        row = await session.get(Screening, call_id)
    assert row is not None and row.decision is None  # nothing recorded: still waiting
    done = await decide_waiting_call(uow(database, "bob"), ANALYSER, call_id, "block")
    assert done.listed is not None and done.listed.number_list.name == "Blocked from console"
    assert done.decided.list_name == "Blocked from console"
    async with database.sessions() as session:
        listed = await session.scalar(select(ListEntry.value).where(ListEntry.value == NUMBER))
    assert listed == NUMBER


async def test_a_decision_before_the_caller_is_on_hold_has_no_wait(
    database: Database, screening: ScreeningService
) -> None:
    call_id = await waiting_call(database, screening, on_hold=False)
    done = await decide_waiting_call(uow(database, "alice"), ANALYSER, call_id, "connect")
    assert done.decided.waited_seconds is None
    async with database.sessions() as session:
        assert [c.id for c, _s in await screen_store.waiting_calls(session)] == []
