"""The live board's cards for calls waiting for reception (live screening).

Each screened call gets a card on the board while it waits: who is calling as presented,
every reason in words, the impersonation warning, a countdown once the caller is on hold,
their recording as soon as it ends, and the buttons to decide. The board's event stream
(:mod:`screener.web.routes_board`) sends a ``waiting`` message with the card's HTML
whenever something about a carded call changes: it is put on hold, decided, hangs up,
or its transcript arrives (the card shows ``call.transcript`` when the row has one).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from jinja2 import Template

from screener.calls import screen_store
from screener.calls.service import block_lists
from screener.db.models import NumberList, Screening
from screener.domain.events import CallChangedElsewhere, Event
from screener.domain.screen_events import CallScreened, CallWaiting
from screener.domain.vocabulary import ScreenDefault
from screener.web.context import WebContext
from screener.web.deps import CurrentUser, csrf_token

log = logging.getLogger(__name__)

SCREEN_EVENTS = (CallWaiting, CallScreened)
CARD_TEMPLATE = "_waiting_card.html"
REMEMBERED_CARDS = 200
DEFAULT_WORDS = {
    ScreenDefault.RECEPTION: "it rings reception",
    ScreenDefault.VOICEMAIL: "it goes to voicemail",
}
LISTS_SECONDS = 30.0
"""How long a stream keeps the block lists it offers before reading them again."""


@dataclass(frozen=True, slots=True)
class ScreeningView:
    """What a card shows of a call's screening."""

    call_id: str
    offered_at: datetime | None = None
    on_hold_at: datetime | None = None
    decide_by: datetime | None = None
    recording: str | None = None
    decision: str | None = None
    decided_by: str | None = None
    waited_seconds: float | None = None
    list_name: str | None = None

    @classmethod
    def of(cls, row: Screening) -> ScreeningView:
        return cls(
            row.call_id,
            row.offered_at,
            row.on_hold_at,
            row.decide_by,
            row.recording,
            row.decision,
            row.decided_by,
            row.waited_ms / 1000 if row.waited_ms is not None else None,
            row.list_name,
        )

    def updated(self, event: CallWaiting | CallScreened) -> ScreeningView:
        if isinstance(event, CallWaiting):
            if not event.on_hold:
                return replace(self, offered_at=self.offered_at or event.at)
            return replace(
                self, on_hold_at=event.at, decide_by=event.decide_by, recording=event.recording
            )
        return replace(
            self,
            decision=event.decision.value,
            decided_by=event.decided_by,
            waited_seconds=event.waited_seconds,
            list_name=event.list_name,
        )


def card_state(call: dict[str, Any], view: ScreeningView) -> str:
    """``listening`` (the caller is saying who they are), ``on-hold``, ``decided`` or
    ``ended`` (the call left without a decision: the caller hung up, or Screener failed
    open)."""
    if view.decision:
        return "decided"
    if call.get("outcome"):
        return "ended"
    if view.decide_by is not None:
        return "on-hold"
    return "listening"


def seconds_left(view: ScreeningView, now: datetime | None = None) -> int | None:
    if view.decide_by is None:
        return None
    left = (view.decide_by - (now or datetime.now(UTC))).total_seconds()
    return max(int(left + 0.5), 0)


def card_context(
    call: dict[str, Any],
    view: ScreeningView,
    *,
    user: CurrentUser | None,
    csrf: str,
    lists: list[NumberList],
    default: ScreenDefault,
    notice: str | None = None,
) -> dict[str, Any]:
    return {
        "call": call,
        "s": view,
        "state": card_state(call, view),
        "seconds_left": seconds_left(view),
        "csrf": csrf,
        "may_block": bool(user and user.may_edit_lists and call.get("caller_number")),
        "block_lists": lists,
        "notice": notice,
        "default_words": DEFAULT_WORDS[default],
    }


class ScreenCards:
    """The cards of one board stream: what it knows of each carded call's screening."""

    def __init__(self, ctx: WebContext, request: Request) -> None:
        self.ctx = ctx
        self.request = request
        self.views: dict[str, ScreeningView] = {}
        self._template: Template = ctx.templates.get_template(CARD_TEMPLATE)
        self._lists: tuple[float, list[NumberList]] | None = None

    async def lists(self) -> list[NumberList]:
        if self._lists is None or time.monotonic() - self._lists[0] > LISTS_SECONDS:
            async with self.ctx.database.sessions() as session:
                self._lists = (time.monotonic(), await block_lists(session))
        return self._lists[1]

    async def _view_for(self, event: Event) -> ScreeningView | None:
        call_id = getattr(event, "call_id", None)
        if not isinstance(call_id, str):
            return None
        known = self.views.get(call_id)
        if isinstance(event, CallWaiting | CallScreened):
            return (known or ScreeningView(call_id)).updated(event)
        if isinstance(event, CallChangedElsewhere):
            if known is None and event.change not in (CallWaiting.kind, CallScreened.kind):
                return None
            async with self.ctx.database.sessions() as session:
                row = await screen_store.screening_of(session, call_id)
            return ScreeningView.of(row) if row is not None else None
        return known

    async def message(self, event: Event, call: dict[str, Any]) -> str | None:
        """The card's HTML after ``event``, or None when the call has no card."""
        view = await self._view_for(event)
        if view is None:
            return None
        if view.call_id not in self.views and len(self.views) >= REMEMBERED_CARDS:
            self.views.pop(next(iter(self.views)))
        self.views[view.call_id] = view
        return self.render(call, view, await self.lists())

    def render(
        self,
        call: dict[str, Any],
        view: ScreeningView,
        lists: list[NumberList],
        notice: str | None = None,
    ) -> str:
        user = getattr(self.request.state, "user", None)
        context = card_context(
            call,
            view,
            user=user,
            csrf=csrf_token(self.request),
            lists=lists,
            default=self.ctx.settings.screen.default,
            notice=notice,
        )
        return self._template.render(**context)
