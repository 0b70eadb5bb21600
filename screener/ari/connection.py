"""The ARI event socket: connect, read events, reconnect with capped exponential backoff.

The loop survives Asterisk restarts and dropped sockets. Its :class:`ConnectionState` is
what health checks read, and every (dis)connection is published on the event bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import websockets
from websockets.exceptions import InvalidStatus

from screener.ari.client import basic_auth_header, events_url, rest_base
from screener.ari.models import AriEvent, parse_event
from screener.domain.events import AriConnected, AriDisconnected
from screener.events import EventBus

log = logging.getLogger(__name__)

EventHandler = Callable[[AriEvent], None]
ConnectedHook = Callable[[int], Coroutine[Any, Any, None]]


@dataclass
class ConnectionState:
    """Live state of the event socket, for health checks (no credentials in it)."""

    url: str
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    last_error: str | None = None


def backoff_delays(initial: float, maximum: float) -> Callable[[int], float]:
    """Delay before retry ``n`` (0-based): ``initial * 2**n``, capped at ``maximum``."""

    def delay(attempt: int) -> float:
        return float(min(maximum, initial * (2 ** min(attempt, 30))))

    return delay


class AriConnection:
    """Keeps one websocket to ``/ari/events?app=<app>`` open and hands events to ``on_event``.

    ``on_connected(n)`` runs (as its own task) after every successful connection, with ``n``
    the number of connections so far (1 for the first): the call handling uses it to
    reconcile channels it lost track of while the socket was down.
    """

    def __init__(
        self,
        url: str,
        app: str,
        username: str,
        password: str,
        *,
        on_event: EventHandler,
        on_connected: ConnectedHook | None = None,
        bus: EventBus | None = None,
        reconnect_initial_seconds: float = 0.5,
        reconnect_max_seconds: float = 30.0,
    ) -> None:
        self._ws_url = events_url(url, app)
        self._auth = basic_auth_header(username, password)
        self._on_event = on_event
        self._on_connected = on_connected
        self._bus = bus
        self._delay = backoff_delays(reconnect_initial_seconds, reconnect_max_seconds)
        self._stopping = asyncio.Event()
        self._socket: websockets.ClientConnection | None = None
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self.state = ConnectionState(url=rest_base(url))

    async def run(self) -> None:
        """Connect and read events until :meth:`stop`; never raises for network trouble."""
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._connect_and_read()
                failures = 0
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                status = exc.response.status_code
                hint = " (check ari.username and ari.password)" if status == 401 else ""
                self._note_failure(f"websocket refused with HTTP {status}{hint}")
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self._note_failure(f"{type(exc).__name__}: {exc}"[:200])
            if self._stopping.is_set():
                break
            delay = self._delay(failures)
            failures += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
        for task in list(self._hook_tasks):
            task.cancel()

    async def stop(self) -> None:
        self._stopping.set()
        if self._socket is not None:
            await self._socket.close()

    def _note_failure(self, message: str) -> None:
        self.state.last_error = message
        log.warning("ARI event socket at %s: %s", self.state.url, message)

    async def _connect_and_read(self) -> None:
        async with websockets.connect(
            self._ws_url,
            additional_headers={"Authorization": self._auth},
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            max_size=2**22,
            # Asterisk's websocket offers no compression; asking for it only costs CPU
            # where the other end accepts it.
            compression=None,
        ) as socket:
            self._socket = socket
            self.state.connects += 1
            if self.state.connects > 1:
                self.state.reconnects += 1
            self.state.connected = True
            self.state.last_error = None
            log.info("connected to ARI at %s", self.state.url)
            if self._bus is not None:
                self._bus.publish(AriConnected(self.state.url, datetime.now(UTC)))
            if self._on_connected is not None:
                task = asyncio.create_task(self._on_connected(self.state.connects))
                self._hook_tasks.add(task)
                task.add_done_callback(self._hook_done)
            try:
                async for raw in socket:
                    self._dispatch(raw)
            except websockets.ConnectionClosed as exc:
                if not self._stopping.is_set():
                    code = exc.rcvd.code if exc.rcvd is not None else "no close frame"
                    self.state.last_error = f"socket closed ({code})"
            finally:
                self._socket = None
                self.state.connected = False
                if self._bus is not None:
                    self._bus.publish(AriDisconnected(self.state.url, datetime.now(UTC)))
                if not self._stopping.is_set():
                    log.warning("lost the ARI event socket at %s", self.state.url)

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("ignoring an ARI message that is not JSON")
            return
        event = parse_event(message)
        if event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("event handler failed on %s", message.get("type"))

    def _hook_done(self, task: asyncio.Task[None]) -> None:
        self._hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ARI on-connect hook failed", exc_info=task.exception())
