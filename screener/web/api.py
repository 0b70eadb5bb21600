"""The JSON API under ``/api/v1``: Bearer tokens, the same roles and use cases as the pages.

Every answer has a declared response model (the OpenAPI document lists them), and every
error is ``{"detail": "..."}`` (see :mod:`screener.web.app`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from screener.calls import service as calls_service
from screener.calls.queries import CallFilter, Cursor, find_calls, get_call
from screener.calls.service import CallActionError, NoSuchCall
from screener.db.models import Call, ListEntry, NumberList, Transcript
from screener.domain.numbers import InvalidEntry
from screener.domain.rules import RULES
from screener.domain.vocabulary import Action, ListKind, Outcome, ReasonCode, ReviewState, Verdict
from screener.lists import service as lists_service
from screener.lists.queries import EntrySearch, entries_page
from screener.lists.repo import EntryInput, ListError, all_lists
from screener.lists.service import ImpersonatedNumber
from screener.web.deps import Admin, Ctx, ListEditor, Reception, actor
from screener.web.routes_policy import run_check

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A per-user API token (`screener users token NAME`, or the Users page): "
    "`Authorization: Bearer scr_...`",
)
"""Declares the bearer scheme in the OpenAPI document; :func:`deps.current_user` checks it."""

E = TypeVar("E", bound=StrEnum)


class ErrorOut(BaseModel):
    """Every error: one sentence (validation errors: ``field: message; ...``)."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorOut,
        "description": "no token (`authentication required`) or a bad or revoked one "
        "(`invalid or revoked token`)",
    },
    403: {"model": ErrorOut, "description": "the token's user lacks the role"},
    404: {"model": ErrorOut, "description": "no such call, list or entry"},
    422: {"model": ErrorOut, "description": "bad input (`field: message; ...`)"},
}

router = APIRouter(tags=["api"], dependencies=[Depends(BEARER)], responses=ERRORS)


class ReasonOut(BaseModel):
    code: str = Field(description="a rule code, as in GET /rules")
    action: str
    explanation: str
    advice: str | None = None


class ClaimOut(BaseModel):
    category: str = Field(
        description="police, hmrc, bank, tech_support, court, courier or gift_card_crypto"
    )
    phrase: str = Field(description="the words of the transcript that make the claim")
    start: int = Field(description="where the phrase starts in the transcript")
    end: int
    term: str = Field(description="the claim list's entry it matched")


class TranscriptOut(BaseModel):
    recording: str
    status: str = Field(description="done, skipped, failed or timed_out")
    text: str = Field(description="what the caller said (untrusted text)")
    claims: list[ClaimOut]
    detail: str | None = Field(description="why there is no transcript")
    model: str
    audio_seconds: float | None
    total_seconds: float | None = Field(
        description="from the end of the recording to the transcript"
    )
    recorded_at: datetime
    created_at: datetime


class TimelineEventOut(BaseModel):
    at: datetime
    kind: str
    detail: dict[str, Any]


class CallOut(BaseModel):
    id: str
    site: str
    source: str = Field(description="ari, agi or demo")
    started_at: datetime
    decided_at: datetime | None
    ended_at: datetime | None
    caller_number_raw: str = Field(description="the caller ID as the network gave it")
    caller_name: str
    caller_number: str | None = Field(description="E.164, when the caller ID is a number")
    number_type: str
    presentation: str | None = Field(description="Asterisk's CALLERID(pres)")
    withheld: bool
    did: str | None
    trunk: str | None
    extra: dict[str, Any]
    action: str | None = Field(description="the decision: allow, challenge, screen or block")
    verdict: str | None = Field(description="the result, after any challenge")
    reasons: list[ReasonOut]
    flagged: bool
    challenge_result: str | None
    outcome: str | None
    outcome_step: str | None
    delivery: str | None
    recording: str | None
    transcript: TranscriptOut | None = Field(
        description="what the caller said in their recording (the latest one), if transcribed"
    )
    review_state: str
    review_note: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


class CallDetailOut(CallOut):
    events: list[TimelineEventOut] = Field(description="the call's timeline, oldest first")


class CallsPageOut(BaseModel):
    calls: list[CallOut]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")


class ReviewOut(BaseModel):
    id: str
    review_state: str
    reviewed_by: str | None


class ListOut(BaseModel):
    id: int
    name: str
    kind: ListKind
    action: Action
    description: str


class ListCountOut(ListOut):
    entries: int


