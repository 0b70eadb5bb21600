"""The live call board: the latest calls, updated by server-sent events, with a card for
each call waiting for reception's decision (live screening, :mod:`screener.web.screen_board`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from jinja2 import Template
from starlette.responses import Response

from screener.calls import screen_decisions, screen_store
from screener.calls.queries import CallFilter, find_calls, get_call
from screener.calls.screen_decisions import AlreadyDecided, parse_decision
from screener.calls.service import CallActionError, NoSuchCall
from screener.db.models import Call, Transcript
from screener.domain.events import (
    CallChangedElsewhere,
    CallDecided,
    CallDelivered,
    CallEvent,
    CallFinished,
    CallReviewed,
    CallStarted,
    CallTranscribed,
)
from screener.domain.numbers import InvalidEntry
from screener.domain.screen_events import ScreenEvent
from screener.domain.vocabulary import ScreenDecision
from screener.lists.repo import ListError
from screener.web.context import WebContext, web_context
from screener.web.deps import Reception, actor
from screener.web.rendering import flash, render
from screener.web.screen_board import SCREEN_EVENTS, ScreenCards, ScreeningView

log = logging.getLogger(__name__)

router = APIRouter()

BOARD_SIZE = 50
KEEPALIVE_SECONDS = 15.0
REMEMBERED_ROWS = 500
BOARD_EVENTS = (
    CallStarted,
    CallDecided,
    CallFinished,
    CallDelivered,
    CallReviewed,
    CallTranscribed,
    CallChangedElsewhere,
)


@router.get("/")
async def board(request: Request, user: Reception) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        calls, _ = await find_calls(session, CallFilter(), limit=BOARD_SIZE)
    return render(request, "board.html", {"calls": calls, "speech": ctx.speech()})


def _row_from_call(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "started_at": call.started_at.isoformat(),
        "caller_number_raw": call.caller_number_raw,
        "caller_name": call.caller_name,
        "caller_number": call.caller_number,
        "withheld": call.withheld,
        "flagged": call.flagged,
        "reasons": call.reasons,
        "action": call.action,
        "verdict": call.verdict,
        "outcome": call.outcome,
        "delivery": call.delivery,
        "review_state": call.review_state,
        "transcript": transcript_view(call.transcript),
    }


def transcript_view(transcript: Transcript | None) -> dict[str, Any] | None:
    """What a board row shows of a transcript."""
    if transcript is None:
        return None
    return {"status": transcript.status, "text": transcript.text, "claims": transcript.claims}


def apply_event(row: dict[str, Any], event: CallEvent | ScreenEvent | CallChangedElsewhere) -> None:
    """Bring a board row up to date with one call event."""
    if isinstance(event, CallStarted):
        row.update(
            started_at=event.at.isoformat(),
            caller_number_raw=event.facts.caller_number,
            caller_name=event.facts.caller_name,
            caller_number=event.caller_number,
        )
    elif isinstance(event, CallDecided):
        decision = event.decision
        row.update(
            action=decision.action.value,
            reasons=[r.as_dict() for r in decision.reasons],
            flagged=decision.flagged,
            withheld=decision.number.withheld,
        )
    elif isinstance(event, CallFinished):
        row.update(
            outcome=event.ending.outcome.value,
            verdict=event.ending.verdict.value if event.ending.verdict else None,
        )
    elif isinstance(event, CallDelivered):
        row["delivery"] = event.delivery.value
    elif isinstance(event, CallReviewed):
        row["review_state"] = event.review_state.value
    elif isinstance(event, CallTranscribed):
        row["transcript"] = {
            "status": event.status.value,
            "text": event.text,
            "claims": [claim.as_dict() for claim in event.claims],
        }
        row["flagged"] = event.flagged
        reasons = list(row.get("reasons") or [])
        if event.reason is not None and event.reason.as_dict() not in reasons:
            row["reasons"] = [*reasons, event.reason.as_dict()]  # (a row read afresh has it)


def sse_message(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE message; every line of ``data`` gets its own ``data:`` field."""
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend("data: " + line for line in data.replace("\r", "").split("\n"))
    return "\n".join(lines) + "\n\n"


async def _row_for(
    ctx: WebContext,
    rows: dict[str, dict[str, Any]],
    event: CallEvent | ScreenEvent | CallChangedElsewhere,
) -> dict[str, Any]:
    """The board's row for the event's call: from memory, or the database for an older call
    or one another Screener process handled (always read afresh)."""
    row = rows.get(event.call_id)
    if row is None or isinstance(event, CallChangedElsewhere):
        row = {"id": event.call_id, "started_at": None, "reasons": [], "review_state": None}
        if not isinstance(event, CallStarted):
            async with ctx.database.sessions() as session:
                call = await get_call(session, event.call_id)
            if call is not None:
                row = _row_from_call(call)
        if len(rows) >= REMEMBERED_ROWS:
            rows.pop(next(iter(rows)))
        rows[event.call_id] = row
    return row


