"""The decision on a call waiting for reception: one use case for the board, the API and
any other console.

:func:`decide_waiting_call` records the decision once (of two receptionists deciding at
the same moment exactly one wins, in the database: :func:`screen_store.claim`), puts a
blocked caller's number on a block list (the same use case and guard rails as blocking
from a call page), writes the timeline step and the audit record, and publishes
:class:`~screener.domain.screen_events.CallScreened` after the commit. The ARI flow that
holds the call hears it on the bus (from another Screener process, through the call
feed) and applies it to the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from screener.application.unit_of_work import UnitOfWork
from screener.calls import screen_store
from screener.calls.screen_store import Decided
from screener.calls.service import CallActionError, CallerListed, NoSuchCall, add_caller
from screener.db.models import Call, Screening
from screener.domain import labels
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import RECEPTION_DECISIONS, AuditAction, ScreenDecision

log = logging.getLogger(__name__)


class NotWaiting(CallActionError):
    """The call is not (or no longer) waiting for reception's decision."""


class AlreadyDecided(CallActionError):
    """Somebody (or the default) decided first; ``decided`` says who and what."""

    def __init__(self, decided: Decided) -> None:
        who = decided.decided_by
        what = labels.label(ScreenDecision, decided.decision)
        super().__init__(f"already decided: {what} by {who}")
        self.decided = decided


@dataclass(frozen=True, slots=True)
class WaitingCallDecided:
    call_id: str
    decided: Decided
    listed: CallerListed | None = None


def parse_decision(value: str) -> ScreenDecision:
    """A decision a person may take (connect, voicemail, decline, block)."""
    try:
        chosen = ScreenDecision(value.strip().lower())
    except ValueError:
        chosen = None
    if chosen not in RECEPTION_DECISIONS:
        raise CallActionError("choose connect, voicemail, decline or block")
    assert chosen is not None
    return chosen


async def decide_waiting_call(
    uow: UnitOfWork,
    analyser: NumberAnalyser,
    call_id: str,
    decision: str,
    *,
    list_id: int | None = None,
) -> WaitingCallDecided:
    """Take ``decision`` on a call waiting for reception (``list_id``: the block list for
    ``block``; none: the console's own).

    Raises :class:`AlreadyDecided` (with the winner), :class:`NotWaiting`,
    :class:`NoSuchCall`, or a :class:`CallActionError` from blocking (no usable number,
    not a block list): then nothing is recorded and the caller still waits.
    """
    chosen = parse_decision(decision)
    call_id = call_id[:32]
    async with uow:
        session = uow.session
        claimed = await screen_store.claim(
            session, call_id, chosen, by=uow.actor.name, via=uow.actor.via, at=uow.now
        )
        if not claimed.won:
            if claimed.decided is not None:
                raise AlreadyDecided(claimed.decided)
            if claimed.ended:
                raise NotWaiting("the caller is no longer waiting")
            if await session.get(Call, call_id) is None:
                raise NoSuchCall()
            raise NotWaiting("this call is not waiting for reception")
        decided = claimed.decided
        assert decided is not None
        listed: CallerListed | None = None
        if chosen is ScreenDecision.BLOCK:
            listed = await add_caller(uow, analyser, call_id, block=True, list_id=list_id)
            row = await session.get(Screening, call_id)
            assert row is not None
            row.list_id, row.list_name = listed.number_list.id, listed.number_list.name
            decided = replace(decided, list_name=listed.number_list.name)
        call = await session.get(Call, call_id)
        assert call is not None
        screen_store.add_screened_step(session, call_id, decided)
        detail: dict[str, object] = {"decision": chosen.value}
        if decided.waited_seconds is not None:
            detail["waited_seconds"] = round(decided.waited_seconds, 1)
        if listed is not None:
            detail["list"] = listed.number_list.name
        uow.audit(AuditAction.CALL_SCREEN, call_id, detail)
        uow.emit(screen_store.screened_event(call_id, call.site, decided))
    log.info("waiting call decided: %s by %s", chosen.value, uow.actor.name[:40])
    return WaitingCallDecided(call_id, decided, listed)
