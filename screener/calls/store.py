"""Writing call records and their timelines, from the call path's events.

A call's row is written from its :class:`~screener.domain.events.CallStarted` and
:class:`~screener.domain.events.CallDecided` events, its ending from
:class:`~screener.domain.events.CallFinished`, and what happened after the hand-back
from :class:`~screener.domain.events.CallDelivered`. Each field is written once: the
decision (``action``) when the call arrives, the result (``verdict``, ``outcome``) when
it leaves Screener's hands, the ``delivery`` after that. Times are the events' own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import Base, Call, CallEvent, CallReason
from screener.domain.events import CallDecided, CallDelivered, CallFinished, CallStarted
from screener.domain.model import CallEnding, NumberInfo
from screener.domain.vocabulary import (
    Action,
    ChallengeResult,
    Outcome,
    ReportedEnding,
    Step,
    TimelineKind,
    Verdict,
)


def new_call_id() -> str:
    return uuid.uuid4().hex


# What each event writes: one mapping from the events to the columns, used by the ORM
# functions below and by the recorder's batches (:class:`RecordBatch`).


def _arrival_columns(started: CallStarted, number: NumberInfo) -> dict[str, Any]:
    """The ``calls`` columns known when the call arrives: where from, and its facts."""
    facts = started.facts
    return {
        "id": started.call_id,
        "site": started.site,
        "source": started.source.value,
        "channel_id": started.channel_id,
        "started_at": started.at,
        "caller_number_raw": facts.caller_number,
        "caller_name": facts.caller_name,
        "caller_number": number.e164,
        "number_type": number.number_type.value,
        "presentation": facts.presentation,
        "withheld": number.withheld,
        "did": facts.did,
        "trunk": facts.trunk,
        "facts": {"extra": dict(facts.extra)},
        "challenge_attempts": 0,
        "review_state": "unreviewed",
    }


def call_row(started: CallStarted, decided: CallDecided) -> dict[str, Any]:
    """The ``calls`` row of a new call: its facts and decision."""
    decision = decided.decision
    return {
        **_arrival_columns(started, decision.number),
        "decided_at": decided.at,
        "action": decision.action.value,
        "verdict": None,
        "reasons": [r.as_dict() for r in decision.reasons],
        "flagged": decision.flagged,
        "decision_ms": decided.decision_ms,
        "challenge_digit": decided.digit,
    }


def reason_rows(started: CallStarted, decided: CallDecided) -> list[dict[str, Any]]:
    """The call's ``call_reasons`` rows (each reason once; statistics read them)."""
    flagged = decided.decision.flagged
    return [
        {"call_id": started.call_id, "code": code, "started_at": started.at, "flagged": flagged}
        for code in dict.fromkeys(decided.decision.reason_codes)
    ]