class ListsOut(BaseModel):
    lists: list[ListCountOut]


class EntryOut(BaseModel):
    id: int
    list_id: int
    value: str = Field(description="E.164, or a prefix ending in *")
    is_prefix: bool
    label: str | None
    note: str | None
    source: str | None
    added_by: str | None
    valid_from: datetime | None
    expires_at: datetime | None


class EntriesPageOut(BaseModel):
    entries: list[EntryOut]
    next: str | None


class ListedOut(BaseModel):
    """The caller's number on a console list (block or always allow)."""

    model_config = ConfigDict(populate_by_name=True)

    number_list: ListOut = Field(alias="list")
    entry: EntryOut


class CheckOut(BaseModel):
    input: str
    number: str | None = Field(description="E.164")
    type: str
    withheld: bool
    valid: bool
    problems: list[str]
    matches: list[dict[str, Any]]
    action: Action
    reasons: list[ReasonOut]


class RuleOut(BaseModel):
    code: str
    group: str
    label: str
    summary: str
    default_action: Action | None
    configurable: bool
    impersonation: bool
    advice: str | None


class RulesOut(BaseModel):
    rules: list[RuleOut]


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
    override_impersonation: bool = Field(
        False,
        description="Add a number that is on a do-not-originate or trusted-brand list to an "
        "allow list anyway (recorded in the audit log)",
    )


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


def transcript_as_dict(transcript: Transcript | None) -> dict[str, Any] | None:
    if transcript is None:
        return None
    return {
        "recording": transcript.recording,
        "status": transcript.status,
        "text": transcript.text,
        "claims": transcript.claims,
        "detail": transcript.detail,
        "model": transcript.model,
        "audio_seconds": transcript.audio_seconds,
        "total_seconds": transcript.total_seconds,
        "recorded_at": transcript.recorded_at.isoformat(),
        "created_at": transcript.created_at.isoformat(),
    }


