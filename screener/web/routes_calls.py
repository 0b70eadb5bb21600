"""The flagged-calls queue, the call page, reviews, and block/allow from a call."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.responses import Response

from screener.db import calls_repo
from screener.db.lists_repo import ListError
from screener.domain import ReasonCode
from screener.numbers import InvalidEntry
from screener.web.call_queries import VERDICTS, CallFilter, Cursor, find_calls
from screener.web.console_actions import ActionError, block_or_allow, expiry_from_days, review
from screener.web.context import web_context
from screener.web.deps import ListEditor, Reception
from screener.web.recordings import media_type, recording_path
from screener.web.rendering import REASON_LABELS, flash, render
from screener.web.routes_lists import forget_counts

router = APIRouter()

CALL_ID = r"^[A-Za-z0-9]{1,32}$"
REVIEW_CHOICES = ("scam", "nuisance", "legitimate", "unsure")
EXPIRY_CHOICES = ((0, "Never"), (1, "1 day"), (7, "7 days"), (30, "30 days"), (365, "1 year"))


def parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), UTC) if day else None


@router.get("/queue")
async def queue(
    request: Request,
    user: Reception,
    verdict: str = Query("", max_length=16),
    reason: str = Query("", max_length=48),
    since: str = Query("", max_length=32),
    until: str = Query("", max_length=32),
    number: str = Query("", max_length=64),
    review_state: str = Query("", max_length=16),
    after: str = Query("", max_length=120),
) -> Response:
    ctx = web_context(request)
    problems: list[str] = []
    if verdict and verdict not in VERDICTS:
        problems.append("Unknown verdict.")
        verdict = ""
    if reason and reason not in {c.value for c in ReasonCode}:
        problems.append("Unknown reason.")
        reason = ""
    if review_state and review_state not in calls_repo.REVIEW_STATES:
        review_state = ""
    since_day, until_day = parse_day(since), parse_day(until)
    normalised = ctx.analyser.normalise(number) if number.strip() else None
    if number.strip() and normalised is None:
        problems.append("That is not a phone number.")
    filters = CallFilter(
        flagged=True,
        verdict=verdict or None,
        reason=reason or None,
        number=normalised,
        since=day_start(since_day),
        until=day_start(until_day + timedelta(days=1)) if until_day else None,
        review_state=review_state or None,
    )
    calls: list[object] = []
    next_cursor = None
    if not (number.strip() and normalised is None):
        async with ctx.database.sessions() as session:
            rows, next_cursor = await find_calls(session, filters, Cursor.decode(after))
            calls = list(rows)
    query = {
        "verdict": verdict,
        "reason": reason,
        "since": since_day.isoformat() if since_day else "",
        "until": until_day.isoformat() if until_day else "",
        "number": number,
        "review_state": review_state,
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
            "verdicts": VERDICTS,
            "reasons": sorted(REASON_LABELS.items(), key=lambda kv: kv[1]),
            "review_states": calls_repo.REVIEW_STATES,
        },
    )


async def _load_call(request: Request, call_id: str) -> object:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        call = await calls_repo.get_call(session, call_id)
    if call is None:
        raise HTTPException(404, "no such call")
    return call


@router.get("/calls/{call_id}")
async def call_page(request: Request, user: Reception, call_id: str) -> Response:
    if not call_id.isalnum() or len(call_id) > 32:
        raise HTTPException(404, "no such call")
    ctx = web_context(request)
    call = await _load_call(request, call_id)
    has_recording = (
        recording_path(
            ctx.settings.ari.recordings_dir,
            getattr(call, "recording", None),
            ctx.settings.challenge.record_format,
        )
        is not None
    )
    return render(
        request,
        "call.html",
        {
            "call": call,
            "has_recording": has_recording,
            "review_choices": REVIEW_CHOICES,
            "expiry_choices": EXPIRY_CHOICES,
        },
    )


@router.get("/calls/{call_id}/recording")
async def call_recording(request: Request, user: Reception, call_id: str) -> Response:
    if not call_id.isalnum() or len(call_id) > 32:
        raise HTTPException(404, "no such call")
    ctx = web_context(request)
    call = await _load_call(request, call_id)
    path = recording_path(
        ctx.settings.ari.recordings_dir,
        getattr(call, "recording", None),
        ctx.settings.challenge.record_format,
    )
    if path is None:
        raise HTTPException(404, "no recording for this call")
    return FileResponse(path, media_type=media_type(path), headers={"Cache-Control": "no-store"})


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
        await review(ctx, user, call_id, state, note)
    except ActionError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, f"Marked as {state}.")
    return RedirectResponse(f"/calls/{call_id}", status_code=303)


async def _block_or_allow(
    request: Request, user: ListEditor, call_id: str, block: bool, note: str, days: int
) -> Response:
    ctx = web_context(request)
    expires_at = expiry_from_days(days, datetime.now(UTC))
    try:
        number_list, entry = await block_or_allow(
            ctx, user, call_id, block=block, note=note, expires_at=expires_at
        )
    except (ActionError, ListError, InvalidEntry) as exc:
        raise HTTPException(400, str(exc)) from exc
    forget_counts(ctx)
    until = f" until {expires_at:%Y-%m-%d}" if expires_at else ""
    flash(request, f"{entry.value} added to \u201c{number_list.name}\u201d{until}.")
    return RedirectResponse(f"/calls/{call_id}", status_code=303)


@router.post("/calls/{call_id}/block")
async def block_number(
    request: Request,
    user: ListEditor,
    call_id: str,
    note: str = Form("", max_length=2000),
    expires_days: int = Form(0, ge=0, le=3650),
) -> Response:
    return await _block_or_allow(request, user, call_id, True, note, expires_days)


@router.post("/calls/{call_id}/allow")
async def allow_number(
    request: Request,
    user: ListEditor,
    call_id: str,
    note: str = Form("", max_length=2000),
    expires_days: int = Form(0, ge=0, le=3650),
) -> Response:
    return await _block_or_allow(request, user, call_id, False, note, expires_days)