def step_row(
    call_id: str, kind: TimelineKind, at: datetime, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``call_events`` row: one step on a call's timeline."""
    return {"call_id": call_id, "at": at, "kind": kind.value, "detail": detail or {}}


def decided_step(decided: CallDecided) -> dict[str, Any]:
    decision = decided.decision
    detail = {"action": decision.action.value, "reasons": list(decision.reason_codes)}
    return step_row(decided.call_id, TimelineKind.DECIDED, decided.at, detail)


def ending_values(ending: CallEnding, at: datetime) -> dict[str, Any]:
    """The ``calls`` columns an ending sets (those it leaves as they are are absent)."""
    values: dict[str, Any] = {
        "outcome": ending.outcome.value,
        "outcome_step": ending.step.value,
        "outcome_detail": ending.detail,
        "ended_at": at,
        "verdict": ending.verdict.value if ending.verdict else None,
    }
    if ending.challenge_result is not None:
        values["challenge_result"] = ending.challenge_result.value
    if ending.challenge_attempts is not None:
        values["challenge_attempts"] = ending.challenge_attempts
    if ending.challenge_digit is not None:
        values["challenge_digit"] = ending.challenge_digit
    if ending.recording is not None:
        values["recording"] = ending.recording
    return values


def ending_step(call_id: str, ending: CallEnding, at: datetime) -> dict[str, Any]:
    detail = {"outcome": ending.outcome.value, "step": ending.step.value}
    if ending.detail:
        detail["detail"] = ending.detail
    return step_row(call_id, TimelineKind.OUTCOME, at, detail)


def shed_row(started: CallStarted, number: NumberInfo, finished: CallFinished) -> dict[str, Any]:
    """The ``calls`` row of a call sent straight back undecided (Screener overloaded)."""
    return {
        **_arrival_columns(started, number),
        "reasons": [],
        "flagged": False,
        **ending_values(finished.ending, finished.at),
    }


def add_call(session: AsyncSession, started: CallStarted, decided: CallDecided) -> Call:
    """A new call with its facts and decision, and a ``decided`` step on its timeline."""
    call = Call(**call_row(started, decided))
    session.add(call)
    session.add(CallEvent(**decided_step(decided)))
    session.add_all(CallReason(**row) for row in reason_rows(started, decided))
    return call


def add_step(
    session: AsyncSession,
    call_id: str,
    kind: TimelineKind,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(CallEvent(**step_row(call_id, kind, at, detail)))


def _apply_ending(session: AsyncSession, call: Call, ending: CallEnding, at: datetime) -> None:
    for column, value in ending_values(ending, at).items():
        setattr(call, column, value)
    session.add(CallEvent(**ending_step(call.id, ending, at)))


@dataclass
class RecordBatch:
    """The rows of many calls' records, written with one statement per kind of row.

    The recorder's common writes (a new call, a timeline step, the ending of a call it
    recorded itself) are gathered here and written by :meth:`flush`: an insert each into
    ``calls``, ``call_reasons`` and ``call_events`` and an update per shape of ending,
    instead of an ORM unit of work per call (the recorder's main cost at a hundred calls a
    second: docs/performance.md). The order of rows within each table is kept.
    """

    calls: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    endings: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    shed: list[dict[str, Any]] = field(default_factory=list)

    def add_call(self, started: CallStarted, decided: CallDecided) -> None:
        self.calls.append(call_row(started, decided))
        self.reasons.extend(reason_rows(started, decided))
        self.steps.append(decided_step(decided))

    def add_step(
        self, call_id: str, kind: TimelineKind, at: datetime, detail: dict[str, Any] | None
    ) -> None:
        self.steps.append(step_row(call_id, kind, at, detail))

    def finish(self, finished: CallFinished) -> None:
        """The ending of a call whose row is written (or in this batch) and unfinished."""
        values = ending_values(finished.ending, finished.at)
        self.endings.append({"call_id": finished.call_id, **values})
        self.steps.append(ending_step(finished.call_id, finished.ending, finished.at))

    def add_shed(self, started: CallStarted, number: NumberInfo, finished: CallFinished) -> None:
        """A call sent straight back undecided, with its ending."""
        self.shed.append(shed_row(started, number, finished))
        self.steps.append(ending_step(started.call_id, finished.ending, finished.at))

    def deliver(self, delivered: CallDelivered) -> None:
        """What became of a call this recorder put through, with no delivery yet."""
        self.deliveries.append({"call_id": delivered.call_id, **delivery_values(delivered)})
        self.steps.append(delivery_step(delivered))

    def __bool__(self) -> bool:
        return bool(self.calls or self.steps or self.endings or self.deliveries or self.shed)

    async def flush(self, session: AsyncSession) -> None:
        """Write everything gathered so far in ``session``'s transaction, then forget it.

        The session's own pending changes (from writes made through it before these rows
        were gathered... or after: they never depend on these) go first, so rows keep the
        order of the operations that made them.
        """
        if not self:
            return
        await session.flush()
        if (self.endings or self.deliveries) and session.identity_map:
            # Rows these updates change may be loaded in the session: read them afresh.
            session.expire_all()
        if self.calls:
            await session.execute(insert(_table(Call)), self.calls)
        if self.shed:
            await session.execute(insert(_table(Call)), self.shed)
        if self.reasons:
            await session.execute(insert(_table(CallReason)), self.reasons)
        for columns, rows in _by_shape(self.endings).items():
            await session.execute(_ending_update(columns), rows)
        for columns, rows in _by_shape(self.deliveries).items():
            await session.execute(_delivery_update(columns), rows)
        if self.steps:
            await session.execute(insert(_table(CallEvent)), self.steps)
        self.calls, self.reasons, self.steps = [], [], []
        self.endings, self.deliveries, self.shed = [], [], []


@lru_cache(maxsize=8)
def _delivery_update(columns: tuple[str, ...]) -> Update:
    """``UPDATE calls SET delivery ... WHERE id = ? AND delivery IS NULL`` of a connected call."""
    table = _table(Call)
    return (
        update(table)
        .where(
            table.c.id == bindparam("v_call_id"),
            table.c.delivery.is_(None),
            table.c.outcome == Outcome.CONNECTED.value,
        )
        .values({column: bindparam(f"v_{column}") for column in columns})
    )


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _by_shape(endings: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in endings:
        columns = tuple(key for key in row if key != "call_id")
        shapes.setdefault(columns, []).append({f"v_{k}": v for k, v in row.items()})
    return shapes


@lru_cache(maxsize=64)
def _ending_update(columns: tuple[str, ...]) -> Update:
    """``UPDATE calls SET ... WHERE id = ? AND outcome IS NULL`` (an ending is written once)."""
    table = _table(Call)
    return (
        update(table)
        .where(table.c.id == bindparam("v_call_id"), table.c.outcome.is_(None))
        .values({column: bindparam(f"v_{column}") for column in columns})
    )


async def finish_call(session: AsyncSession, finished: CallFinished) -> bool:
    """Record how a call ended, once: False when it already has an outcome (or is unknown)."""
    call = await session.get(Call, finished.call_id)
    if call is None or call.outcome is not None:
        return False
    _apply_ending(session, call, finished.ending, finished.at)
    return True


async def deliver_call(session: AsyncSession, delivered: CallDelivered) -> bool:
    """Record what happened after the hand-back, once: False if already known."""
    call = await session.get(Call, delivered.call_id)
    if call is None or call.delivery is not None or call.outcome != Outcome.CONNECTED:
        return False
    for column, value in delivery_values(delivered).items():
        setattr(call, column, value)
    session.add(CallEvent(**delivery_step(delivered)))
    return True


def delivery_values(delivered: CallDelivered) -> dict[str, Any]:
    """The ``calls`` columns a delivery sets."""
    values: dict[str, Any] = {"delivery": delivered.delivery.value, "delivered_at": delivered.at}
    if delivered.to:
        values["delivered_to"] = delivered.to[:64]
    return values


def delivery_step(delivered: CallDelivered) -> dict[str, Any]:
    detail: dict[str, Any] = {"delivery": delivered.delivery.value}
    if delivered.to:
        detail["to"] = delivered.to
    if delivered.after_seconds is not None:
        detail["after_seconds"] = round(delivered.after_seconds, 1)
    if delivered.detail:
        detail["detail"] = delivered.detail[:200]
    return step_row(delivered.call_id, TimelineKind.DELIVERY, delivered.at, detail)


async def latest_call_on_channel(session: AsyncSession, channel_id: str) -> str | None:
    return (
        await session.execute(
            select(Call.id)
            .where(Call.channel_id == channel_id)
            .order_by(Call.started_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class ReportApplied:
    """What a dialplan's report changed on a call (FastAGI ``/outcome``)."""

    known: bool
    finished: CallFinished | None = None
    delivered: CallDelivered | None = None

    @property
    def changed(self) -> bool:
        return self.finished is not None or self.delivered is not None


async def apply_report(
    session: AsyncSession, call_id: str, report: ReportedEnding, at: datetime
) -> ReportApplied:
    """Apply a word reported by the dialplan: the outcome if the call has none, then the
    delivery (with the extension the report names) if the call was connected and has none
    (see ``REPORTED_ENDINGS``)."""
    call = await session.get(Call, call_id)
    if call is None:
        return ReportApplied(known=False)
    finished: CallFinished | None = None
    delivered: CallDelivered | None = None
    if call.outcome is None:
        challenge = report.challenge
        action = Action(call.action) if call.action else Action.ALLOW
        if challenge is None and report.outcome is Outcome.CONNECTED:
            # The dialplan rings a challenged caller only after they passed.
            challenge = ChallengeResult.PASSED if action is Action.CHALLENGE else None
        ending = CallEnding(
            outcome=report.outcome,
            step=Step.DIALPLAN,
            verdict=Verdict.of(action, challenge),
            challenge_result=challenge,
            challenge_attempts=1 if challenge is not None else None,
        )
        _apply_ending(session, call, ending, at)
        finished = CallFinished(call.id, call.site, ending, at)
    if (
        report.delivery is not None
        and call.delivery is None
        and call.outcome == Outcome.CONNECTED.value
    ):
        delivered = CallDelivered(call.id, call.site, report.delivery, at)
        call.delivery = report.delivery.value
        call.delivered_at = at
        call.delivered_to = report.delivered_to
        detail = {"delivery": report.delivery.value}
        if report.delivered_to:
            detail["to"] = report.delivered_to
        add_step(session, call.id, TimelineKind.DELIVERY, at, detail)
    return ReportApplied(True, finished, delivered)
