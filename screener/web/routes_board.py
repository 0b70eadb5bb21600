"""The live call board: the latest calls, updated by server-sent events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from jinja2 import Template
from starlette.responses import Response

from screener.calls.queries import CallFilter, find_calls, get_call
from screener.db.models import Call
from screener.domain.events import (
    CallChangedElsewhere,
    CallDecided,
    CallDelivered,
    CallEvent,
    CallFinished,
    CallReviewed,
    CallStarted,
)
from screener.web.context import WebContext, web_context
from screener.web.deps import Reception
from screener.web.rendering import render

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
    CallChangedElsewhere,
)


@router.get("/")
async def board(request: Request, user: Reception) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        calls, _ = await find_calls(session, CallFilter(), limit=BOARD_SIZE)
    return render(request, "board.html", {"calls": calls})


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
    }


def apply_event(row: dict[str, Any], event: CallEvent | CallChangedElsewhere) -> None:
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


def sse_message(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE message; every line of ``data`` gets its own ``data:`` field."""
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend("data: " + line for line in data.replace("\r", "").split("\n"))
    return "\n".join(lines) + "\n\n"


async def _row_for(
    ctx: WebContext, rows: dict[str, dict[str, Any]], event: CallEvent | CallChangedElsewhere
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
    with ctx.bus.subscribe(maxsize=500, kinds=BOARD_EVENTS) as subscription:
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
            assert isinstance(event, BOARD_EVENTS)
            try:
                row = await _row_for(ctx, rows, event)
            except Exception:
                log.exception("cannot load call %s for the board", event.call_id[:40])
                row = rows.setdefault(event.call_id, {"id": event.call_id, "reasons": []})
            apply_event(row, event)
            html = template.render(call=row, live=True)
            yield sse_message("call", " ".join(html.split("\n")), event.call_id[:40])


@router.get("/board/events")
async def board_events(request: Request, user: Reception) -> Response:
    ctx = web_context(request)
    return StreamingResponse(
        board_stream(request, ctx),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
