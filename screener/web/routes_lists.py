"""Number lists: browse and edit entries (list editors), manage lists (admins)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from starlette.responses import Response

from screener.db.models import NumberList
from screener.domain.numbers import InvalidEntry
from screener.domain.vocabulary import Action, ListKind
from screener.lists import service as lists_service
from screener.lists.queries import LABEL_SCAN_WINDOW, EntrySearch, entries_page
from screener.lists.repo import EntryInput, ListError, all_lists
from screener.lists.service import ImpersonatedNumber
from screener.web.context import WebContext, web_context
from screener.web.deps import Admin, ListEditor, actor
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


async def list_counts(ctx: WebContext) -> list[tuple[NumberList, int]]:
    """Every list with its entry count; counting millions of rows is cached a while.

    The cache is keyed on the lists' last change, so a change made here or on another
    instance shows at once.
    """
    async with ctx.database.sessions() as session:
        lists = list(
            (await session.execute(select(NumberList).order_by(NumberList.name))).scalars()
        )
        changed = (await session.execute(select(func.max(NumberList.updated_at)))).scalar()
        key = (len(lists), changed)
        cached = ctx.cache.get(COUNTS_CACHE_KEY)
        if cached is not None and time.monotonic() - cached[0] < COUNTS_TTL_SECONDS:
            cached_key, counts = cached[1]
            if cached_key == key:
                return [(lst, counts.get(lst.id, 0)) for lst in lists]
        rows = await all_lists(session)
    ctx.cache[COUNTS_CACHE_KEY] = (time.monotonic(), (key, {lst.id: n for lst, n in rows}))
    return rows


async def _require_list(ctx: WebContext, list_id: int) -> NumberList:
    async with ctx.database.sessions() as session:
        found = await session.get(NumberList, list_id)
    if found is None:
        raise HTTPException(404, "no such list")
    return found


@router.get("/lists")
async def lists_page(request: Request, user: ListEditor) -> Response:
    rows = await list_counts(web_context(request))
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
    try:
        created = await lists_service.create_list(
            ctx.uow(actor(request, user)), name, list_kind, list_action, description
        )
    except ListError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, f"Created list \u201c{created.name}\u201d.")
    return RedirectResponse(f"/lists/{created.id}", status_code=303)


async def _list_page(
    request: Request,
    list_id: int,
    search: str = "",
    after: str = "",
    *,
    add_form: dict[str, str] | None = None,
    add_error: str | None = None,
    needs_override: bool = False,
    status_code: int = 200,
) -> Response:
    ctx = web_context(request)
    parsed = EntrySearch.parse(ctx.analyser, search)
    async with ctx.database.sessions() as session:
        number_list = await session.get(NumberList, list_id)
        if number_list is None:
            raise HTTPException(404, "no such list")
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
            "add_form": add_form or {},
            "add_error": add_error,
            "needs_override": needs_override,
        },
        status_code=status_code,
    )


@router.get("/lists/{list_id}")
async def list_page(
    request: Request,
    user: ListEditor,
    list_id: int,
    search: str = Query("", max_length=200),
    after: str = Query("", max_length=40),
) -> Response:
    return await _list_page(request, list_id, search, after)


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
    await _require_list(ctx, list_id)
    try:
        await lists_service.update_list(
            ctx.uow(actor(request, user)),
            list_id,
            name=name,
            kind=list_kind,
            action=list_action,
            description=description,
        )
    except ListError as exc:
        raise HTTPException(400, str(exc)) from exc
    flash(request, "List saved.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)


@router.post("/admin/lists/{list_id}/delete")
async def delete_list(request: Request, user: Admin, list_id: int) -> Response:
    ctx = web_context(request)
    await _require_list(ctx, list_id)
    name = await lists_service.delete_list(ctx.uow(actor(request, user)), list_id)
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
    override: str = Form("", max_length=8),
) -> Response:
    ctx = web_context(request)
    form: dict[str, Any] = {"value": value, "label": label, "note": note, "expires": expires}
    try:
        expires_at = parse_date(expires, "Expires")
        changes = await lists_service.add_entries(
            ctx.uow(actor(request, user)),
            ctx.analyser,
            list_id,
            [
                EntryInput(
                    value=value,
                    label=label.strip() or None,
                    note=note.strip() or None,
                    source="console",
                    expires_at=expires_at,
                )
            ],
            override_impersonation=override == "yes",
        )
    except ImpersonatedNumber as exc:
        return await _list_page(
            request,
            list_id,
            add_form=form,
            add_error=str(exc),
            needs_override=True,
            status_code=409,
        )
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        return await _list_page(
            request, list_id, add_form=form, add_error=str(exc.detail), status_code=400
        )
    except (InvalidEntry, ListError) as exc:
        return await _list_page(
            request, list_id, add_form=form, add_error=f"{value[:64]}: {exc}", status_code=400
        )
    change = changes[0]
    flash(request, f"{'Added' if change.created else 'Updated'} {change.shown}.")
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
    fields = {
        "label": label.strip() or None,
        "note": note.strip() or None,
        "expires_at": parse_date(expires, "expires"),
    }
    await _require_list(ctx, list_id)
    try:
        await lists_service.update_entry(ctx.uow(actor(request, user)), list_id, entry_id, fields)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    flash(request, "Entry saved.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)


@router.post("/lists/{list_id}/entries/{entry_id}/delete")
async def remove_entry(request: Request, user: ListEditor, list_id: int, entry_id: int) -> Response:
    ctx = web_context(request)
    await _require_list(ctx, list_id)
    try:
        value = await lists_service.remove_entry(ctx.uow(actor(request, user)), list_id, entry_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    flash(request, f"Removed {value}.")
    return RedirectResponse(f"/lists/{list_id}", status_code=303)
