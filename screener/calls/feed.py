"""The calls of every Screener process sharing one PostgreSQL, on every process's bus.

Several Screener processes (each its own ARI application, on one host or several) share
one PostgreSQL. Each process publishes its own call events on its own bus; the
:class:`CallFeed` passes them on with PostgreSQL ``NOTIFY`` (after they are written, so
the record is there) and turns the other processes' notifications into
:class:`~screener.domain.events.CallChangedElsewhere` events here. The live board of any
process then shows the calls of all of them.

Live screening needs two more things to cross processes, and the same channel carries
them: a decision taken on one process's board reaches the process holding the call (as a
``call.screened`` change, whose decision that process reads from the database), and each
process tells the others how many boards it has open (``{"o": ..., "w": n}``, when the
count changes and every ``PRESENCE_SECONDS``; a process that starts asks the others with
``"q"``), so a screened caller is held when a board is open on any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from screener.domain.events import (
    CallChangedElsewhere,
    CallDecided,
    CallDelivered,
    CallFinished,
    CallReviewed,
    CallStarted,
    CallTranscribed,
)
from screener.domain.screen_events import CallScreened, CallWaiting
from screener.events import EventBus

if TYPE_CHECKING:
    from screener.calls.presence import BoardPresence

log = logging.getLogger(__name__)

CHANNEL = "screener_calls"
BATCH_SECONDS = 0.05
MAX_PAYLOAD = 7000
"""PostgreSQL limits a notification to 8,000 bytes: larger batches are split."""
RECONNECT_MAX_SECONDS = 30.0
SCREENING = (CallWaiting, CallScreened)
"""Live screening's events, shared like the call events."""
PRESENCE_SECONDS = 5.0
"""How often a process repeats its count of open boards (and how often it looks at it:
every ``PRESENCE_CHECK_SECONDS``, sent at once when it changed)."""
PRESENCE_CHECK_SECONDS = 0.25
SHARED = (CallStarted, CallDecided, CallFinished, CallDelivered, CallReviewed, CallTranscribed)


def payloads(origin: str, changes: list[tuple[str, str]]) -> list[str]:
    """Notification payloads for ``(call_id, kind)`` changes, each under the size limit."""
    out: list[str] = []
    batch: list[tuple[str, str]] = []
    for change in changes:
        batch.append(change)
        if len(json.dumps({"o": origin, "c": batch})) > MAX_PAYLOAD:
            batch.pop()
            out.append(json.dumps({"o": origin, "c": batch}))
            batch = [change]
    if batch:
        out.append(json.dumps({"o": origin, "c": batch}))
    return out


class CallFeed:
    """One listening connection per process; see the module docstring."""

    def __init__(self, url: str, bus: EventBus, presence: BoardPresence | None = None) -> None:
        from screener.db.pg_readers import asyncpg_dsn

        self._dsn = asyncpg_dsn(url)
        self.bus = bus
        self.presence = presence
        self._asked = asyncio.Event()
        self._sending = asyncio.Lock()  # one statement at a time on the connection
        self.origin = uuid.uuid4().hex
        self.sent = 0
        self.received = 0
        self.connected = False

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("o") == self.origin:
            return  # our own (or not ours to read)
        watchers = message.get("w")
        if (
            self.presence is not None
            and isinstance(watchers, int)
            and not isinstance(watchers, bool)
        ):
            self.presence.heard(str(message.get("o", ""))[:64], watchers)
            if message.get("q"):
                self._asked.set()
        now = datetime.now(UTC)
        for item in message.get("c", []):
            if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
                self.received += 1
                self.bus.publish(CallChangedElsewhere(item[0][:32], item[1][:32], now))

    async def run(self) -> None:
        """Until cancelled: listen, and pass this process's call events on."""
        import asyncpg

        delay = 0.5
        with self.bus.subscribe(maxsize=10_000, kinds=SHARED + SCREENING) as events:
            while True:
                try:
                    connection = await asyncpg.connect(self._dsn, timeout=10)
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    log.warning("call feed: cannot connect (%s); retrying", str(exc)[:100])
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                    continue
                delay = 0.5
                try:
                    await connection.add_listener(CHANNEL, self._heard)
                    self.connected = True
                    announcing = asyncio.create_task(self._announce(connection))
                    try:
                        await self._pass_on(connection, events)
                    finally:
                        announcing.cancel()
                        await asyncio.gather(announcing, return_exceptions=True)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("call feed: connection lost (%s)", str(exc)[:100])
                finally:
                    self.connected = False
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)

    async def _pass_on(self, connection: Any, events: Any) -> None:
        while True:
            first = await events.get()
            await asyncio.sleep(BATCH_SECONDS)
            batch = [first]
            while not events.queue.empty():
                batch.append(events.queue.get_nowait())
            changes = [(event.call_id, event.kind) for event in batch]
            for payload in payloads(self.origin, changes):
                await self._notify(connection, payload)
            self.sent += len(changes)

    async def _notify(self, connection: Any, payload: str) -> None:
        async with self._sending:
            await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    async def _announce(self, connection: Any) -> None:
        """This process's count of open boards: at once (asking the others for theirs),
        whenever it changes, and every ``PRESENCE_SECONDS``."""
        if self.presence is None:
            return
        loop = asyncio.get_running_loop()
        last: int | None = None
        sent_at = -PRESENCE_SECONDS
        ask = True
        while True:
            count = self.presence.local_watchers
            due = loop.time() - sent_at >= PRESENCE_SECONDS
            if count != last or due or self._asked.is_set():
                self._asked.clear()
                message: dict[str, Any] = {"o": self.origin, "w": count}
                if ask:
                    message["q"] = 1
                    ask = False
                await self._notify(connection, json.dumps(message))
                last, sent_at = count, loop.time()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PRESENCE_CHECK_SECONDS):
                    await self._asked.wait()
