"""Live screening in the JSON API: the calls waiting for reception, and the decision.

The same use case as the board (:func:`screener.calls.screen_decisions.decide_waiting_call`),
the same roles (reception and admin; block also needs the right to edit lists), and the
same error shape as the rest of the API (``{"detail": "..."}``). Listing the waiting calls
counts as watching the board for ``screen.api_watch_seconds``: a desk app that polls keeps
screened callers waiting for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from screener.calls import screen_decisions, screen_store
from screener.calls.screen_decisions import AlreadyDecided, NotWaiting, parse_decision
from screener.calls.service import CallActionError, NoSuchCall
from screener.domain.numbers import InvalidEntry
from screener.domain.rules import IMPERSONATION
from screener.domain.vocabulary import SCREEN_VERDICTS, ScreenDecision
from screener.lists.repo import ListError
from screener.web.api import BEARER, ERRORS, ErrorOut, ListOut, ReasonOut, list_as_dict
from screener.web.deps import Ctx, Reception, actor
from screener.web.screen_board import ScreeningView, card_state, seconds_left

router = APIRouter(tags=["api"], dependencies=[Depends(BEARER)], responses=ERRORS)

IMPERSONATION_CODES = frozenset(code.value for code in IMPERSONATION)


class WaitingCallOut(BaseModel):
    id: str
    started_at: datetime
    caller_number_raw: str = Field(description="the caller ID as the network gave it")
    caller_name: str = Field(description="as presented: attacker-controlled text")
    caller_number: str | None = Field(description="E.164, when the caller ID is a number")
    withheld: bool
    reasons: list[ReasonOut]
    impersonation: bool = Field(
        description="the number may belong to an organisation the caller pretends to be"
    )
    state: str = Field(description="listening (the caller is saying who they are) or on-hold")
    offered_at: datetime | None
    on_hold_at: datetime | None
    decide_by: datetime | None = Field(description="when the default applies")
    seconds_left: int | None
    recording: str | None = Field(description="the recording's name, once the caller spoke")


class WaitingCallsOut(BaseModel):
    calls: list[WaitingCallOut]


class DecisionIn(BaseModel):
    decision: str = Field(description="connect, voicemail, decline or block", max_length=16)
    list_id: int | None = Field(
        None, description="block only: the nuisance block list (none: the console's own)"
    )


class DecisionOut(BaseModel):
    call_id: str
    decision: ScreenDecision
    verdict: str
    decided_by: str
    via: str
    decided_at: datetime
    waited_seconds: float | None = Field(description="on hold before the decision")
    list: ListOut | None = Field(None, description="block: the list the number went on")


@router.get("/waiting", response_model=WaitingCallsOut)
async def api_waiting(
    ctx: Ctx, user: Reception, limit: int = Query(100, ge=1, le=200)
) -> dict[str, Any]:
    """Calls waiting for reception's decision now, oldest first."""
    ctx.presence.api_polled()
    async with ctx.database.sessions() as session:
        pairs = await screen_store.waiting_calls(session, limit)
    calls = []
    for call, screening in pairs:
        view = ScreeningView.of(screening)
        calls.append(
            {
                "id": call.id,
                "started_at": call.started_at,
                "caller_number_raw": call.caller_number_raw,
                "caller_name": call.caller_name,
                "caller_number": call.caller_number,
                "withheld": call.withheld,
                "reasons": call.reasons,
                "impersonation": any(r.get("code") in IMPERSONATION_CODES for r in call.reasons),
                "state": card_state({"outcome": call.outcome}, view),
                "offered_at": view.offered_at,
                "on_hold_at": view.on_hold_at,
                "decide_by": view.decide_by,
                "seconds_left": seconds_left(view),
                "recording": view.recording,
            }
        )
    return {"calls": calls}


@router.post(
    "/calls/{call_id}/decision",
    response_model=DecisionOut,
    responses={
        409: {
            "model": ErrorOut,
            "description": "somebody decided first (`already decided: Connect by alice`), "
            "or the call is not waiting",
        }
    },
)
async def api_decide(
    call_id: str, body: DecisionIn, request: Request, user: Reception, ctx: Ctx
) -> dict[str, Any]:
    """Decide a waiting call: connect, voicemail, decline, or block (decline, and the number
    on a block list; needs the right to edit lists)."""
    try:
        chosen = parse_decision(body.decision)
    except CallActionError as exc:
        raise HTTPException(422, f"decision: {exc}") from exc
    if chosen is ScreenDecision.BLOCK and not user.may_edit_lists:
        raise HTTPException(403, "you need the right to edit lists to block a number")
    try:
        done = await screen_decisions.decide_waiting_call(
            ctx.uow(actor(request, user)),
            ctx.analyser,
            call_id,
            chosen.value,
            list_id=body.list_id if chosen is ScreenDecision.BLOCK else None,
        )
    except NoSuchCall as exc:
        raise HTTPException(404, str(exc)) from exc
    except (AlreadyDecided, NotWaiting) as exc:
        raise HTTPException(409, str(exc)) from exc
    except (CallActionError, ListError, InvalidEntry) as exc:
        raise HTTPException(422, str(exc)) from exc
    decided = done.decided
    return {
        "call_id": done.call_id,
        "decision": decided.decision,
        "verdict": SCREEN_VERDICTS[decided.decision].value,
        "decided_by": decided.decided_by,
        "via": decided.via.value,
        "decided_at": decided.decided_at,
        "waited_seconds": decided.waited_seconds,
        "list": list_as_dict(done.listed.number_list) if done.listed else None,
    }