def call_as_dict(call: Call, events: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": call.id,
        "site": call.site,
        "source": call.source,
        "started_at": call.started_at.isoformat(),
        "decided_at": call.decided_at.isoformat() if call.decided_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "caller_number_raw": call.caller_number_raw,
        "caller_name": call.caller_name,
        "caller_number": call.caller_number,
        "number_type": call.number_type,
        "presentation": call.presentation,
        "withheld": call.withheld,
        "did": call.did,
        "trunk": call.trunk,
        "extra": (call.facts or {}).get("extra", {}),
        "action": call.action,
        "verdict": call.verdict,
        "reasons": call.reasons,
        "flagged": call.flagged,
        "challenge_result": call.challenge_result,
        "outcome": call.outcome,
        "outcome_step": call.outcome_step,
        "delivery": call.delivery,
        "recording": call.recording,
        "transcript": transcript_as_dict(call.transcript),
        "review_state": call.review_state,
        "review_note": call.review_note,
        "reviewed_by": call.reviewed_by,
        "reviewed_at": call.reviewed_at.isoformat() if call.reviewed_at else None,
    }
    if events:
        data["events"] = [
            {"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in call.events
        ]
    return data


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{field}: give a time zone (e.g. 2026-12-31T00:00:00Z)")
    return value


def _member(kind: type[E], value: str | None, field: str) -> E | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise HTTPException(422, f"{field} must be one of {allowed}") from None


# -- calls -------------------------------------------------------------------


@router.get("/calls", summary="Calls, newest first", response_model=CallsPageOut)
async def api_calls(
    user: Reception,
    ctx: Ctx,
    flagged: bool | None = None,
    action: str | None = Query(None, max_length=16, description="the decision"),
    verdict: str | None = Query(None, max_length=32, description="the result"),
    outcome: str | None = Query(None, max_length=32),
    reason: str | None = Query(None, max_length=48),
    review_state: str | None = Query(None, max_length=16),
    number: str | None = Query(None, max_length=64),
    said: str | None = Query(
        None, max_length=100, description="words the caller said (in a transcript)"
    ),
    since: datetime | None = None,
    until: datetime | None = None,
    after: str | None = Query(None, max_length=120, description="`next` of the previous page"),
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    """Calls newest first, with filters; page on with ``after``."""
    e164 = ctx.analyser.normalise(number) if number else None
    if number and e164 is None:
        raise HTTPException(422, "number is not a phone number")
    filters = CallFilter(
        flagged=flagged,
        action=_member(Action, action, "action"),
        verdict=_member(Verdict, verdict, "verdict"),
        outcome=_member(Outcome, outcome, "outcome"),
        reason=_member(ReasonCode, reason, "reason"),
        review_state=_member(ReviewState, review_state, "review_state"),
        number=e164,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        said=said,
    )
    async with ctx.database.sessions() as session:
        rows, cursor = await find_calls(session, filters, Cursor.decode(after), limit)
        calls = [call_as_dict(c) for c in rows]
    return {"calls": calls, "next": cursor.encode() if cursor else None}


@router.get("/calls/{call_id}", summary="One call with its timeline", response_model=CallDetailOut)
async def api_call(call_id: str, user: Reception, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions() as session:
        call = await get_call(session, call_id[:32])
        if call is None:
            raise HTTPException(404, "no such call")
        return call_as_dict(call, events=True)


@router.post("/calls/{call_id}/review", summary="Review a call", response_model=ReviewOut)
async def api_review(
    call_id: str, body: ReviewIn, request: Request, user: Reception, ctx: Ctx
) -> dict[str, Any]:
    try:
        call = await calls_service.review_call(
            ctx.uow(actor(request, user)), call_id[:32], body.state, body.note
        )
    except NoSuchCall as exc:
        raise HTTPException(404, str(exc)) from exc
    except CallActionError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"id": call.id, "review_state": call.review_state, "reviewed_by": call.reviewed_by}


async def _list_caller(
    call_id: str, body: BlockIn, request: Request, user: ListEditor, ctx: Ctx, block: bool
) -> dict[str, Any]:
    try:
        listed = await calls_service.list_caller(
            ctx.uow(actor(request, user)),
            ctx.analyser,
            call_id[:32],
            block=block,
            note=body.note,
            expires_at=_aware(body.expires_at, "expires_at"),
        )
    except NoSuchCall as exc:
        raise HTTPException(404, str(exc)) from exc
    except ImpersonatedNumber as exc:
        raise HTTPException(409, str(exc)) from exc
    except (CallActionError, ListError, InvalidEntry) as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"list": list_as_dict(listed.number_list), "entry": entry_as_dict(listed.entry)}


@router.post(
    "/calls/{call_id}/block", summary="Block the caller's number", response_model=ListedOut
)
async def api_block(
    call_id: str, body: BlockIn, request: Request, user: ListEditor, ctx: Ctx
) -> dict[str, Any]:
    """Add the caller's number to the "Blocked from console" list."""
    return await _list_caller(call_id, body, request, user, ctx, True)


@router.post(
    "/calls/{call_id}/allow", summary="Always allow the caller's number", response_model=ListedOut
)
async def api_allow(
    call_id: str, body: BlockIn, request: Request, user: ListEditor, ctx: Ctx
) -> dict[str, Any]:
    """Add the caller's number to the "Allowed from console" list (409 for a number that
    impersonates an organisation: it is never allowed from a call)."""
    return await _list_caller(call_id, body, request, user, ctx, False)


@router.post("/check", summary="What Screener would do with a number", response_model=CheckOut)
async def api_check(body: CheckIn, user: Reception, ctx: Ctx) -> dict[str, Any]:
    """What Screener would do with a call from this number (as ``screener check --json``)."""
    return await run_check(ctx, body.number, body.name, body.trunk, body.withheld)


@router.get("/rules", summary="Every screening rule", response_model=RulesOut)
async def api_rules(user: Reception) -> dict[str, Any]:
    """Every screening rule: its code, label, explanation, default action and advice."""
    return {
        "rules": [
            {
                "code": r.code.value,
                "group": r.group.value,
                "label": r.label,
                "summary": r.summary,
                "default_action": r.default_action.value if r.default_action else None,
                "configurable": r.configurable,
                "impersonation": r.impersonation,
                "advice": r.advice,
            }
            for r in RULES.values()
        ]
    }


# -- lists -------------------------------------------------------------------


async def _list(ctx: Ctx, list_id: int) -> NumberList:
    async with ctx.database.sessions() as session:
        found = await session.get(NumberList, list_id)
    if found is None:
        raise HTTPException(404, "no such list")
    return found


@router.get("/lists", summary="Lists with their entry counts", response_model=ListsOut)
async def api_lists(user: ListEditor, ctx: Ctx) -> dict[str, Any]:
    async with ctx.database.sessions() as session:
        rows = await all_lists(session)
    return {"lists": [{**list_as_dict(lst), "entries": n} for lst, n in rows]}


@router.post(
    "/lists",
    summary="Create a list",
    status_code=201,
    response_model=ListOut,
    responses={409: {"model": ErrorOut, "description": "a list of that name exists"}},
)
async def api_create_list(body: ListIn, request: Request, user: Admin, ctx: Ctx) -> dict[str, Any]:
    try:
        created = await lists_service.create_list(
            ctx.uow(actor(request, user)), body.name, body.kind, body.action, body.description
        )
    except ListError as exc:
        raise HTTPException(409, str(exc)) from exc
    return list_as_dict(created)


@router.patch("/lists/{list_id}", summary="Change a list", response_model=ListOut)
async def api_update_list(
    list_id: int, body: ListPatch, request: Request, user: Admin, ctx: Ctx
) -> dict[str, Any]:
    await _list(ctx, list_id)
    try:
        updated = await lists_service.update_list(
            ctx.uow(actor(request, user)),
            list_id,
            name=body.name,
            kind=body.kind,
            action=body.action,
            description=body.description,
        )
    except ListError as exc:
        raise HTTPException(409, str(exc)) from exc
    return list_as_dict(updated)


@router.delete("/lists/{list_id}", summary="Delete a list", status_code=204)
async def api_delete_list(list_id: int, request: Request, user: Admin, ctx: Ctx) -> None:
    await _list(ctx, list_id)
    await lists_service.delete_list(ctx.uow(actor(request, user)), list_id)


@router.get("/lists/{list_id}/entries", summary="A list's entries", response_model=EntriesPageOut)
async def api_entries(
    list_id: int,
    user: ListEditor,
    ctx: Ctx,
    search: str = Query("", max_length=200),
    after: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Entries; ``search`` is a number prefix (indexed) or label text."""
    await _list(ctx, list_id)
    async with ctx.database.sessions() as session:
        rows, next_after = await entries_page(
            session, list_id, EntrySearch.parse(ctx.analyser, search), after, limit
        )
        return {"entries": [entry_as_dict(e) for e in rows], "next": next_after}


@router.post(
    "/lists/{list_id}/entries",
    summary="Add an entry",
    status_code=201,
    response_model=EntryOut,
    responses={
        200: {"model": EntryOut, "description": "the number was on the list: entry updated"},
        409: {"model": ErrorOut, "description": "a spoofable number on an allow list"},
    },
)
async def api_add_entry(
    list_id: int, body: EntryIn, request: Request, response: Response, user: ListEditor, ctx: Ctx
) -> dict[str, Any]:
    """Add an entry (201), or update the entry already there for this number (200)."""
    await _list(ctx, list_id)
    try:
        changes = await lists_service.add_entries(
            ctx.uow(actor(request, user)),
            ctx.analyser,
            list_id,
            [
                EntryInput(
                    value=body.value,
                    label=body.label,
                    note=body.note,
                    source="api",
                    valid_from=_aware(body.valid_from, "valid_from"),
                    expires_at=_aware(body.expires_at, "expires_at"),
                )
            ],
            override_impersonation=body.override_impersonation,
        )
    except ImpersonatedNumber as exc:
        raise HTTPException(409, str(exc)) from exc
    except (InvalidEntry, ListError) as exc:
        raise HTTPException(422, str(exc)) from exc
    if not changes[0].created:
        response.status_code = 200
    return entry_as_dict(changes[0].entry)


@router.patch(
    "/lists/{list_id}/entries/{entry_id}", summary="Change an entry", response_model=EntryOut
)
async def api_edit_entry(
    list_id: int, entry_id: int, body: EntryPatch, request: Request, user: ListEditor, ctx: Ctx
) -> dict[str, Any]:
    await _list(ctx, list_id)
    fields: dict[str, object] = {}
    given = body.model_fields_set
    if "label" in given:
        fields["label"] = body.label
    if "note" in given:
        fields["note"] = body.note
    if "expires_at" in given:
        fields["expires_at"] = _aware(body.expires_at, "expires_at")
    try:
        entry = await lists_service.update_entry(
            ctx.uow(actor(request, user)), list_id, entry_id, fields
        )
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    return entry_as_dict(entry)


@router.delete("/lists/{list_id}/entries/{entry_id}", summary="Remove an entry", status_code=204)
async def api_remove_entry(
    list_id: int, entry_id: int, request: Request, user: ListEditor, ctx: Ctx
) -> None:
    await _list(ctx, list_id)
    try:
        await lists_service.remove_entry(ctx.uow(actor(request, user)), list_id, entry_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
