"""Actions shared by the pages and the API: reviews, block/allow from a call."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from screener.auth_audit import record
from screener.call_payloads import reviewed_payload
from screener.db import calls_repo, lists_repo
from screener.db.models import Call, ListEntry, NumberList
from screener.domain import Action, ListKind
from screener.events import CALL_REVIEWED
from screener.web.context import WebContext
from screener.web.deps import CurrentUser

BLOCK_LIST_NAME = "Blocked from console"
ALLOW_LIST_NAME = "Allowed from console"


class ActionError(ValueError):
    """The action cannot be done; the message is safe to show."""


async def review(
    ctx: WebContext, user: CurrentUser, call_id: str, state: str, note: str | None
) -> Call:
    if state not in calls_repo.REVIEW_STATES or state == "unreviewed":
        raise ActionError("mark the call as scam, nuisance, legitimate or unsure")
    async with ctx.database.sessions.begin() as session:
        try:
            call = await calls_repo.review_call(session, call_id, state, note, user.username)
        except LookupError as exc:
            raise ActionError("no such call") from exc
        payload = reviewed_payload(call)
    ctx.bus.publish(CALL_REVIEWED, payload, call_id)
    return call


async def console_list(session: AsyncSession, block: bool, actor: str) -> NumberList:
    """The default list for block/allow from a call, created when absent."""
    name = BLOCK_LIST_NAME if block else ALLOW_LIST_NAME
    found = await lists_repo.get_list(session, name)
    if found is not None:
        return found
    kind, action = (ListKind.NUISANCE, Action.BLOCK) if block else (ListKind.CONTACTS, Action.ALLOW)
    created = await lists_repo.create_list(
        session, name, kind, action, "Numbers added from a call page in the web console."
    )
    await record(session, actor, "list.create", name, {"kind": kind.value, "action": action.value})
    return created


async def block_or_allow(
    ctx: WebContext,
    user: CurrentUser,
    call_id: str,
    *,
    block: bool,
    note: str | None,
    expires_at: datetime | None,
) -> tuple[NumberList, ListEntry]:
    async with ctx.database.sessions.begin() as session:
        call = await session.get(Call, call_id)
        if call is None:
            raise ActionError("no such call")
        if not call.caller_number:
            raise ActionError("this call has no usable caller number to add to a list")
        number_list = await console_list(session, block, user.username)
        entry, created = await lists_repo.add_entry(
            session,
            ctx.analyser,
            number_list,
            lists_repo.EntryInput(
                value=call.caller_number,
                label=(call.caller_name or None) and call.caller_name[:200],
                note=(note or "").strip()[:2000] or None,
                source=f"call {call.id}",
                expires_at=expires_at,
            ),
            user.username,
        )
        await record(
            session,
            user.username,
            "entry.add" if created else "entry.update",
            f"{number_list.name}: {entry.value}",
            {
                "list_id": number_list.id,
                "value": entry.value,
                "call_id": call.id,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "from": "call page",
            },
        )
        await calls_repo.add_event(
            session,
            call.id,
            "blocked" if block else "allowed",
            {"list": number_list.name, "by": user.username},
        )
        return number_list, entry


def expiry_from_days(days: int | None, now: datetime) -> datetime | None:
    if days is None or days <= 0:
        return None
    return now + timedelta(days=min(days, 3650))


def call_as_dict(call: Call, events: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": call.id,
        "site": call.site,
        "source": call.source,
        "started_at": call.started_at.isoformat(),
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "caller_number_raw": call.caller_number_raw,
        "caller_name": call.caller_name,
        "caller_number": call.caller_number,
        "number_type": call.number_type,
        "presentation": call.presentation,
        "withheld": call.withheld,
        "did": call.did,
        "trunk": call.trunk,
        "verdict": call.verdict,
        "action": call.action,
        "reasons": call.reasons,
        "flagged": call.flagged,
        "challenge_result": call.challenge_result,
        "outcome": call.outcome,
        "recording": call.recording,
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
