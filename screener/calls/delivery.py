"""What happened to a call after Screener put it through: who answered, or why nobody did.

``continue`` only gives a call back to the dialplan. To learn what the dialplan did with
it, the call flow subscribes to the channel before it continues (``Follow``); Asterisk
then keeps sending the channel's events after ``StasisEnd``: ``ChannelDialplan`` for
each dialplan step, ``Dial`` as a phone rings and answers, ``ChannelDestroyed`` at the
end. :class:`DeliveryTracker` reads them and records one delivery per call (see
:class:`~screener.domain.vocabulary.Delivery`):

- ``answered`` when a ``Dial`` is answered, with the extension and how long it rang;
- ``voicemail`` when the dialplan reached ``VoiceMail()``;
- ``busy``, ``no_answer``, ``abandoned`` (the caller hung up while it rang) or
  ``failed`` (the phone could not be reached) from the last dial status at the end;
- ``failed`` when the channel ended without a single dialplan step: the location the
  call was continued to does not exist (Asterisk answers ``continue`` with 204 all the
  same). Every call would be lost that way, so this is reported loudly: an error in the
  log, on ``/healthz`` and on the console (:attr:`DeliveryTracker.missing_location`).

A call that ends in the dialplan without ringing anyone (an announcement, say) gets no
delivery. Followed channels are forgotten when they end, or after
:data:`FOLLOW_SECONDS` if their end was never seen (a lost socket).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from screener.ari.models import AriEvent, ChannelDestroyed, ChannelDialplan, Dial, StasisEnd
from screener.calls.facts import trunk_from_channel_name
from screener.domain.vocabulary import Delivery

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 4 * 3600.0
"""How long a channel is followed at most (a call longer than this is not tracked)."""
MAX_FOLLOWED = 20_000
"""Channels followed at once at most (the oldest are dropped beyond that)."""
VOICEMAIL_APPS = frozenset({"voicemail", "vm"})

# Dial statuses (Asterisk's DIALSTATUS) at the end of a call that was not answered.
_UNANSWERED: dict[str, Delivery] = {
    "BUSY": Delivery.BUSY,
    "NOANSWER": Delivery.NO_ANSWER,
    "CANCEL": Delivery.ABANDONED,
    "CHANUNAVAIL": Delivery.FAILED,
    "CONGESTION": Delivery.FAILED,
    "DONTCALL": Delivery.FAILED,
    "TORTURE": Delivery.FAILED,
    "INVALIDARGS": Delivery.FAILED,
}
_WHY: dict[str, str] = {
    "CHANUNAVAIL": "the phone is not available (unregistered or offline)",
    "CONGESTION": "the phone could not be reached (congestion)",
    "INVALIDARGS": "the dialplan's Dial() has invalid arguments",
}


def extension_of(channel_name: str) -> str:
    """The phone a channel rings: ``PJSIP/100-0000002a`` -> ``100`` (the endpoint, as the
    call's trunk is found: ``PJSIP/my-phone-0000002b`` -> ``my-phone``),
    ``Local/100@internal-00000001;1`` -> ``100``; the whole name where it has no such shape.
    """
    endpoint = trunk_from_channel_name(channel_name)
    if endpoint is None:
        return channel_name
    if endpoint.startswith("Local/"):
        return endpoint.removeprefix("Local/").split("@", 1)[0]
    return endpoint


class DeliverySink(Protocol):
    """Where the tracker's findings go (the call desk)."""

    def delivered(
        self,
        call_id: str,
        delivery: Delivery,
        *,
        to: str | None = None,
        after_seconds: float | None = None,
        detail: str | None = None,
    ) -> None: ...

    def ringing(self, call_id: str, to: str, dial: str) -> None: ...


@dataclass
class _Followed:
    call_id: str
    location: str
    """Where the call was continued to (``context,exten,priority``)."""
    since: float
    left: bool = False
    steps: int = 0
    voicemail: bool = False
    rung: str | None = None
    dialstatus: str = ""
    delivered: bool = False
    outcome_recorded: bool = False
    held: list[Callable[[], None]] = field(default_factory=list)
    """What was learnt before the call's outcome went to the recorder (written after it)."""


@dataclass
class DeliveryTracker:
    """Follows channels put through to the dialplan; see the module docstring."""

    sink: DeliverySink
    clock: Callable[[], float] = time.monotonic
    followed: dict[str, _Followed] = field(default_factory=dict)
    _ended_early: dict[str, _Followed] = field(default_factory=dict)
    """Channels that ended before their outcome was recorded (a moment, usually)."""
    missing_location: str | None = None
    """The dialplan location calls were last sent to that does not exist (None: fine)."""
    failed_locations: int = 0

    def follow(self, channel_id: str, call_id: str, location: str) -> None:
        """The call on ``channel_id`` is being put through to ``location``."""
        now = self.clock()
        self._expire(now)
        self.followed[channel_id] = _Followed(call_id, location, now)
        while len(self._ended_early) > MAX_FOLLOWED:
            del self._ended_early[next(iter(self._ended_early))]

    def outcome_recorded(self, channel_id: str) -> None:
        """The call's outcome has gone to the recorder: what follows may be written now.

        The events of a call put through can come before the flow has recorded its outcome
        (the ``continue`` request is still in flight); a delivery written before the
        outcome would be refused, so it waits for this.
        """
        followed = self.followed.get(channel_id) or self._ended_early.pop(channel_id, None)
        if followed is None:
            return
        followed.outcome_recorded = True
        held, followed.held = followed.held, []
        for write in held:
            write()

    def _write(self, followed: _Followed, write: Callable[[], None]) -> None:
        if followed.outcome_recorded:
            write()
        else:
            followed.held.append(write)

    def on_event(self, event: AriEvent) -> None:
        """An event from the socket: the ones about followed channels are used."""
        if isinstance(event, Dial):
            caller = event.caller.id if event.caller is not None else ""
            followed = self.followed.get(caller)
            if followed is not None:
                self._dial(followed, event)
            return
        if not isinstance(event, StasisEnd | ChannelDialplan | ChannelDestroyed):
            return
        followed = self.followed.get(event.channel.id)
        if followed is None:
            return
        if isinstance(event, StasisEnd):
            followed.left = True
        elif isinstance(event, ChannelDialplan):
            if followed.left:
                followed.steps += 1
                if followed.steps == 1 and self.missing_location == followed.location:
                    log.warning(
                        "calls put through to %s run in the dialplan again", followed.location
                    )
                    self.missing_location = None
                if event.dialplan_app.lower() in VOICEMAIL_APPS:
                    followed.voicemail = True
        else:
            del self.followed[event.channel.id]
            if not followed.outcome_recorded:
                self._ended_early[event.channel.id] = followed
            self._ended(followed, event)

    def _dial(self, followed: _Followed, event: Dial) -> None:
        status = event.dialstatus.upper()
        peer = extension_of(event.peer.name or event.peer.id)
        call_id = followed.call_id
        if not status:
            followed.rung = peer
            dial = event.dialstring
            self._write(followed, lambda: self.sink.ringing(call_id, peer, dial))
            return
        followed.dialstatus = status
        if status == "ANSWER" and not followed.delivered:
            followed.delivered = True
            after = self.clock() - followed.since
            self._deliver(followed, Delivery.ANSWERED, to=peer, after_seconds=after)

    def _ended(self, followed: _Followed, event: ChannelDestroyed) -> None:
        if followed.delivered:
            return
        after = self.clock() - followed.since
        if followed.voicemail:
            self._deliver(followed, Delivery.VOICEMAIL, to=followed.rung, after_seconds=after)
            return
        unanswered = _UNANSWERED.get(followed.dialstatus)
        if unanswered is not None:
            why = _WHY.get(followed.dialstatus) or event.cause_txt or None
            self._deliver(followed, unanswered, to=followed.rung, after_seconds=after, detail=why)
            return
        if followed.left and followed.steps == 0:
            self._missing(followed, after)

    def _missing(self, followed: _Followed, after: float) -> None:
        detail = (
            f"the dialplan has no {followed.location}: Asterisk ended the call at once "
            "(set [ari] continue_context/extension/priority to a location that exists)"
        )
        self.failed_locations += 1
        if self.missing_location != followed.location:
            log.error(
                "calls put through to %s are lost: that dialplan location does not exist "
                "(Asterisk: 'sent to invalid extension'). Fix [ari] continue_context, "
                "continue_extension and continue_priority, or the dialplan",
                followed.location,
            )
        self.missing_location = followed.location
        self._deliver(followed, Delivery.FAILED, after_seconds=after, detail=detail)

    def _deliver(
        self,
        followed: _Followed,
        delivery: Delivery,
        *,
        to: str | None = None,
        after_seconds: float | None = None,
        detail: str | None = None,
    ) -> None:
        call_id = followed.call_id

        def write() -> None:
            self.sink.delivered(
                call_id, delivery, to=to, after_seconds=after_seconds, detail=detail
            )

        self._write(followed, write)

    def _expire(self, now: float) -> None:
        if len(self.followed) < MAX_FOLLOWED:
            oldest = next(iter(self.followed.values()), None)
            if oldest is None or now - oldest.since < FOLLOW_SECONDS:
                return
        for channel_id in list(self.followed):
            entry = self.followed[channel_id]
            if now - entry.since < FOLLOW_SECONDS and len(self.followed) < MAX_FOLLOWED:
                break
            del self.followed[channel_id]
