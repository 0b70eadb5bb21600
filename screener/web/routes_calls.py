"""The flagged-calls queue, the call page, reviews, and block/allow from a call."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import TypeVar

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.responses import Response

from screener.calls import screen_store
from screener.calls import service as calls_service
from screener.calls.queries import CallFilter, Cursor, find_calls, get_call
from screener.calls.service import CallActionError, NoSuchCall
from screener.db.models import Call
from screener.domain.labels import OUTCOMES
from screener.domain.numbers import InvalidEntry
from screener.domain.rules import IMPERSONATION, RULES
from screener.domain.vocabulary import (
    REVIEW_CHOICES,
    Action,
    Outcome,
    ReasonCode,
    ReviewState,
    Verdict,
)
from screener.lists.repo import ListError
from screener.recordings import (
    RecordingUnavailable,
    ari_recording_status,
    media_type,
    open_ari_recording,
    recording_status,
)
from screener.web.context import web_context
from screener.web.deps import ListEditor, Reception, actor
from screener.web.rendering import flash, render

router = APIRouter()

EXPIRY_CHOICES = (
    (0, "For ever"),
    (1, "1 day"),
    (7, "7 days"),
    (30, "30 days"),
    (365, "1 year"),
)
E = TypeVar("E", bound=StrEnum)


def parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def day_start(day: date | None, zone: tzinfo = UTC) -> datetime | None:
    """Midnight at the start of ``day`` in ``zone`` (the console's zone), as UTC."""
    return datetime.combine(day, time(), zone).astimezone(UTC) if day else None


ANY = "any"
"""The review filter's value that shows every review state (the queue opens on unreviewed)."""
REACHED_RECEPTION = frozenset({Outcome.CONNECTED.value, Outcome.FAIL_OPEN.value})


def choice(kind: type[E], value: str, problems: list[str], what: str) -> E | None:
    """A filter value from the vocabulary; an unknown one is reported and ignored."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        problems.append(f"Unknown {what}.")
        return None


@router.get("/queue")
async def queue(
    request: Request,
    user: Reception,
    action: str = Query("", max_length=16),
    verdict: str = Query("", max_length=32),
    reason: str = Query("", max_length=48),
    since: str = Query("", max_length=32),
    until: str = Query("", max_length=32),
    number: str = Query("", max_length=64),
    review_state: str = Query(ReviewState.UNREVIEWED.value, max_length=16),
    said: str = Query("", max_length=100),
    after: str = Query("", max_length=120),
) -> Response:
    ctx = web_context(request)
    zone = ctx.zone
    problems: list[str] = []
    chosen_action = choice(Action, action, problems, "decision")
    chosen_verdict = choice(Verdict, verdict, problems, "result")
    chosen_reason = choice(ReasonCode, reason, problems, "reason")
    any_review = review_state in ("", ANY)
    chosen_review = None if any_review else choice(ReviewState, review_state, [], "review state")
    since_day, until_day = parse_day(since), parse_day(until)
    normalised = ctx.analyser.normalise(number) if number.strip() else None
    if number.strip() and normalised is None:
        problems.append("That is not a phone number.")
    filters = CallFilter(
        flagged=True,
        action=chosen_action,
        verdict=chosen_verdict,
        reason=chosen_reason,
        number=normalised,
        since=day_start(since_day, zone),
        until=day_start(until_day + timedelta(days=1), zone) if until_day else None,
        review_state=chosen_review,
        said=said.strip() or None,
    )
    calls: list[object] = []
    next_cursor = None
    if not (number.strip() and normalised is None):
        async with ctx.database.sessions() as session:
            rows, next_cursor = await find_calls(session, filters, Cursor.decode(after))
            calls = list(rows)
    query = {
        "action": chosen_action.value if chosen_action else "",
        "verdict": chosen_verdict.value if chosen_verdict else "",
        "reason": chosen_reason.value if chosen_reason else "",
        "since": since_day.isoformat() if since_day else "",
        "until": until_day.isoformat() if until_day else "",
        "number": number,
        "review_state": chosen_review.value if chosen_review else ANY,
        "said": said.strip(),
    }
    return render(
        request,
        "queue.html",
        {
            "calls": calls,
            "query": query,
            "next_after": next_cursor.encode() if next_cursor else None,
            "first_page": not after,
            "problems": problems,
            "actions": [a.value for a in Action],
            "verdicts": [v.value for v in Verdict],
            "reasons": sorted(((c.value, r.label) for c, r in RULES.items()), key=lambda kv: kv[1]),
            "review_states": [s.value for s in ReviewState],
        },
    )


def _check_id(call_id: str) -> str:
    if not call_id.isalnum() or len(call_id) > 32:
        raise HTTPException(404, "no such call")
    return call_id


async def _load_call(request: Request, call_id: str) -> Call:
    async with web_context(request).database.sessions() as session:
        call = await get_call(session, _check_id(call_id))
    if call is None:
        raise HTTPException(404, "no such call")
    return call


def _impersonation(call: Call) -> bool:
    return any(r.get("code") in {c.value for c in IMPERSONATION} for r in call.reasons)


def _ended_words(call: Call) -> str:
    """Why a call flagged as impersonation did not reach reception, in one sentence."""
    if call.outcome == Outcome.BLOCKED.value:
        return "Screener blocked this call."
    if call.outcome == Outcome.CHALLENGE_FAILED.value:
        return "Screener hung up on this caller: they failed the check."
    if call.outcome == Outcome.ABANDONED.value:
        return "The caller hung up before the call was put through."
    return f"{OUTCOMES.get(Outcome(call.outcome), call.outcome)}." if call.outcome else ""


@router.get("/calls/{call_id}")
async def call_page(request: Request, user: Reception, call_id: str) -> Response:
    ctx = web_context(request)
    call = await _load_call(request, call_id)
    async with ctx.database.sessions() as session:
        screening = await screen_store.screening_of(session, call.id)
    extra = sorted((call.facts or {}).get("extra", {}).items())
    recording = recording_status(ctx.settings, call.recording)
    if recording.ari_name is not None:
        recording = await ari_recording_status(ctx.settings, recording.ari_name)
    return render(
        request,
        "call.html",
        {
            "call": call,
            "extra": extra,
            "recording": recording,
            "speech": ctx.speech(),
            # Only a call that is (or may be) on reception's line can be hung up.
            "reached_reception": call.outcome is None or call.outcome in REACHED_RECEPTION,
            "ended_words": _ended_words(call),
            # (their advice says to hang up: the warning above says what to do instead)
            "impersonation_codes": {c.value for c in IMPERSONATION},
            "review_choices": [c.value for c in REVIEW_CHOICES],
            "expiry_choices": EXPIRY_CHOICES,
            # A number that impersonates an organisation is never offered "always allow".
            "may_allow": not _impersonation(call),
            "screening": screening,
        },
    )


@router.get("/calls/{call_id}/recording")
async def call_recording(request: Request, user: Reception, call_id: str) -> Response:
    ctx = web_context(request)
    call = await _load_call(request, call_id)
    status = recording_status(ctx.settings, call.recording)
    headers = {"Cache-Control": "no-store"}
    if status.path is not None:
        return FileResponse(status.path, media_type=media_type(status.path), headers=headers)
    if status.ari_name is None:
        raise HTTPException(404, status.why or "no recording for this call")
    try:
        audio = await open_ari_recording(ctx.settings, status.ari_name)
    except RecordingUnavailable as exc:
        raise HTTPException(404, str(exc)) from exc
    if audio.length and audio.length.isdigit():
        headers["Content-Length"] = audio.length
    return StreamingResponse(audio.chunks(), media_type=audio.media_type, headers=headers)


@router.post("/calls/{call_id}/review")
async def review_page(
    request: Request,
    user: Reception,
    call_id: str,
    state: str = Form(..., max_length=16),
    note: str = Form("", max_length=2000),
) -> Response:
    ctx = web_context(request)
    try:
        call = await calls_service.review_call(
            ctx.uow(actor(request, user)), _check_id(call_id), state, note
        )
    except NoSuchCall as exc:
        raise HTTPException(404, str(exc)) from exc
    except CallActionError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, f"Marked as {call.review_state}.")
    return RedirectResponse(f"/calls/{call_id}", status_code=303)


async def _list_caller(
    request: Request, user: ListEditor, call_id: str, block: bool, note: str, days: int
) -> Response:
    ctx = web_context(request)
    expires_at = calls_service.expiry_from_days(days, datetime.now(UTC))
    try:
        listed = await calls_service.list_caller(
            ctx.uow(actor(request, user)),
            ctx.analyser,
            _check_id(call_id),
            block=block,
            note=note,
            expires_at=expires_at,
        )
    except NoSuchCall as exc:
        raise HTTPException(404, str(exc)) from exc
    except (CallActionError, ListError, InvalidEntry) as exc:
        raise HTTPException(400, str(exc)) from exc
    until = f" until {expires_at:%Y-%m-%d}" if expires_at else " for ever"
    flash(request, f"{listed.entry.value} added to \u201c{listed.number_list.name}\u201d{until}.")
    return RedirectResponse(f"/calls/{call_id}", status_code=303)


@router.post("/calls/{call_id}/block")
async def block_number(
    request: Request,
    user: ListEditor,
    call_id: str,
    note: str = Form("", max_length=2000),
    expires_days: int = Form(0, ge=0, le=3650),
) -> Response:
    return await _list_caller(request, user, call_id, True, note, expires_days)


@router.post("/calls/{call_id}/allow")
async def allow_number(
    request: Request,
    user: ListEditor,
    call_id: str,
    note: str = Form("", max_length=2000),
    expires_days: int = Form(0, ge=0, le=3650),
) -> Response:
    return await _list_caller(request, user, call_id, False, note, expires_days)
