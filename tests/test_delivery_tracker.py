"""The delivery tracker on its own: ARI events after the hand-back in, deliveries out."""

from __future__ import annotations

from typing import Any

from screener.ari.models import parse_event
from screener.calls.delivery import DeliveryTracker, extension_of
from screener.domain.vocabulary import Delivery

CHANNEL = {"id": "1.1", "name": "PJSIP/trunk-00000001"}


class Written:
    """What the tracker hands to the desk, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []

    def delivered(self, call_id: str, delivery: Delivery, **kw: Any) -> None:
        self.items.append(("delivered", call_id, delivery, kw.get("to")))

    def ringing(self, call_id: str, to: str, dial: str) -> None:
        self.items.append(("ringing", call_id, to))


def event(kind: str, **fields: Any) -> Any:
    parsed = parse_event({"type": kind, "channel": CHANNEL, **fields})
    assert parsed is not None, kind
    return parsed


def dial(status: str) -> Any:
    peer = {"id": "1.2", "name": "PJSIP/204-00000002"}
    return parse_event(
        {"type": "Dial", "caller": CHANNEL, "peer": peer, "dialstring": "204", "dialstatus": status}
    )


def test_what_comes_before_the_outcome_is_written_after_it() -> None:
    written = Written()
    tracker = DeliveryTracker(written)
    tracker.follow("1.1", "call-1", "screened,s,1")
    for item in (event("StasisEnd"), event("ChannelDialplan", dialplan_app="Dial"), dial("")):
        tracker.on_event(item)
    tracker.on_event(dial("ANSWER"))
    assert written.items == []  # the continue's answer (and the outcome) not there yet
    tracker.outcome_recorded("1.1")
    assert written.items == [
        ("ringing", "call-1", "204"),
        ("delivered", "call-1", Delivery.ANSWERED, "204"),
    ]
    tracker.on_event(event("ChannelDestroyed", cause=16))
    assert len(written.items) == 2 and tracker.followed == {}


def test_a_channel_that_ends_before_its_outcome_is_still_reported() -> None:
    written = Written()
    tracker = DeliveryTracker(written)
    tracker.follow("1.1", "call-1", "nowhere,s,1")
    tracker.on_event(event("StasisEnd"))
    tracker.on_event(event("ChannelDestroyed", cause=0))
    assert written.items == [] and tracker.missing_location == "nowhere,s,1"
    tracker.outcome_recorded("1.1")
    assert written.items == [("delivered", "call-1", Delivery.FAILED, None)]


def test_events_of_other_channels_change_nothing() -> None:
    written = Written()
    tracker = DeliveryTracker(written)
    tracker.follow("9.9", "call-9", "screened,s,1")
    tracker.outcome_recorded("9.9")
    for item in (event("StasisEnd"), dial("ANSWER"), event("ChannelDestroyed")):
        tracker.on_event(item)
    assert written.items == [] and list(tracker.followed) == ["9.9"]


def test_extensions_from_channel_names() -> None:
    assert extension_of("PJSIP/204-0000002a") == "204"
    assert extension_of("PJSIP/my-phone-0000002b") == "my-phone"
    assert extension_of("SIP/reception-00000001") == "reception"
    assert extension_of("Local/100@internal-00000001;1") == "100"
    assert extension_of("odd name") == "odd name"
