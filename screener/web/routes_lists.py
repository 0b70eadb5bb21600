"""Number lists: browse and edit entries (list editors), manage lists (admins)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from screener.auth_audit import record
from screener.db import lists_repo
from screener.db.models import NumberList
from screener.domain import Action, ListKind
from screener.numbers import InvalidEntry
from screener.web.context import WebContext, web_context
from screener.web.deps import Admin, ListEditor
from screener.web.list_queries import (
    LABEL_SCAN_WINDOW,
    EntrySearch,
    entries_page,
    require_entry,
)
from screener.web.rendering import flash, render

router = APIRouter()

COUNTS_CACHE_KEY = "list-counts"
COUNTS_TTL_SECONDS = 300.0


def parse_date(value: str, field: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value[:10]), dtime(), UTC)
    except ValueError as exc:
        raise HTTPException(400, f"{field}: use a date like 2026-12-31") from exc


def parse_kind(value: str) -> ListKind:
    try:
        return ListKind(value)
    except ValueError as exc:
        raise HTTPException(400, "unknown list kind") from exc


def parse_action(value: str) -> Action | None:
    if not value:
        return None
    try:
        return Action(value)
    except ValueError as exc:
        raise HTTPException(400, "unknown action") from exc


def forget_counts(ctx: WebContext) -> None:
    ctx.cache.pop(COUNTS_CACHE_KEY, None)


async def list_counts(ctx: WebContext, session: AsyncSession) -> list[tuple[NumberList, int]]:
    """Every list with its entry count; counting millions of rows is cached a while."""
    cached = ctx.cache.get(COUNTS_CACHE_KEY)
    lists = await all_lists_plain(session)
    if cached is not None and time.monotonic() - cached[0] < COUNTS_TTL_SECONDS:
        counts: dict[int, int] = cached[1]
        if all(lst.id in counts for lst in lists):
            return [(lst, counts[lst.id]) for lst in lists]
    rows = await lists_repo.all_lists(session)
    ctx.cache[COUNTS_CACHE_KEY] = (time.monotonic(), {lst.id: n for lst, n in rows})
    return rows


async def all_lists_plain(session: AsyncSession) -> list[NumberList]:
    from sqlalchemy import select

    return list((await session.execute(select(NumberList).order_by(NumberList.name))).scalars())


async def _require_list(session: AsyncSession, list_id: int) -> NumberList:
    found = await session.get(NumberList, list_id)
    if found is None:
        raise HTTPException(404, "no such list")
    return found


def _list_dict(number_list: NumberList) -> dict[str, Any]:
    return {"name": number_list.name, "kind": number_list.kind, "action": number_list.action}


@router.get("/lists")
async def lists_page(request: Request, user: ListEditor) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions() as session:
        rows = await list_counts(ctx, session)
    return render(
        request,
        "lists.html",
        {"lists": rows, "kinds": list(ListKind), "actions": list(Action)},
    )


@router.post("/admin/lists")
async def create_list(
    request: Request,
    user: Admin,
    name: str = Form(..., max_length=100),
    kind: str = Form(..., max_length=32),
    action: str = Form("", max_length=16),
    description: str = Form("", max_length=2000),
) -> Response:
    ctx = web_context(request)
    list_kind, list_action = parse_kind(kind), parse_action(action)
    async with ctx.database.sessions.begin() as session:
        try:
            created = await lists_repo.create_list(
                session, name, list_kind, list_action, description.strip()
            )
        except lists_repo.ListError as exc:
            raise HTTPException(400, str(exc)) from exc
        await record(session, user.username, "list.create", created.name, _list_dict(created))
        list_id = created.id
    forget_counts(ctx)
    flash(request, f"Created list \u201c{name.strip()}\u201d.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)


@router.get("/lists/{list_id}")
async def list_page(
    request: Request,
    user: ListEditor,
    list_id: int,
    search: str = Query("", max_length=200),
    after: str = Query("", max_length=40),
) -> Response:
    ctx = web_context(request)
    parsed = EntrySearch.parse(ctx.analyser, search)
    async with ctx.database.sessions() as session:
        number_list = await _require_list(session, list_id)
        entries, next_after = await entries_page(session, list_id, parsed, after or None)
    return render(
        request,
        "list.html",
        {
            "lst": number_list,
            "entries": entries,
            "search": search,
            "search_kind": "number" if parsed.prefix else ("label" if parsed.text else ""),
            "label_window": LABEL_SCAN_WINDOW,
            "next_after": next_after,
            "first_page": not after,
            "kinds": list(ListKind),
            "actions": list(Action),
        },
    )


@router.post("/admin/lists/{list_id}")
async def update_list(
    request: Request,
    user: Admin,
    list_id: int,
    name: str = Form(..., max_length=100),
    kind: str = Form(..., max_length=32),
    action: str = Form(..., max_length=16),
    description: str = Form("", max_length=2000),
) -> Response:
    ctx = web_context(request)
    list_kind, list_action = parse_kind(kind), parse_action(action)
    async with ctx.database.sessions.begin() as session:
        number_list = await _require_list(session, list_id)
        before = _list_dict(number_list)
        try:
            await lists_repo.update_list(
                session,
                number_list,
                name=name,
                kind=list_kind,
                action=list_action,
                description=description.strip(),
            )
        except lists_repo.ListError as exc:
            raise HTTPException(400, str(exc)) from exc
        await record(
            session,
            user.username,
            "list.update",
            number_list.name,
            {"before": before, "after": _list_dict(number_list)},
        )
    flash(request, "List saved.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)


@router.post("/admin/lists/{list_id}/delete")
async def delete_list(request: Request, user: Admin, list_id: int) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions.begin() as session:
        number_list = await _require_list(session, list_id)
        name = number_list.name
        await lists_repo.delete_list(session, number_list)
        await record(session, user.username, "list.delete", name, {"list_id": list_id})
    forget_counts(ctx)
    flash(request, f"Deleted list \u201c{name}\u201d.")
    return RedirectResponse("/lists", status_code=303)


@router.post("/lists/{list_id}/entries")
async def add_entry(
    request: Request,
    user: ListEditor,
    list_id: int,
    value: str = Form(..., max_length=64),
    label: str = Form("", max_length=200),
    note: str = Form("", max_length=2000),
    expires: str = Form("", max_length=32),
) -> Response:
    ctx = web_context(request)
    expires_at = parse_date(expires, "expires")
    async with ctx.database.sessions.begin() as session:
        number_list = await _require_list(session, list_id)
        try:
            entry, created = await lists_repo.add_entry(
                session,
                ctx.analyser,
                number_list,
                lists_repo.EntryInput(
                    value=value,
                    label=label.strip() or None,
                    note=note.strip() or None,
                    source="console",
                    expires_at=expires_at,
                ),
                user.username,
            )
        except (InvalidEntry, lists_repo.ListError) as exc:
            raise HTTPException(400, f"{value[:64]!r}: {exc}") from exc
        await record(
            session,
            user.username,
            "entry.add" if created else "entry.update",
            f"{number_list.name}: {entry.value}",
            {"list_id": list_id, "value": entry.value, "label": entry.label},
        )
        shown = entry.value + ("*" if entry.is_prefix else "")
    forget_counts(ctx)
    flash(request, f"{'Added' if created else 'Updated'} {shown}.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)


@router.post("/lists/{list_id}/entries/{entry_id}")
async def edit_entry(
    request: Request,
    user: ListEditor,
    list_id: int,
    entry_id: int,
    label: str = Form("", max_length=200),
    note: str = Form("", max_length=2000),
    expires: str = Form("", max_length=32),
) -> Response:
    ctx = web_context(request)
    expires_at = parse_date(expires, "expires")
    async with ctx.database.sessions.begin() as session:
        number_list = await _require_list(session, list_id)
        entry = await require_entry(session, list_id, entry_id)
        entry.label = label.strip() or None
        entry.note = note.strip() or None
        entry.expires_at = expires_at
        entry.added_by = user.username
        await session.flush()
        await record(
            session,
            user.username,
            "entry.update",
            f"{number_list.name}: {entry.value}",
            {"list_id": list_id, "value": entry.value, "label": entry.label},
        )
    flash(request, "Entry saved.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)


@router.post("/lists/{list_id}/entries/{entry_id}/delete")
async def remove_entry(request: Request, user: ListEditor, list_id: int, entry_id: int) -> Response:
    ctx = web_context(request)
    async with ctx.database.sessions.begin() as session:
        number_list = await _require_list(session, list_id)
        entry = await require_entry(session, list_id, entry_id)
        value = entry.value + ("*" if entry.is_prefix else "")
        await session.delete(entry)
        await session.flush()
        await record(
            session,
            user.username,
            "entry.remove",
            f"{number_list.name}: {value}",
            {"list_id": list_id, "value": value},
        )
    forget_counts(ctx)
    flash(request, f"Removed {value}.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)
