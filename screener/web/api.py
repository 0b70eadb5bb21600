"""The JSON API under ``/api/v1``: Bearer tokens, the same roles as the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from screener.auth_audit import record
from screener.db import calls_repo, lists_repo
from screener.db.models import ListEntry, NumberList
from screener.domain import Action, ListKind, ReasonCode
from screener.numbers import InvalidEntry
from screener.web.call_queries import VERDICTS, CallFilter, Cursor, find_calls
from screener.web.console_actions import (
    ActionError,
    block_or_allow,
    call_as_dict,
    review,
)
from screener.web.deps import Admin, Ctx, ListEditor, Reception
from screener.web.list_queries import EntrySearch, entries_page, require_entry
from screener.web.routes_lists import forget_counts
from screener.web.routes_policy import run_check

router = APIRouter(tags=["api"])


class ReviewIn(BaseModel):
    state: str = Field(description="scam, nuisance, legitimate or unsure", max_length=16)
    note: str | None = Field(None, max_length=2000)


class ListIn(BaseModel):
    name: str = Field(max_length=100)
    kind: ListKind
    action: Action | None = None
    description: str = Field("", max_length=2000)


class ListPatch(BaseModel):
    name: str | None = Field(None, max_length=100)
    kind: ListKind | None = None
    action: Action | None = None
    description: str | None = Field(None, max_length=2000)


class EntryIn(BaseModel):
    value: str = Field(max_length=64, description="E.164, national, or a prefix ending in *")
    label: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=2000)
    valid_from: datetime | None = None
    expires_at: datetime | None = None


class EntryPatch(BaseModel):
    label: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=2000)
    expires_at: datetime | None = None


class CheckIn(BaseModel):
    number: str = Field(max_length=256)
    name: str = Field("", max_length=256)
    trunk: str = Field("", max_length=128)
    withheld: bool = False


class BlockIn(BaseModel):
    note: str | None = Field(None, max_length=2000)
    expires_at: datetime | None = None


def list_as_dict(number_list: NumberList) -> dict[str, Any]:
    return {
        "id": number_list.id,
        "name": number_list.name,
        "kind": number_list.kind,
        "action": number_list.action,
        "description": number_list.description,
    }


def entry_as_dict(entry: ListEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "list_id": entry.list_id,
        "value": entry.value + ("*" if entry.is_prefix else ""),
        "is_prefix": entry.is_prefix,
        "label": entry.label,
        "note": entry.note,
        "source": entry.source,
        "added_by": entry.added_by,
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else None,
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
    }


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{field}: give a time zone (e.g. 2026-12-31T00:00:00Z)")
    return value


# -- calls -------------------------------------------------------------------


@router.get("/calls")
async def api_calls(
    user: Reception,
    ctx: Ctx,
    flagged: bool | None = None,
    verdict: str | None = Query(None, max_length=16),
    reason: str | None = Query(None, max_length=48),
    number: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    after: str | None = Query(None, max_length=120, description="`next` of the previous page"),
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    """Calls newest first, with filters; page on with ``after``."""
    if verdict and verdict not in VERDICTS:
        raise HTTPException(422, f"verdict must be one of {', '.join(VERDICTS)}")
    if reason and reason not in {c.value for c in ReasonCode}:
        raise HTTPException(422, "unknown reason code")
    e164 = ctx.analyser.normalise(number) if number else None
    if number and e164 is None:
        raise HTTPException(422, "number is not a phone number")
    filters = CallFilter(
        flagged=flagged,
        verdict=verdict,
        reason=reason,
        number=e164,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
    )
    async with ctx.database.sessions() as session:
        rows, cursor = await find_calls(session, filters, Cursor.decode(after), limit)
        calls = [call_as_dict(c) for c in rows]
    return {"calls": calls, "next": cursor.encode() if cursor else None}


@router.get("/calls/{call_id}")
async def api_call(call_id: str, user: Reception, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions() as session:
        call = await calls_repo.get_call(session, call_id[:32])
        if call is None:
            raise HTTPException(404, "no such call")
        return call_as_dict(call, events=True)


@router.post("/calls/{call_id}/review")
async def api_review(call_id: str, body: ReviewIn, user: Reception, ctx: Ctx) -> dict[str, Any]:
    try:
        call = await review(ctx, user, call_id[:32], body.state, body.note)
    except ActionError as exc:
        raise HTTPException(404 if "no such" in str(exc) else 422, str(exc)) from exc
    return {"id": call.id, "review_state": call.review_state, "reviewed_by": call.reviewed_by}


async def _block_or_allow(
    call_id: str, body: BlockIn, user: ListEditor, ctx: Ctx, block: bool
) -> dict[str, Any]:
    try:
        number_list, entry = await block_or_allow(
            ctx,
            user,
            call_id[:32],
            block=block,
            note=body.note,
            expires_at=_aware(body.expires_at, "expires_at"),
        )
    except (ActionError, lists_repo.ListError, InvalidEntry) as exc:
        raise HTTPException(404 if "no such" in str(exc) else 422, str(exc)) from exc
    forget_counts(ctx)
    return {"list": list_as_dict(number_list), "entry": entry_as_dict(entry)}


@router.post("/calls/{call_id}/block")
async def api_block(call_id: str, body: BlockIn, user: ListEditor, ctx: Ctx) -> dict[str, Any]:
    """Add the caller's number to the "Blocked from console" list."""
    return await _block_or_allow(call_id, body, user, ctx, True)


