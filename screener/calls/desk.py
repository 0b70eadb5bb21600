"""The one call path: take a call, decide it, record it, and record how it ended.

The ARI flow and FastAGI both hand their calls to the :class:`CallDesk`; they differ only
in how they talk to Asterisk. The desk asks the screening service for the decision,
chooses the challenge digits, hands the record and its events to the recorder, and
stamps every step with the moment it happened.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from screener.calls import screen_store
from screener.calls.recorder import CallRecorder
from screener.calls.screening import Screening, ScreeningService
from screener.calls.store import ReportApplied, new_call_id
from screener.domain.events import CallDecided, CallDelivered, CallFinished, CallStarted, Event
from screener.domain.model import CallEnding, CallFacts
from screener.domain.vocabulary import (
    Action,
    CallSource,
    Delivery,
    Outcome,
    ReportedEnding,
    ScreenDecision,
    Step,
    TimelineKind,
)

log = logging.getLogger(__name__)

DigitChooser = Callable[[int], tuple[str, ...]]

_random = random.SystemRandom()


class RecordingReader(Protocol):
    """What reads a caller's recording once it is stored (speech to text)."""

    def recording_ready(
        self, call_id: str, name: str, audio_format: str, recorded_at: datetime
    ) -> None: ...


def random_digits(attempts: int) -> tuple[str, ...]:
    """One digit 1-9 per challenge attempt, unpredictable to the caller."""
    return tuple(_random.choice("123456789") for _ in range(attempts))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TakenCall:
    """A call the desk decided and is recording."""

    call_id: str
    screening: Screening
    digits: tuple[str, ...]
    """The digit to ask for on each challenge attempt (empty unless challenged)."""

    @property
    def action(self) -> Action:
        return self.screening.decision.action


