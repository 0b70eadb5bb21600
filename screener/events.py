"""In-process event bus: call handling publishes, the live board, MQTT and metrics listen.

Publishing never blocks and never raises: each subscriber has a bounded queue,
and an event that does not fit is dropped for that subscriber and counted.

Event kinds and their payloads (all JSON-serialisable):

``call.started``   call_id, site, source, channel_id, caller_number_raw, caller_name,
                   caller_number, presentation, did, trunk, started_at (ISO 8601)
``call.verdict``   call_id, site, action, reasons [{code, action, explanation}],
                   caller_number, number_type, withheld, flagged, decision_ms
``call.outcome``   call_id, site, outcome, verdict, step, challenge_result, recording
``call.reviewed``  call_id, site, review_state, reviewed_by
``ari.connected`` / ``ari.disconnected``   url (no credentials)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

CALL_STARTED = "call.started"
CALL_VERDICT = "call.verdict"
CALL_OUTCOME = "call.outcome"
CALL_REVIEWED = "call.reviewed"
ARI_CONNECTED = "ari.connected"
ARI_DISCONNECTED = "ari.disconnected"


@dataclass(frozen=True, slots=True)
class BusEvent:
    kind: str
    payload: Mapping[str, Any]
    call_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Subscription:
    """A bounded queue of events; iterate it with ``async for``; close it when done."""

    def __init__(self, bus: EventBus, maxsize: int, kinds: frozenset[str] | None) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[BusEvent] = asyncio.Queue(maxsize)
        self.kinds = kinds
        self.dropped = 0

    def offer(self, event: BusEvent) -> None:
        if self.kinds is not None and event.kind not in self.kinds:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self._bus.dropped += 1

    async def get(self) -> BusEvent:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[BusEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEvent]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self._bus._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    """Fan-out of :class:`BusEvent` to subscribers, within one event loop."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self.published = 0
        self.dropped = 0

    def subscribe(self, maxsize: int = 1000, kinds: set[str] | None = None) -> Subscription:
        sub = Subscription(self, maxsize, frozenset(kinds) if kinds else None)
        self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, kind: str, payload: Mapping[str, Any], call_id: str | None = None) -> None:
        event = BusEvent(kind, dict(payload), call_id)
        self.published += 1
        for sub in list(self._subscribers):
            sub.offer(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
