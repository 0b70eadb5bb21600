"""In-process event bus: the call path and the admin use cases publish, listeners subscribe.

Events are the typed events of :mod:`screener.domain.events`. Publishing never blocks and
never raises: each subscriber has a bounded queue, and an event that does not fit is
dropped for that subscriber and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from screener.domain.events import Event

log = logging.getLogger(__name__)


class Subscription:
    """A bounded queue of events; iterate it with ``async for``; close it when done."""

    def __init__(self, bus: EventBus, maxsize: int, kinds: frozenset[type] | None) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.kinds = kinds
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.kinds is not None and type(event) not in self.kinds:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self._bus.dropped += 1

    async def get(self) -> Event:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
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
    """Fan-out of events to subscribers, within one event loop."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self.published = 0
        self.dropped = 0

    def subscribe(self, maxsize: int = 1000, kinds: Iterable[type] | None = None) -> Subscription:
        """A new subscription to every event, or only to events of the types in ``kinds``."""
        sub = Subscription(self, maxsize, frozenset(kinds) if kinds is not None else None)
        self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in list(self._subscribers):
            sub.offer(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
