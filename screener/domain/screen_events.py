"""The events of live screening: a call waits for reception, and is decided.

Like every event of :mod:`screener.domain.events` they carry ``at``, the moment the thing
happened, and ``payload()`` is the version 1 MQTT payload (``docs/mqtt.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from screener.domain.vocabulary import SCREEN_VERDICTS, ScreenDecision, Verdict, Via


@dataclass(frozen=True, slots=True)
class CallWaiting:
    """A screened call is on reception's board.

    Published twice: when screening starts (the caller is being asked who they are:
    ``recording`` and ``decide_by`` are None), and when the caller has spoken and waits
    on hold (``recording`` is the recording's name, ``decide_by`` when the default
    applies). Its record is written first.
    """

    kind: ClassVar[str] = "call.waiting"
    call_id: str
    site: str
    at: datetime
    recording: str | None = None
    decide_by: datetime | None = None

    @property
    def on_hold(self) -> bool:
        return self.decide_by is not None

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "site": self.site,
            "on_hold": self.on_hold,
            "recording": self.recording,
            "decide_by": self.decide_by.isoformat() if self.decide_by else None,
            "waiting_at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CallScreened:
    """A waiting call was decided: by a person (``via`` web, api or phone) or by Screener's
    default (``via`` system: nobody decided in time, or nobody was watching)."""

    kind: ClassVar[str] = "call.screened"
    call_id: str
    site: str
    decision: ScreenDecision
    decided_by: str
    via: Via
    waited_seconds: float | None
    """From the moment the caller was put on hold (None: never on hold)."""
    at: datetime
    list_name: str | None = None
    """The block list the number went on (decision ``block``)."""

    @property
    def verdict(self) -> Verdict:
        return SCREEN_VERDICTS[self.decision]

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "site": self.site,
            "decision": self.decision.value,
            "verdict": self.verdict.value,
            "decided_by": self.decided_by,
            "via": self.via.value,
            "waited_seconds": self.waited_seconds,
            "list": self.list_name,
            "decided_at": self.at.isoformat(),
        }


ScreenEvent = CallWaiting | CallScreened
