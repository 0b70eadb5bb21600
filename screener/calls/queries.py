"""Reading calls back: the board, the flagged queue, the API and the CLI (keyset pages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from screener.db.models import Call, CallReason, Transcript
from screener.domain.vocabulary import (
    Action,
    Delivery,
    Outcome,
    ReasonCode,
    ReviewState,
    Verdict,
)

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What to look for: every field is optional; values are from the call vocabulary."""

    flagged: bool | None = None
    action: Action | None = None
    verdict: Verdict | None = None
    outcome: Outcome | None = None
    reason: ReasonCode | None = None
    number: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    review_state: ReviewState | None = None
    said: str | None = None
    """Words the caller said (in a transcript), case-insensitive."""


MAX_SAID_CHARS = 100


def _like_pattern(words: str) -> str:
    """A LIKE pattern matching ``words`` anywhere, its own ``%`` and ``_`` taken literally."""
    escaped = words.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: the last call's start time and id."""

    started_at: datetime
    call_id: str

    def encode(self) -> str:
        return f"{self.started_at.isoformat()}~{self.call_id}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value or "~" not in value:
            return None
        at, _, call_id = value.partition("~")
        try:
            started = datetime.fromisoformat(at)
        except ValueError:
            return None
        if started.tzinfo is None or not call_id.isalnum() or len(call_id) > 32:
            return None
        return cls(started, call_id)


async def find_calls(
    session: AsyncSession,
    filters: CallFilter,
    cursor: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[Sequence[Call], Cursor | None]:
    """Newest first; returns the page and the cursor of the next one (None at the end)."""
    # With a reason, walk the call_reasons index (code, flagged, started_at) instead of
    # reading every call's reasons JSON; the row order and the cursor are the same.
    at: Any = Call.started_at
    key: Any = Call.id
    query = select(Call)
    if filters.reason:
        query = query.join(CallReason, CallReason.call_id == Call.id).where(
            CallReason.code == filters.reason.value
        )
        at, key = CallReason.started_at, CallReason.call_id
        if filters.flagged is not None:
            query = query.where(CallReason.flagged == filters.flagged)
    if filters.flagged is not None:
        query = query.where(Call.flagged == filters.flagged)
    if filters.action:
        query = query.where(Call.action == filters.action.value)
    if filters.verdict:
        query = query.where(Call.verdict == filters.verdict.value)
    if filters.outcome:
        query = query.where(Call.outcome == filters.outcome.value)
    if filters.number:
        query = query.where(Call.caller_number == filters.number)
    if filters.since:
        query = query.where(at >= filters.since)
    if filters.until:
        query = query.where(at < filters.until)
    if filters.review_state:
        query = query.where(Call.review_state == filters.review_state.value)
    said = " ".join((filters.said or "").split())[:MAX_SAID_CHARS]
    if said:
        query = query.where(
            Call.id.in_(
                select(Transcript.call_id).where(
                    func.lower(Transcript.text).like(_like_pattern(said), escape="\\")
                )
            )
        )
    if cursor is not None:
        query = query.where(
            or_(at < cursor.started_at, and_(at == cursor.started_at, key < cursor.call_id))
        )
    query = (
        query.options(selectinload(Call.transcripts))
        .order_by(at.desc(), key.desc())
        .limit(limit + 1)
    )
    rows = (await session.execute(query)).scalars().all()
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], Cursor(last.started_at, last.id)
    return rows, None


async def get_call(session: AsyncSession, call_id: str) -> Call | None:
    """One call with its timeline."""
    return (
        await session.execute(
            select(Call)
            .options(selectinload(Call.events), selectinload(Call.transcripts))
            .where(Call.id == call_id)
        )
    ).scalar_one_or_none()


async def last_connected_call(
    session: AsyncSession,
    site: str,
    *,
    handset: Sequence[str] = (),
    dids: Sequence[str] = (),
) -> Call | None:
    """The newest call of ``site`` answered at a phone known as one of ``handset`` (its
    ``delivered_to``), or, with ``dids`` instead, the newest call to one of those numbers
    that Screener put through: "the last caller" of a desk phone's feature codes."""
    query = select(Call).where(Call.site == site)
    if handset:
        query = query.where(
            Call.delivered_to.in_(list(handset)), Call.delivery == Delivery.ANSWERED.value
        )
    elif dids:
        query = query.where(Call.did.in_(list(dids)), Call.outcome == Outcome.CONNECTED.value)
    else:
        return None
    query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()
