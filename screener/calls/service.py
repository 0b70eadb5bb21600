"""The use cases on a call: review it, block or allow its number.

Each is one function on a :class:`~screener.application.unit_of_work.UnitOfWork`: one
transaction, one audit record, one event; the web pages, the API and (for the desk
phone) FastAGI call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.application.unit_of_work import UnitOfWork
from screener.calls import store
from screener.db.models import Call, ListEntry, NumberList
from screener.domain.events import CallReviewed, ListChanged
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import (
    REVIEW_CHOICES,
    Action,
    AuditAction,
    ListKind,
    ReviewState,
    TimelineKind,
)
from screener.lists import repo
from screener.lists.repo import EntryInput
from screener.lists.service import ImpersonatedNumber, impersonated

BLOCK_LIST_NAME = "Blocked from console"
ALLOW_LIST_NAME = "Allowed from console"
MAX_NOTE = 2000
MAX_EXPIRY_DAYS = 3650


class CallActionError(ValueError):
    """The action cannot be done on this call; the message is safe to show."""


class NoSuchCall(CallActionError):
    def __init__(self) -> None:
        super().__init__("no such call")


async def _call(uow: UnitOfWork, call_id: str) -> Call:
    call = await uow.session.get(Call, call_id[:32])
    if call is None:
        raise NoSuchCall()
    return call


async def review_call(uow: UnitOfWork, call_id: str, state: str, note: str | None) -> Call:
    """Mark a call scam, nuisance, legitimate or unsure."""
    try:
        chosen = ReviewState(state)
    except ValueError:
        chosen = None
    if chosen not in REVIEW_CHOICES:
        raise CallActionError("mark the call as scam, nuisance, legitimate or unsure")
    assert chosen is not None
    async with uow:
        call = await _call(uow, call_id)
        call.review_state = chosen.value
        call.review_note = (note or "").replace("\x00", "").strip()[:MAX_NOTE] or None
        call.reviewed_by = uow.actor.name
        call.reviewed_at = uow.now
        store.add_step(
            uow.session,
            call.id,
            TimelineKind.REVIEWED,
            uow.now,
            {"state": chosen.value, "by": uow.actor.name},
        )
        uow.audit(AuditAction.CALL_REVIEW, call.id, {"state": chosen.value})
        uow.emit(CallReviewed(call.id, call.site, chosen, uow.actor.name, uow.now))
    return call


def expiry_from_days(days: int | None, now: datetime) -> datetime | None:
    """``days`` from now; none (0 or less) means for ever."""
    if days is None or days <= 0:
        return None
    return now + timedelta(days=min(days, MAX_EXPIRY_DAYS))


@dataclass(frozen=True, slots=True)
class CallerListed:
    number_list: NumberList
    entry: ListEntry
    created: bool


async def block_lists(session: AsyncSession) -> list[NumberList]:
    """The lists a caller can be blocked on from a call or the board: nuisance lists whose
    action is block (the console's own list among them once it exists), by name."""
    rows = await session.execute(
        select(NumberList)
        .where(NumberList.kind == ListKind.NUISANCE.value, NumberList.action == Action.BLOCK.value)
        .order_by(NumberList.name)
    )
    return list(rows.scalars())


async def _chosen_list(uow: UnitOfWork, list_id: int, block: bool) -> NumberList:
    """A list picked for the caller: it must be one :func:`block_lists` offers (blocking),
    or a contacts list whose action is allow (allowing)."""
    found = await uow.session.get(NumberList, list_id)
    if block:
        offered = {lst.id for lst in await block_lists(uow.session)}
        if found is None or found.id not in offered:
            raise CallActionError("choose a nuisance list whose action is block")
    elif found is None or (found.kind, found.action) != (ListKind.CONTACTS, Action.ALLOW):
        raise CallActionError("choose a contacts list whose action is allow")
    assert found is not None
    return found


async def _console_list(uow: UnitOfWork, block: bool) -> NumberList:
    """The default list for block/allow from a call, created when absent."""
    name = BLOCK_LIST_NAME if block else ALLOW_LIST_NAME
    found = await repo.get_list(uow.session, name)
    if found is not None:
        return found
    kind, action = (ListKind.NUISANCE, Action.BLOCK) if block else (ListKind.CONTACTS, Action.ALLOW)
    return await repo.create_list(
        uow.session, name, kind, action, "Numbers added from a call page in the web console."
    )


async def list_caller(
    uow: UnitOfWork,
    analyser: NumberAnalyser,
    call_id: str,
    *,
    block: bool,
    note: str | None = None,
    expires_at: datetime | None = None,
    list_id: int | None = None,
) -> CallerListed:
    """Put the caller's number on the block (or allow) list for calls from the console,
    or on the list ``list_id`` (one of :func:`block_lists` for a block).

    Allowing a number that is on a do-not-originate or trusted-brand list is refused
    (:class:`ImpersonatedNumber`): such numbers are spoofed (see
    :mod:`screener.lists.service`).
    """
    async with uow:
        return await add_caller(
            uow, analyser, call_id, block=block, note=note, expires_at=expires_at, list_id=list_id
        )


async def add_caller(
    uow: UnitOfWork,
    analyser: NumberAnalyser,
    call_id: str,
    *,
    block: bool,
    note: str | None = None,
    expires_at: datetime | None = None,
    list_id: int | None = None,
) -> CallerListed:
    """:func:`list_caller` in a unit of work that is already open (a decision on a
    waiting call that blocks the caller), with the same guard rails."""
    call = await _call(uow, call_id)
    if not call.caller_number:
        raise CallActionError("this call has no usable caller number to add to a list")
    if not block:
        guarded = await impersonated(uow, call.caller_number)
        if guarded:
            raise ImpersonatedNumber(call.caller_number, guarded)
    if list_id is not None:
        number_list = await _chosen_list(uow, list_id, block)
    else:
        number_list = await _console_list(uow, block)
    entry, created = await repo.add_entry(
        uow.session,
        analyser,
        number_list,
        EntryInput(
            value=call.caller_number,
            label=(call.caller_name or None) and call.caller_name[:200],
            note=(note or "").strip()[:MAX_NOTE] or None,
            source=f"call {call.id}",
            expires_at=expires_at,
        ),
        uow.actor.name,
    )
    store.add_step(
        uow.session,
        call.id,
        TimelineKind.BLOCKED if block else TimelineKind.ALLOWED,
        uow.now,
        {"list": number_list.name, "by": uow.actor.name},
    )
    change = AuditAction.ENTRY_ADD if created else AuditAction.ENTRY_UPDATE
    target = f"{number_list.name}: {entry.value}"
    uow.audit(
        change,
        target,
        {
            "list_id": number_list.id,
            "values": [entry.value],
            "call_id": call.id,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "from": "call",
        },
    )
    uow.emit(ListChanged(change, target, uow.actor, uow.now))
    return CallerListed(number_list, entry, created)
