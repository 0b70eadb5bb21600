"""The audit log, searchable (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from screener.audit.log import search
from screener.web.context import web_context
from screener.web.deps import Admin
from screener.web.rendering import render
from screener.web.routes_calls import day_start, parse_day

router = APIRouter()


@router.get("/admin/audit")
async def audit_page(
    request: Request,
    user: Admin,
    q: str = Query("", max_length=200),
    since: str = Query("", max_length=32),
    before: int = Query(0, ge=0),
) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        entries = await search(
            session,
            text=q.strip() or None,
            since=day_start(parse_day(since), ctx.zone),
            before_id=before or None,
            limit=51,
        )
    more = len(entries) > 50
    entries = entries[:50]
    return render(
        request,
        "audit.html",
        {
            "entries": entries,
            "q": q,
            "since": since,
            "next_before": entries[-1].id if more and entries else None,
        },
    )
