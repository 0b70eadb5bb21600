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

from screener.db import calls_repo
from screener.events import CALL_OUTCOME, CALL_REVIEWED, CALL_STARTED, CALL_VERDICT, BusEvent
from screener.web.call_queries import CallFilter, find_calls
from screener.web.context import WebContext, web_context
from screener.web.deps import Reception
from screener.web.rendering import render

log = logging.getLogger(__name__)

router = APIRouter()

BOARD_SIZE = 50
KEEPALIVE_SECONDS = 15.0
BOARD_KINDS = {CALL_STARTED, CALL_VERDICT, CALL_OUTCOME, CALL_REVIEWED}
_ROW_FIELDS = (
    "caller_number_raw",
    "caller_name",
    "caller_number",
    "presentation",
    "did",
    "trunk",
    "action",
    "reasons",
    "flagged",
    "outcome",
    "verdict",
    "challenge_result",
    "review_state",
    "withheld",
)


@router.get("/")
async def board(request: Request, user: Reception) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        calls, _ = await find_calls(session, CallFilter(), limit=BOARD_SIZE)
    return render(request, "board.html", {"calls": calls})


def _row_from_call(call: Any) -> dict[str, Any]:
    row = {name: getattr(call, name) for name in _ROW_FIELDS}
    row["id"] = call.id
    row["started_at"] = call.started_at.isoformat()
    return row


def _apply(row: dict[str, Any], event: BusEvent) -> None:
    payload = event.payload
    for name in _ROW_FIELDS:
        if name in payload:
            row[name] = payload[name]
    if event.kind == CALL_VERDICT and "action" in payload:
        row["verdict"] = payload["action"]
    if "started_at" in payload and isinstance(payload["started_at"], str):
        row["started_at"] = payload["started_at"]


def sse_message(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE message; every line of ``data`` gets its own ``data:`` field."""
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend("data: " + line for line in data.replace("\r", "").split("\n"))
    return "\n".join(lines) + "\n\n"


async def _row_for(
    ctx: WebContext, rows: dict[str, dict[str, Any]], call_id: str
) -> dict[str, Any]:
    row = rows.get(call_id)
    if row is None:
        async with ctx.database.sessions() as session:
            call = await calls_repo.get_call(session, call_id)
        row = (
            _row_from_call(call)
            if call is not None
            else {**dict.fromkeys(_ROW_FIELDS), "id": call_id, "started_at": None}
        )
        if len(rows) > 500:
            rows.pop(next(iter(rows)))
        rows[call_id] = row
    return row


async def board_stream(request: Request, ctx: WebContext) -> AsyncIterator[str]:
    template: Template = ctx.templates.get_template("_board_row.html")
    rows: dict[str, dict[str, Any]] = {}
    with ctx.bus.subscribe(maxsize=500, kinds=BOARD_KINDS) as subscription:
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
            call_id = event.call_id or event.payload.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                continue
            try:
                row = await _row_for(ctx, rows, call_id)
            except Exception:
                log.exception("cannot load call %s for the board", call_id[:40])
                row = rows.setdefault(call_id, {"id": call_id})
            _apply(row, event)
            html = template.render(call=row, live=True)
            yield sse_message("call", " ".join(html.split("\n")), call_id[:40])


@router.get("/board/events")
async def board_events(request: Request, user: Reception) -> Response:
    ctx = web_context(request)
    return StreamingResponse(
        board_stream(request, ctx),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