@router.post("/calls/{call_id}/allow")
async def api_allow(call_id: str, body: BlockIn, user: ListEditor, ctx: Ctx) -> dict[str, Any]:
    """Add the caller's number to the "Allowed from console" list."""
    return await _block_or_allow(call_id, body, user, ctx, False)


@router.post("/check")
async def api_check(body: CheckIn, user: Reception, ctx: Ctx) -> dict[str, Any]:
    """What Screener would do with a call from this number (as ``screener check --json``)."""
    return await run_check(ctx, body.number, body.name, body.trunk, body.withheld)


# -- lists -------------------------------------------------------------------


async def _list(session: AsyncSession, list_id: int) -> NumberList:
    found = await session.get(NumberList, list_id)
    if found is None:
        raise HTTPException(404, "no such list")
    return found


@router.get("/lists")
async def api_lists(user: ListEditor, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions() as session:
        rows = await lists_repo.all_lists(session)
    return {"lists": [{**list_as_dict(lst), "entries": n} for lst, n in rows]}


@router.post("/lists", status_code=201)
async def api_create_list(body: ListIn, user: Admin, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions.begin() as session:
        try:
            created = await lists_repo.create_list(
                session, body.name, body.kind, body.action, body.description
            )
        except lists_repo.ListError as exc:
            raise HTTPException(409, str(exc)) from exc
        await record(session, user.username, "list.create", created.name, list_as_dict(created))
        result = list_as_dict(created)
    forget_counts(ctx)
    return result


@router.patch("/lists/{list_id}")
async def api_update_list(list_id: int, body: ListPatch, user: Admin, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions.begin() as session:
        number_list = await _list(session, list_id)
        before = list_as_dict(number_list)
        try:
            await lists_repo.update_list(
                session,
                number_list,
                name=body.name,
                kind=body.kind,
                action=body.action,
                description=body.description,
            )
        except lists_repo.ListError as exc:
            raise HTTPException(409, str(exc)) from exc
        after = list_as_dict(number_list)
        await record(
            session,
            user.username,
            "list.update",
            number_list.name,
            {"before": before, "after": after},
        )
    return after


@router.delete("/lists/{list_id}", status_code=204)
async def api_delete_list(list_id: int, user: Admin, ctx: Ctx) -> None:
    async with ctx.database.sessions.begin() as session:
        number_list = await _list(session, list_id)
        name = number_list.name
        await lists_repo.delete_list(session, number_list)
        await record(session, user.username, "list.delete", name, {"list_id": list_id})
    forget_counts(ctx)


@router.get("/lists/{list_id}/entries")
async def api_entries(
    list_id: int,
    user: ListEditor,
    ctx: Ctx,
    search: str = Query("", max_length=200),
    after: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Entries; ``search`` is a number prefix (indexed) or label text."""
    async with ctx.database.sessions() as session:
        await _list(session, list_id)
        rows, next_after = await entries_page(
            session, list_id, EntrySearch.parse(ctx.analyser, search), after, limit
        )
        return {"entries": [entry_as_dict(e) for e in rows], "next": next_after}


@router.post("/lists/{list_id}/entries", status_code=201)
async def api_add_entry(list_id: int, body: EntryIn, user: ListEditor, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions.begin() as session:
        number_list = await _list(session, list_id)
        try:
            entry, created = await lists_repo.add_entry(
                session,
                ctx.analyser,
                number_list,
                lists_repo.EntryInput(
                    value=body.value,
                    label=body.label,
                    note=body.note,
                    source="api",
                    valid_from=_aware(body.valid_from, "valid_from"),
                    expires_at=_aware(body.expires_at, "expires_at"),
                ),
                user.username,
            )
        except (InvalidEntry, lists_repo.ListError) as exc:
            raise HTTPException(422, str(exc)) from exc
        await record(
            session,
            user.username,
            "entry.add" if created else "entry.update",
            f"{number_list.name}: {entry.value}",
            {"list_id": list_id, "value": entry.value, "via": "api"},
        )
        result = entry_as_dict(entry)
    forget_counts(ctx)
    return result


@router.patch("/lists/{list_id}/entries/{entry_id}")
async def api_edit_entry(
    list_id: int, entry_id: int, body: EntryPatch, user: ListEditor, ctx: Ctx
) -> dict[str, Any]:
    async with ctx.database.sessions.begin() as session:
        number_list = await _list(session, list_id)
        entry = await require_entry(session, list_id, entry_id)
        given = body.model_fields_set
        if "label" in given:
            entry.label = body.label
        if "note" in given:
            entry.note = body.note
        if "expires_at" in given:
            entry.expires_at = _aware(body.expires_at, "expires_at")
        entry.added_by = user.username
        await session.flush()
        await record(
            session,
            user.username,
            "entry.update",
            f"{number_list.name}: {entry.value}",
            {"list_id": list_id, "value": entry.value, "via": "api"},
        )
        return entry_as_dict(entry)


@router.delete("/lists/{list_id}/entries/{entry_id}", status_code=204)
async def api_remove_entry(list_id: int, entry_id: int, user: ListEditor, ctx: Ctx) -> None:
    async with ctx.database.sessions.begin() as session:
        number_list = await _list(session, list_id)
        entry = await require_entry(session, list_id, entry_id)
        value = entry.value + ("*" if entry.is_prefix else "")
        await session.delete(entry)
        await record(
            session,
            user.username,
            "entry.remove",
            f"{number_list.name}: {value}",
            {"list_id": list_id, "value": value, "via": "api"},
        )
    forget_counts(ctx)
