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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import Call, CallEvent, CallReason
from screener.domain.events import CallDecided, CallDelivered, CallFinished, CallStarted
from screener.domain.model import CallEnding
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


def add_call(session: AsyncSession, started: CallStarted, decided: CallDecided) -> Call:
    """A new call with its facts and decision, and a ``decided`` step on its timeline."""
    facts, decision = started.facts, decided.decision
    number = decision.number
    call = Call(
        id=started.call_id,
        site=started.site,
        source=started.source.value,
        channel_id=started.channel_id,
        started_at=started.at,
        decided_at=decided.at,
        caller_number_raw=facts.caller_number,
        caller_name=facts.caller_name,
        caller_number=number.e164,
        number_type=number.number_type.value,
        presentation=facts.presentation,
        withheld=number.withheld,
        did=facts.did,
        trunk=facts.trunk,
        facts={"extra": dict(facts.extra)},
        action=decision.action.value,
        verdict=None,
        reasons=[r.as_dict() for r in decision.reasons],
        flagged=decision.flagged,
        decision_ms=decided.decision_ms,
        challenge_digit=decided.digit,
        challenge_attempts=0,
        review_state="unreviewed",
    )
    session.add(call)
    session.add(
        CallEvent(
            call_id=call.id,
            at=decided.at,
            kind=TimelineKind.DECIDED.value,
            detail={"action": decision.action.value, "reasons": list(decision.reason_codes)},
        )
    )
    session.add_all(
        CallReason(call_id=call.id, code=code, started_at=started.at, flagged=decision.flagged)
        for code in dict.fromkeys(decision.reason_codes)
    )
    return call


def add_step(
    session: AsyncSession,
    call_id: str,
    kind: TimelineKind,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(CallEvent(call_id=call_id, at=at, kind=kind.value, detail=detail or {}))


def _apply_ending(session: AsyncSession, call: Call, ending: CallEnding, at: datetime) -> None:
    call.outcome = ending.outcome.value
    call.outcome_step = ending.step.value
    call.outcome_detail = ending.detail
    call.ended_at = at
    call.verdict = ending.verdict.value if ending.verdict else None
    if ending.challenge_result is not None:
        call.challenge_result = ending.challenge_result.value
    if ending.challenge_attempts is not None:
        call.challenge_attempts = ending.challenge_attempts
    if ending.challenge_digit is not None:
        call.challenge_digit = ending.challenge_digit
    if ending.recording is not None:
        call.recording = ending.recording
    detail = {"outcome": ending.outcome.value, "step": ending.step.value}
    if ending.detail:
        detail["detail"] = ending.detail
    add_step(session, call.id, TimelineKind.OUTCOME, at, detail)


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
    call.delivery = delivered.delivery.value
    call.delivered_at = delivered.at
    add_step(
        session, call.id, TimelineKind.DELIVERY, delivered.at, {"delivery": delivered.delivery}
    )
    return True


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
