"""Writing what the caller said to the call's record: the transcript, and a claim's reason.

A transcript comes after the call's decision, so it never changes ``action`` or
``verdict``. A ``claims_authority`` reason is added to the call's reasons (and to its
``call_reasons`` rows, so the queue's reason filter finds it), and the call is flagged, so
it is in the review queue. Times are the moments things happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screener.calls.store import add_step
from screener.db.models import Call, CallReason, Transcript
from screener.domain.model import Claim, Reason
from screener.domain.vocabulary import Action, TimelineKind, TranscriptStatus
from screener.speech.claims import claims_reason


@dataclass(frozen=True, slots=True)
class TranscriptRecord:
    """Everything known about one recording sent to speech to text."""

    call_id: str
    recording: str
    status: TranscriptStatus
    model: str
    recorded_at: datetime
    """When the recording ended."""
    at: datetime
    """When the transcript was ready (or the recording given up)."""
    text: str = ""
    claims: tuple[Claim, ...] = ()
    detail: str | None = None
    language: str | None = None
    audio_seconds: float | None = None
    fetch_seconds: float | None = None
    wait_seconds: float | None = None
    worker_seconds: float | None = None
    cpu_seconds: float | None = None
    total_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """What writing a transcript changed on its call."""

    site: str
    withheld: bool
    flagged: bool
    reason: Reason | None


class CallNotWritten(LookupError):
    """The call's own record is not in the database (yet): its writer may be behind."""


async def add_transcript(
    session: AsyncSession, record: TranscriptRecord, action: Action
) -> Written | None:
    """Write ``record`` to its call, once, with a ``claims_authority`` reason (whose action
    is ``action``) when it has claims; the reason's advice takes the call's facts into
    account.

    None when this recording already has a transcript; :class:`CallNotWritten` when the
    call is not in the database."""
    call = await session.get(Call, record.call_id)
    if call is None:
        raise CallNotWritten(record.call_id)
    existing = await session.execute(
        select(Transcript.id).where(
            Transcript.call_id == record.call_id, Transcript.recording == record.recording
        )
    )
    if existing.first() is not None:
        return None
    session.add(
        Transcript(
            call_id=record.call_id,
            recording=record.recording,
            status=record.status.value,
            text=record.text,
            claims=[claim.as_dict() for claim in record.claims],
            detail=record.detail,
            model=record.model[:300],
            language=record.language,
            audio_seconds=record.audio_seconds,
            fetch_seconds=record.fetch_seconds,
            wait_seconds=record.wait_seconds,
            worker_seconds=record.worker_seconds,
            cpu_seconds=record.cpu_seconds,
            total_seconds=record.total_seconds,
            recorded_at=record.recorded_at,
            created_at=record.at,
        )
    )
    detail: dict[str, object] = {"status": record.status.value, "recording": record.recording}
    if record.claims:
        detail["claims"] = ", ".join(dict.fromkeys(c.category.value for c in record.claims))
    if record.detail:
        detail["detail"] = record.detail[:200]
    add_step(session, call.id, TimelineKind.TRANSCRIBED, record.at, detail)
    reason = claims_reason(record.claims, action, call.withheld)
    if reason is not None:
        call.reasons = [*call.reasons, reason.as_dict()]
        call.flagged = True
        await session.execute(
            update(CallReason).where(CallReason.call_id == call.id).values(flagged=True)
        )
        known = await session.get(CallReason, (call.id, reason.code.value))
        if known is None:
            session.add(
                CallReason(
                    call_id=call.id,
                    code=reason.code.value,
                    started_at=call.started_at,
                    flagged=True,
                )
            )
    return Written(call.site, call.withheld, call.flagged, reason)
