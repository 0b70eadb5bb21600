"""Call records, their timelines, and the caller history the policy needs."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from screener.db.engine import driver_connection
from screener.db.lists_repo import utcnow
from screener.db.models import Call, CallEvent, CallReason
from screener.domain import CallerHistory, CallFacts, Verdict

MAX_STORED_TEXT = 256
"""Caller-controlled text is cut to this length before it is stored."""

REVIEW_STATES = ("unreviewed", "scam", "nuisance", "legitimate", "unsure")


def new_call_id() -> str:
    return uuid.uuid4().hex


def clip(value: str | None, limit: int = MAX_STORED_TEXT) -> str:
    """Caller-controlled text made safe to store: no NULs, bounded length."""
    if not value:
        return ""
    return value.replace("\x00", "\ufffd")[:limit]


async def caller_history(
    session: AsyncSession,
    e164: str | None,
    now: datetime,
    repeat_window: timedelta,
    challenge_window: timedelta,
) -> CallerHistory:
    """How often ``e164`` called recently and how its last challenge went."""
    if not e164:
        return CallerHistory()
    driver = await driver_connection(session)
    repeat_since, challenge_since = now - repeat_window, now - challenge_window
    if isinstance(driver, sqlite3.Connection):
        return sqlite_caller_history(driver, e164, repeat_since, challenge_since)
    if session.get_bind().dialect.name == "postgresql":
        return await pg_caller_history(driver, e164, repeat_since, challenge_since)
    recent = (
        await session.execute(
            select(func.count())
            .select_from(Call)
            .where(Call.caller_number == e164, Call.started_at >= now - repeat_window)
        )
    ).scalar_one()
    last = (
        await session.execute(
            select(Call.challenge_result, Call.ended_at, Call.started_at)
            .where(
                Call.caller_number == e164,
                Call.started_at >= now - challenge_window,
                Call.challenge_result.in_(("passed", "failed")),
            )
            .order_by(Call.started_at.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return CallerHistory(recent_calls=int(recent))
    return CallerHistory(
        recent_calls=int(recent),
        last_challenge_result=last[0],
        last_challenge_at=last[1] or last[2],
    )


_SQLITE_RECENT = "SELECT count(*) FROM calls WHERE caller_number = ? AND started_at >= ?"
_SQLITE_LAST_CHALLENGE = (
    "SELECT challenge_result, ended_at, started_at FROM calls "
    "WHERE caller_number = ? AND started_at >= ? AND challenge_result IN ('passed', 'failed') "
    "ORDER BY started_at DESC LIMIT 1"
)


# Both history questions in one round trip (each costs more than the query itself).
_PG_HISTORY = (
    "SELECT (SELECT count(*) FROM calls WHERE caller_number = $1 AND started_at >= $2), "
    "last.challenge_result, last.ended_at, last.started_at "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
    "SELECT challenge_result, ended_at, started_at FROM calls "
    "WHERE caller_number = $1 AND started_at >= $3 AND challenge_result IN ('passed', 'failed') "
    "ORDER BY started_at DESC LIMIT 1) AS last ON true"
)


async def pg_caller_history(
    connection: Any, e164: str, repeat_since: datetime, challenge_since: datetime
) -> CallerHistory:
    """:func:`caller_history` straight through asyncpg (see ``driver_connection``)."""
    row = await connection.fetchrow(_PG_HISTORY, e164, repeat_since, challenge_since)
    recent = int(row[0])
    if row[1] is None:
        return CallerHistory(recent_calls=recent)
    return CallerHistory(
        recent_calls=recent,
        last_challenge_result=row[1],
        last_challenge_at=row[2] or row[3],
    )


def _sqlite_time(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it on SQLite (so text comparison orders it)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_read_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


def sqlite_caller_history(
    connection: sqlite3.Connection, e164: str, repeat_since: datetime, challenge_since: datetime
) -> CallerHistory:
    """:func:`caller_history` on a stdlib SQLite connection, on this thread."""
    recent = connection.execute(_SQLITE_RECENT, (e164, _sqlite_time(repeat_since))).fetchone()
    last = connection.execute(
        _SQLITE_LAST_CHALLENGE, (e164, _sqlite_time(challenge_since))
    ).fetchone()
    if last is None:
        return CallerHistory(recent_calls=int(recent[0]))
    return CallerHistory(
        recent_calls=int(recent[0]),
        last_challenge_result=last[0],
        last_challenge_at=_sqlite_read_time(last[1]) or _sqlite_read_time(last[2]),
    )


def _facts_record(facts: CallFacts) -> dict[str, Any]:
    return {
        "caller_number": clip(facts.caller_number),
        "caller_name": clip(facts.caller_name),
        "presentation": clip(facts.presentation, 64) or None,
        "did": clip(facts.did, 64) or None,
        "trunk": clip(facts.trunk, 128) or None,
        "extra": {clip(k, 64): clip(v) for k, v in facts.extra},
    }


async def record_call(
    session: AsyncSession,
    facts: CallFacts,
    verdict: Verdict,
    *,
    call_id: str | None = None,
    site: str = "main",
    source: str = "ari",
    channel_id: str | None = None,
    started_at: datetime | None = None,
    decision_ms: float | None = None,
) -> Call:
    """Store a new call with its facts and verdict (and a ``decided`` timeline event)."""
    now = utcnow()
    number = verdict.number
    call = Call(
        id=call_id or new_call_id(),
        site=site,
        source=source,
        channel_id=channel_id,
        started_at=started_at or now,
        decided_at=now,
        caller_number_raw=clip(facts.caller_number),
        caller_name=clip(facts.caller_name),
        caller_number=number.e164,
        number_type=number.number_type.value,
        presentation=clip(facts.presentation, 64) or None,
        withheld=number.withheld,
        did=clip(facts.did, 64) or None,
        trunk=clip(facts.trunk, 128) or None,
        facts=_facts_record(facts),
        action=verdict.action.value,
        verdict=verdict.action.value,
        reasons=[r.as_dict() for r in verdict.reasons],
        flagged=verdict.flagged,
        decision_ms=decision_ms,
        challenge_attempts=0,
        review_state="unreviewed",
    )
    session.add(call)
    session.add(
        CallEvent(
            call_id=call.id,
            at=now,
            kind="decided",
            detail={"action": verdict.action.value, "reasons": list(verdict.reason_codes)},
        )
    )
    session.add_all(
        CallReason(call_id=call.id, code=code, started_at=call.started_at, flagged=call.flagged)
        for code in dict.fromkeys(verdict.reason_codes)
    )
    await session.flush()
    return call


async def add_event(
    session: AsyncSession, call_id: str, kind: str, detail: dict[str, Any] | None = None
) -> CallEvent:
    event = CallEvent(call_id=call_id, at=utcnow(), kind=kind, detail=detail or {})
    session.add(event)
    await session.flush()
    return event


async def finish_call(
    session: AsyncSession,
    call_id: str,
    *,
    outcome: str,
    verdict: str | None = None,
    step: str | None = None,
    detail: str | None = None,
    challenge_result: str | None = None,
    challenge_attempts: int | None = None,
    challenge_digit: str | None = None,
    recording: str | None = None,
) -> Call | None:
    """Record how a call ended (once: a second outcome for the same call is ignored)."""
    call = await session.get(Call, call_id)
    if call is None or call.outcome is not None:
        return call
    call.outcome = outcome
    call.outcome_step = step
    call.outcome_detail = detail
    call.ended_at = utcnow()
    if verdict is not None:
        call.verdict = verdict
    if challenge_result is not None:
        call.challenge_result = challenge_result
    if challenge_attempts is not None:
        call.challenge_attempts = challenge_attempts
    if challenge_digit is not None:
        call.challenge_digit = challenge_digit
    if recording is not None:
        call.recording = recording
    session.add(
        CallEvent(
            call_id=call_id,
            at=call.ended_at,
            kind="outcome",
            detail={
                k: v for k, v in {"outcome": outcome, "step": step, "detail": detail}.items() if v
            },
        )
    )
    await session.flush()
    return call


async def get_call(session: AsyncSession, call_id: str) -> Call | None:
    return (
        await session.execute(
            select(Call).options(selectinload(Call.events)).where(Call.id == call_id)
        )
    ).scalar_one_or_none()


async def list_calls(
    session: AsyncSession,
    *,
    flagged: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: str | None = None,
    verdict: str | None = None,
    reason: str | None = None,
    review_state: str | None = None,
    limit: int = 50,
    before: datetime | None = None,
) -> Sequence[Call]:
    """Calls newest first, with the filters the console and CLI offer."""
    query = select(Call)
    if flagged is not None:
        query = query.where(Call.flagged == flagged)
    if since is not None:
        query = query.where(Call.started_at >= since)
    if until is not None:
        query = query.where(Call.started_at < until)
    if before is not None:
        query = query.where(Call.started_at < before)
    if number:
        query = query.where(Call.caller_number == number)
    if verdict:
        query = query.where(Call.verdict == verdict)
    if review_state:
        query = query.where(Call.review_state == review_state)
    if reason:
        query = query.join(CallReason, CallReason.call_id == Call.id).where(
            CallReason.code == reason
        )
    query = query.order_by(Call.started_at.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def review_call(
    session: AsyncSession, call_id: str, state: str, note: str | None, reviewer: str
) -> Call:
    if state not in REVIEW_STATES:
        raise ValueError(f"review state must be one of {', '.join(REVIEW_STATES)}")
    call = await session.get(Call, call_id)
    if call is None:
        raise LookupError(f"no call {call_id}")
    call.review_state = state
    call.review_note = clip(note, 2000) or None
    call.reviewed_by = reviewer
    call.reviewed_at = utcnow()
    session.add(
        CallEvent(
            call_id=call_id,
            at=call.reviewed_at,
            kind="reviewed",
            detail={"state": state, "by": reviewer},
        )
    )
    await session.flush()
    return call
