"""Writing and reading live screening: a call on the board, on hold, and its one decision.

A call's ``screenings`` row is written when screening starts, filled in when the caller
is put on hold, and given its decision by :func:`claim`: a conditional ``UPDATE`` that
only touches a row with no decision yet, on a call that is still in progress. Of any
number of claims at once (two receptionists, or a receptionist and the timer), exactly
one changes the row; the others read the winner. Both SQLite (one writer at a time) and
PostgreSQL (the row lock, and the condition checked again once it is free) keep this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from screener.calls import store
from screener.db.models import Call, Screening
from screener.domain.events import Event
from screener.domain.screen_events import CallScreened, CallWaiting
from screener.domain.vocabulary import ScreenDecision, TimelineKind, Via

SYSTEM_ACTOR = "screener"
"""Who decided, for the defaults (nobody decided in time, nobody watching)."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The decision a screened call has, and who took it."""

    decision: ScreenDecision
    decided_by: str
    via: Via
    decided_at: datetime
    waited_seconds: float | None
    list_name: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a claim found: ``won`` if this claim's decision is the call's."""

    won: bool
    decided: Decided | None
    """The call's decision (this claim's, or the one that was there); None: no such row."""
    ended: bool = False
    """The call is no longer in progress (the caller hung up, or it left Screener)."""


def decided_of(row: Screening) -> Decided | None:
    if row.decision is None or row.decided_at is None:
        return None
    try:
        decision = ScreenDecision(row.decision)
    except ValueError:
        return None
    try:
        via = Via(row.decided_via or Via.SYSTEM.value)
    except ValueError:
        via = Via.SYSTEM
    waited = row.waited_ms / 1000 if row.waited_ms is not None else None
    return Decided(decision, row.decided_by or "", via, row.decided_at, waited, row.list_name)


def offer(session: AsyncSession, call_id: str, site: str, at: datetime) -> CallWaiting:
    """Screening starts: the call goes on the board."""
    session.add(Screening(call_id=call_id, offered_at=at))
    return CallWaiting(call_id, site, at)


async def put_on_hold(
    session: AsyncSession,
    call_id: str,
    site: str,
    at: datetime,
    timeout_seconds: float,
    recording: str | None,
) -> CallWaiting | None:
    """The caller has spoken and waits on hold; the recording is playable from now on."""
    row = await session.get(Screening, call_id)
    if row is None:
        return None
    decide_by = at + timedelta(seconds=timeout_seconds)
    row.on_hold_at, row.decide_by, row.recording = at, decide_by, recording
    if recording:
        call = await session.get(Call, call_id)
        if call is not None and call.recording is None:
            call.recording = recording
    return CallWaiting(call_id, site, at, recording, decide_by)


async def claim(
    session: AsyncSession,
    call_id: str,
    decision: ScreenDecision,
    *,
    by: str,
    via: Via,
    at: datetime,
    list_id: int | None = None,
    list_name: str | None = None,
) -> Claimed:
    """Make ``decision`` the call's decision if it has none and is still in progress.

    The ``UPDATE`` comes first in the transaction, so on SQLite it takes the write lock
    before anything is read (no reader upgrading to a writer, which SQLite refuses).
    """
    ended = exists().where(and_(Call.id == Screening.call_id, Call.outcome.is_not(None)))
    result = await session.execute(
        update(Screening)
        .where(Screening.call_id == call_id, Screening.decision.is_(None), ~ended)
        .values(
            decision=decision.value,
            decided_by=by[:100],
            decided_via=via.value,
            decided_at=at,
            list_id=list_id,
            list_name=list_name,
        )
        .execution_options(synchronize_session=False)
    )
    won = getattr(result, "rowcount", 0) == 1
    row = (
        await session.execute(
            select(Screening)
            .where(Screening.call_id == call_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        return Claimed(False, None)
    if won:
        if row.on_hold_at is not None:
            row.waited_ms = max(int((at - row.on_hold_at).total_seconds() * 1000), 0)
        return Claimed(True, decided_of(row))
    if row.decision is not None:
        return Claimed(False, decided_of(row))
    return Claimed(False, None, ended=True)


def add_screened_step(session: AsyncSession, call_id: str, decided: Decided) -> None:
    """The decision on the call's timeline: what, who, and how long the caller waited."""
    detail: dict[str, Any] = {"decision": decided.decision.value, "by": decided.decided_by}
    if decided.waited_seconds is not None:
        detail["waited_seconds"] = round(decided.waited_seconds, 1)
    if decided.list_name:
        detail["list"] = decided.list_name
    store.add_step(session, call_id, TimelineKind.SCREENED, decided.decided_at, detail)


def screened_event(call_id: str, site: str, decided: Decided) -> CallScreened:
    return CallScreened(
        call_id,
        site,
        decided.decision,
        decided.decided_by,
        decided.via,
        decided.waited_seconds,
        decided.decided_at,
        decided.list_name,
    )


async def claim_default(
    session: AsyncSession, call_id: str, site: str, decision: ScreenDecision, at: datetime
) -> tuple[ScreenDecision, list[Event]]:
    """Screener's default for a call (nobody decided in time, nobody watching): the
    decision the call ends up with, and the event to publish.

    A call never offered (nobody watching when screening would have started) gets its row
    here, decided. A call whose row could not be written (the database was failing) keeps
    the default: the caller is never held because the record is missing.
    """
    claimed = await claim(session, call_id, decision, by=SYSTEM_ACTOR, via=Via.SYSTEM, at=at)
    if claimed.decided is None and not claimed.ended:
        call = await session.get(Call, call_id)
        if call is None:
            return decision, []
        session.add(
            Screening(
                call_id=call_id,
                offered_at=at,
                decision=decision.value,
                decided_by=SYSTEM_ACTOR,
                decided_via=Via.SYSTEM.value,
                decided_at=at,
            )
        )
        decided = Decided(decision, SYSTEM_ACTOR, Via.SYSTEM, at, None)
        add_screened_step(session, call_id, decided)
        return decision, [screened_event(call_id, site, decided)]
    if claimed.decided is None:
        return decision, []
    if not claimed.won:
        return claimed.decided.decision, []
    add_screened_step(session, call_id, claimed.decided)
    return claimed.decided.decision, [screened_event(call_id, site, claimed.decided)]


async def screening_of(session: AsyncSession, call_id: str) -> Screening | None:
    return await session.get(Screening, call_id)


async def decision_of(session: AsyncSession, call_id: str) -> Decided | None:
    row = await session.get(Screening, call_id)
    return decided_of(row) if row is not None else None


async def screenings_of(session: AsyncSession, call_ids: list[str]) -> dict[str, Screening]:
    """The screening rows of these calls (those that have one)."""
    if not call_ids:
        return {}
    rows = await session.execute(select(Screening).where(Screening.call_id.in_(call_ids)))
    return {row.call_id: row for row in rows.scalars()}


async def waiting_calls(session: AsyncSession, limit: int = 100) -> list[tuple[Call, Screening]]:
    """Calls on the board for reception's decision now, oldest first (with their
    transcripts, for the cards)."""
    rows = await session.execute(
        select(Call, Screening)
        .join(Screening, Screening.call_id == Call.id)
        .options(selectinload(Call.transcripts))
        .where(Screening.decision.is_(None), Call.outcome.is_(None))
        .order_by(Screening.offered_at, Call.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


async def read_decision(
    sessions: async_sessionmaker[AsyncSession], call_id: str
) -> ScreenDecision | None:
    """The decision recorded for a call, in a session of its own."""
    async with sessions() as session:
        decided = await decision_of(session, call_id)
    return decided.decision if decided is not None else None
