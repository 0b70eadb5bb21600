"""What happens in Screener, as typed events built from domain objects.

The call path, the admin use cases and the ARI connection publish these on the
in-process bus (:mod:`screener.events`); the live board, the MQTT publisher, metrics and
the policy watcher listen. Every event carries ``at``, the moment the thing happened
(not when it was written or published).

``payload()`` is the event as JSON-able data; for call events it is the version 1 MQTT
payload documented in ``docs/mqtt.md`` (fields may be added, never removed or changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from screener.domain.model import Actor, CallEnding, CallFacts, Claim, Decision, Reason
from screener.domain.screen_events import ScreenEvent
from screener.domain.vocabulary import (
    AuditAction,
    CallSource,
    Delivery,
    ReasonCode,
    ReviewState,
    TranscriptStatus,
)


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A call reached Screener (``facts`` as stored: caller text already clipped)."""

    kind: ClassVar[str] = "call.started"
    call_id: str
    site: str
    source: CallSource
    channel_id: str | None
    facts: CallFacts
    caller_number: str | None
    at: datetime

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "site": self.site,
            "source": self.source.value,
            "channel_id": self.channel_id,
            "caller_number_raw": self.facts.caller_number,
            "caller_name": self.facts.caller_name,
            "caller_number": self.caller_number,
            "presentation": self.facts.presentation,
            "did": self.facts.did,
            "trunk": self.facts.trunk,
            "started_at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CallDecided:
    """The policy decided what to do with a call."""

    kind: ClassVar[str] = "call.verdict"
    call_id: str
    site: str
    decision: Decision
    decision_ms: float
    at: datetime
    digit: str | None = None
    """The digit the caller is asked for first (challenges only; not published)."""

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return tuple(r.code for r in self.decision.reasons)

    def payload(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "call_id": self.call_id,
            "site": self.site,
            "action": decision.action.value,
            "reasons": [
                {"code": r.code.value, "action": r.action.value, "explanation": r.explanation}
                for r in decision.reasons
            ],
            "caller_number": decision.number.e164,
            "number_type": decision.number.number_type.value,
            "withheld": decision.number.withheld,
            "flagged": decision.flagged,
            "decision_ms": self.decision_ms,
            "decided_at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CallFinished:
    """A call left Screener's hands (its outcome is recorded)."""

    kind: ClassVar[str] = "call.outcome"
    call_id: str
    site: str
    ending: CallEnding
    at: datetime

    def payload(self) -> dict[str, Any]:
        ending = self.ending
        return {
            "call_id": self.call_id,
            "site": self.site,
            "outcome": ending.outcome.value,
            "verdict": ending.verdict.value if ending.verdict else None,
            "step": ending.step.value,
            "challenge_result": ending.challenge_result.value if ending.challenge_result else None,
            "recording": ending.recording,
            "detail": ending.detail,
            "ended_at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CallDelivered:
    """What happened after Screener handed the call back to the dialplan."""

    kind: ClassVar[str] = "call.delivery"
    call_id: str
    site: str
    delivery: Delivery
    at: datetime
    to: str | None = None
    """Who answered or was rung: the extension (``100``), else the phone's channel name."""
    after_seconds: float | None = None
    """From the hand-back to this (how long it rang before it was answered, say)."""
    detail: str | None = None
    """Why, in words, where the delivery alone does not say (``busy``, a failure...)."""

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "site": self.site,
            "delivery": self.delivery.value,
            "delivered_at": self.at.isoformat(),
            "to": self.to,
            "after_seconds": self.after_seconds,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CallReviewed:
    """Reception reviewed a call."""

    kind: ClassVar[str] = "call.reviewed"
    call_id: str
    site: str
    review_state: ReviewState
    reviewed_by: str
    at: datetime

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "site": self.site,
            "review_state": self.review_state.value,
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CallTranscribed:
    """What the caller said in a recording is known (or why it is not): its transcript and
    any claims of authority, written to the call's record.

    ``reason`` is the ``claims_authority`` reason added to the call (None without claims),
    with the action in force when the transcript was made. It comes after the call's
    decision and never changes it; a call still waiting for reception can act on it.
    ``text`` is attacker-controlled: what the caller said.
    """

    kind: ClassVar[str] = "call.transcript"
    call_id: str
    site: str
    recording: str
    status: TranscriptStatus
    text: str
    claims: tuple[Claim, ...]
    reason: Reason | None
    flagged: bool
    """Whether the call is flagged now (a claim flags it)."""
    model: str
    at: datetime
    """When the transcript was ready."""
    recorded_at: datetime
    """When the recording ended."""

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "site": self.site,
            "recording": self.recording,
            "status": self.status.value,
            "transcript": self.text,
            "claims": [
                {"category": c.category.value, "phrase": c.phrase, "term": c.term}
                for c in self.claims
            ],
            "reason": self.reason.as_dict() if self.reason else None,
            "flagged": self.flagged,
            "model": self.model,
            "recorded_at": self.recorded_at.isoformat(),
            "transcribed_at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ListChanged:
    """A list or its entries changed (on this instance or, seen in the audit log, another)."""

    kind: ClassVar[str] = "list.changed"
    change: AuditAction
    target: str
    actor: Actor
    at: datetime
    call_id: None = None

    def payload(self) -> dict[str, Any]:
        return {
            "change": self.change.value,
            "target": self.target,
            "actor": self.actor.name,
            "via": self.actor.via.value,
        }


@dataclass(frozen=True, slots=True)
class PolicyChanged:
    """The rule actions changed (on this instance or, seen in the audit log, another)."""

    kind: ClassVar[str] = "policy.changed"
    target: str
    actor: Actor
    at: datetime
    call_id: None = None

    def payload(self) -> dict[str, Any]:
        return {"target": self.target, "actor": self.actor.name, "via": self.actor.via.value}


@dataclass(frozen=True, slots=True)
class AriConnected:
    kind: ClassVar[str] = "ari.connected"
    url: str
    at: datetime
    call_id: None = None

    def payload(self) -> dict[str, Any]:
        return {"url": self.url}


@dataclass(frozen=True, slots=True)
class AriDisconnected:
    kind: ClassVar[str] = "ari.disconnected"
    url: str
    at: datetime
    call_id: None = None

    def payload(self) -> dict[str, Any]:
        return {"url": self.url}


CallEvent = (
    CallStarted | CallDecided | CallFinished | CallDelivered | CallReviewed | CallTranscribed
)
ChangeEvent = ListChanged | PolicyChanged


@dataclass(frozen=True, slots=True)
class CallChangedElsewhere:
    """Another Screener process sharing the database took, finished or reviewed a call
    (its record is written; the live board reloads it)."""

    kind: ClassVar[str] = "call.changed"
    call_id: str
    change: str
    """The kind of the other process's event (``call.started``, ``call.outcome``...)."""
    at: datetime

    def payload(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "change": self.change}


Event = (
    CallEvent | ScreenEvent | ChangeEvent | AriConnected | AriDisconnected | CallChangedElsewhere
)