class CallDesk:
    """Shared by every call of the process; built once by the composition root."""

    def __init__(
        self,
        screening: ScreeningService,
        recorder: CallRecorder,
        *,
        site: str,
        attempts: int,
        choose_digits: DigitChooser = random_digits,
        challenge_before_screening: bool = False,
        recordings: RecordingReader | None = None,
    ) -> None:
        self.screening = screening
        self.recorder = recorder
        self.site = site
        self.attempts = attempts
        self.choose_digits = choose_digits
        self.challenge_before_screening = challenge_before_screening
        """``screen.challenge_first``: a call to screen is challenged first (digits)."""
        self.recordings = recordings

    async def take(
        self,
        facts: CallFacts,
        *,
        source: CallSource,
        channel_id: str | None,
        call_id: str | None = None,
        started_at: datetime | None = None,
    ) -> TakenCall:
        """Decide a call and start its record. Raises when it cannot decide (fail open)."""
        call_id = call_id or new_call_id()
        started_at = started_at or utcnow()
        screening = await self.screening.decide(facts)
        decided_at = utcnow()
        decision = screening.decision
        digits = self.choose_digits(self.attempts) if self._challenged(decision.action) else ()
        started = CallStarted(
            call_id,
            self.site,
            source,
            channel_id,
            facts,
            decision.number.e164,
            started_at,
        )
        decided = CallDecided(
            call_id,
            self.site,
            decision,
            round(screening.elapsed_ms, 3),
            decided_at,
            digits[0] if digits else None,
        )
        self.recorder.call_taken(started, decided)
        log.info(
            "call from %r: %s (%s) in %.1f ms",
            decision.number.display[:32],
            decision.action.value,
            ",".join(decision.reason_codes),
            screening.elapsed_ms,
        )
        return TakenCall(call_id, screening, digits)

    def shed(
        self,
        facts: CallFacts,
        *,
        source: CallSource,
        channel_id: str | None,
        started_at: datetime,
        detail: str,
    ) -> str:
        """Record a call sent straight back to the dialplan undecided (Screener is
        overloaded): its facts and number, outcome ``fail-open`` at step ``overload``."""
        call_id = new_call_id()
        number = self.screening.analyser.analyse(facts.caller_number, facts.presentation)
        started = CallStarted(
            call_id, self.site, source, channel_id, facts, number.e164, started_at
        )
        ending = CallEnding(Outcome.FAIL_OPEN, Step.OVERLOAD, detail=detail)
        self.recorder.shed(started, number, CallFinished(call_id, self.site, ending, utcnow()))
        return call_id

    @property
    def records_behind(self) -> int:
        return self.recorder.records_behind

    def step(self, call_id: str, kind: TimelineKind, detail: dict[str, Any] | None = None) -> None:
        """A step on the call's timeline, stamped now."""
        self.recorder.step(call_id, kind, utcnow(), detail)

    def recorded(self, call_id: str, name: str, audio_format: str) -> None:
        """The caller's recording ``name`` is stored (stamped now): hand it on, never waiting."""
        if self.recordings is not None:
            self.recordings.recording_ready(call_id, name, audio_format, utcnow())

    def finish(self, call_id: str, ending: CallEnding) -> asyncio.Future[bool]:
        """The call left Screener's hands (only the first ending of a call is kept)."""
        log.info(
            "call outcome %s at %s (%s)",
            ending.outcome.value,
            ending.step.value,
            ending.verdict.value if ending.verdict else "-",
        )
        return self.recorder.finish(CallFinished(call_id, self.site, ending, utcnow()))

    def delivered(
        self,
        call_id: str,
        delivery: Delivery,
        *,
        to: str | None = None,
        after_seconds: float | None = None,
        detail: str | None = None,
    ) -> None:
        """What became of the call after the hand-back (followed on ARI), stamped now."""
        at = utcnow()
        self.recorder.deliver(
            CallDelivered(call_id, self.site, delivery, at, to, after_seconds, detail)
        )

    def ringing(self, call_id: str, to: str, dial: str) -> None:
        """After the hand-back, the dialplan rings ``to`` for the call (stamped now)."""
        detail = {"to": to, "dial": dial[:100]}
        self.recorder.step_after_hand_back(call_id, TimelineKind.RINGING, utcnow(), detail)

    def report(self, call_id: str, report: ReportedEnding) -> asyncio.Future[ReportApplied]:
        """What the dialplan reported about a call it handled (FastAGI ``/outcome``)."""
        return self.recorder.report(call_id, report, utcnow())

    def _challenged(self, action: Action) -> bool:
        return action is Action.CHALLENGE or (
            action is Action.SCREEN and self.challenge_before_screening
        )

    # Live screening ----------------------------------------------------------------------

    def offer(self, call_id: str) -> None:
        """Screening starts: the call goes on reception's board."""
        at = utcnow()

        async def write(session: AsyncSession) -> tuple[None, list[Event]]:
            return None, [screen_store.offer(session, call_id, self.site, at)]

        self.recorder.write(write)

    def hold(self, call_id: str, timeout_seconds: float, recording: str | None) -> None:
        """The caller waits on hold for reception, who has ``timeout_seconds`` to decide."""
        at = utcnow()

        async def write(session: AsyncSession) -> tuple[None, list[Event]]:
            waiting = await screen_store.put_on_hold(
                session, call_id, self.site, at, timeout_seconds, recording
            )
            return None, [waiting] if waiting is not None else []

        self.recorder.write(write)

    def claim_default(
        self, call_id: str, decision: ScreenDecision
    ) -> asyncio.Future[ScreenDecision]:
        """Screener's default for a screened call; the future holds the decision the call
        ends up with (a receptionist's, if theirs was recorded first)."""
        at = utcnow()

        async def write(session: AsyncSession) -> tuple[ScreenDecision, list[Event]]:
            return await screen_store.claim_default(session, call_id, self.site, decision, at)

        return self.recorder.write(write)

    def lost_channel(self, channel_id: str, detail: str) -> None:
        """A channel nobody was handling went back to the dialplan (after a reconnect)."""
        self.recorder.lost_channel(channel_id, self.site, detail, utcnow())