async def board_stream(request: Request, ctx: WebContext) -> AsyncIterator[str]:
    template: Template = ctx.templates.get_template("_board_row.html")
    rows: dict[str, dict[str, Any]] = {}
    cards = ScreenCards(ctx, request)
    # An open stream of a signed-in user is a board being watched: screened callers wait.
    with (
        ctx.bus.subscribe(maxsize=500, kinds=BOARD_EVENTS + SCREEN_EVENTS) as subscription,
        ctx.presence.watching(),
    ):
        yield "retry: 3000\n\n"
        while True:
            try:
                # asyncio.timeout, unlike wait_for on 3.11, never swallows a cancellation
                # (a disconnecting browser must end this loop and its subscription).
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    event = await subscription.get()
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keepalive\n\n"
                continue
            assert isinstance(event, BOARD_EVENTS + SCREEN_EVENTS)
            try:
                row = await _row_for(ctx, rows, event)
            except Exception:
                log.exception("cannot load call %s for the board", event.call_id[:40])
                row = rows.setdefault(event.call_id, {"id": event.call_id, "reasons": []})
            apply_event(row, event)
            html = template.render(call=row, live=True)
            yield sse_message("call", " ".join(html.split("\n")), event.call_id[:40])
            try:
                card = await cards.message(event, row)
            except Exception:
                log.exception("cannot show the waiting call %s", event.call_id[:40])
                card = None
            if card is not None:
                yield sse_message("waiting", " ".join(card.split("\n")))


@router.get("/board/events")
async def board_events(request: Request, user: Reception) -> Response:
    ctx = web_context(request)
    return StreamingResponse(
        board_stream(request, ctx),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# Live screening: the waiting calls, and reception's decision ---------------------------------


async def _card(ctx: WebContext, request: Request, call_id: str, notice: str | None) -> str:
    async with ctx.database.sessions() as session:
        call = await get_call(session, call_id)
        screening = await screen_store.screening_of(session, call_id)
    if call is None or screening is None:
        raise HTTPException(404, "no such call waiting")
    cards = ScreenCards(ctx, request)
    return cards.render(
        _row_from_call(call), ScreeningView.of(screening), await cards.lists(), notice
    )


@router.get("/board/waiting")
async def waiting_calls(request: Request, user: Reception) -> Response:
    """The cards of the calls waiting for reception now (the board loads them, and loads
    them again whenever its live stream reconnects)."""
    ctx = web_context(request)
    cards = ScreenCards(ctx, request)
    lists = await cards.lists()
    async with ctx.database.sessions() as session:
        waiting = await screen_store.waiting_calls(session)
        html = [cards.render(_row_from_call(c), ScreeningView.of(s), lists) for c, s in waiting]
    return HTMLResponse("".join(html), headers={"Cache-Control": "no-store"})


@router.post("/board/calls/{call_id}/decision")
async def decide_waiting_call(
    request: Request,
    user: Reception,
    call_id: str,
    decision: str = Form(..., max_length=16),
    list_id: int | None = Form(None),
) -> Response:
    """Connect, voicemail, decline or block a waiting call (block needs the right to edit
    lists, as blocking from a call page does). htmx gets the card back, with a notice when
    somebody else decided first or the call cannot be decided."""
    ctx = web_context(request)
    if not call_id.isalnum() or len(call_id) > 32:
        raise HTTPException(404, "no such call")
    notice: str | None = None
    try:
        chosen = parse_decision(decision)
        if chosen is ScreenDecision.BLOCK and not user.may_edit_lists:
            raise HTTPException(403, "you need the right to edit lists to block a number")
        await screen_decisions.decide_waiting_call(
            ctx.uow(actor(request, user)),
            ctx.analyser,
            call_id,
            chosen.value,
            list_id=list_id if chosen is ScreenDecision.BLOCK else None,
        )
    except AlreadyDecided as exc:
        notice = f"{exc.decided.decided_by} decided first."
    except NoSuchCall as exc:
        raise HTTPException(404, str(exc)) from exc
    except (CallActionError, ListError, InvalidEntry) as exc:
        notice = f"Not done: {exc}."
    if request.headers.get("hx-request"):
        return HTMLResponse(await _card(ctx, request, call_id, notice))
    flash(request, notice or "Done.")
    return RedirectResponse("/", status_code=303)
