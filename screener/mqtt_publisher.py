"""Publish call events from the in-process bus to an MQTT broker.

Topics (``docs/mqtt.md`` has examples)::

    <prefix>/<site>/calls/<call_id>/started|verdict|outcome|delivery|reviewed|transcript
                                                                       QoS 1, not retained
    <prefix>/<site>/calls/<call_id>/waiting|screened     live screening, QoS 1, not retained
    <prefix>/<site>/status    "online" / "offline", retained; "offline" is also the last will

Publishing never delays call handling: the bus hands events to a bounded
subscription queue (``mqtt.queue_size``) without waiting. When the queue is full
the *newest* event is dropped and counted, so the events already queued keep
their order (a call's ``started`` before its ``verdict``) and go out once the
broker is back. aiomqtt 2.x does not reconnect by itself: :func:`run_mqtt_publisher`
loops, waiting between attempts with a capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt

from screener.domain.events import (
    CallDecided,
    CallDelivered,
    CallEvent,
    CallFinished,
    CallReviewed,
    CallStarted,
    CallTranscribed,
)
from screener.domain.screen_events import CallScreened, CallWaiting, ScreenEvent
from screener.events import EventBus, Subscription
from screener.settings import MqttSettings, Settings

log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"
QOS = 1
RECONNECT_INITIAL_SECONDS = 0.5
SHUTDOWN_PUBLISH_SECONDS = 2.0
OPERATION_TIMEOUT_SECONDS = 5.0

TOPIC_SUFFIXES: Mapping[type, str] = {
    CallStarted: "started",
    CallDecided: "verdict",
    CallFinished: "outcome",
    CallDelivered: "delivery",
    CallReviewed: "reviewed",
    CallWaiting: "waiting",
    CallScreened: "screened",
    CallTranscribed: "transcript",
}
"""Event type -> last topic level. Other events are not published."""


@dataclass
class MqttState:
    """What the publisher is doing, for ``/healthz`` and ``/metrics``."""

    connected: bool = False
    connects: int = 0
    """Successful connections to the broker since start (the first one included)."""
    connect_failures: int = 0
    """Connection attempts that failed, and connections that were lost."""
    published: int = 0
    """Events the broker acknowledged (QoS 1 PUBACK)."""
    last_error: str | None = None
    """Short description of the last connection problem (never contains credentials)."""


_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\x00": "_"})


def status_topic(prefix: str, site: str) -> str:
    return f"{prefix}/{site}/status"


def event_topic(prefix: str, site: str, event: CallEvent | ScreenEvent) -> str | None:
    """The topic of a call event, or None when the event is not one MQTT carries."""
    suffix = TOPIC_SUFFIXES.get(type(event))
    if suffix is None or not event.call_id:
        return None
    safe_id = event.call_id.translate(_TOPIC_UNSAFE)[:64]
    return f"{prefix}/{site}/calls/{safe_id}/{suffix}"


def event_payload(event: CallEvent | ScreenEvent) -> bytes:
    """JSON body: ``version``, ``event`` (its kind), ``at`` (when it happened) and its fields."""
    body: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "event": event.kind,
        "at": event.at.isoformat(),
    }
    for key, value in event.payload().items():
        body.setdefault(key, value)
    return json.dumps(body, ensure_ascii=False, default=str, separators=(",", ":")).encode()


def _tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    if not settings.tls:
        return None
    return ssl.create_default_context(cafile=settings.ca_file or None)


def build_client(settings: MqttSettings, site: str) -> aiomqtt.Client:
    """A client whose last will marks this site offline (the password is never logged)."""
    password = settings.password.get_secret_value()
    return aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username or None,
        password=password or None,
        identifier=f"screener-{site}-{uuid.uuid4().hex[:8]}",
        will=aiomqtt.Will(
            status_topic(settings.topic_prefix, site), STATUS_OFFLINE, qos=QOS, retain=True
        ),
        tls_context=_tls_context(settings),
        timeout=OPERATION_TIMEOUT_SECONDS,
        keepalive=30,
        logger=logging.getLogger(f"{__name__}.client"),
    )


def _describe(exc: BaseException) -> str:
    """A short reason for logs and /healthz: the error text, never the settings."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class _ConnectionLost(Exception):
    pass


def _honour_cancellation() -> None:
    """Re-raise a cancellation that an ``asyncio.wait_for`` inside aiomqtt swallowed.

    On Python 3.11 ``wait_for`` returns the result instead of raising when the awaited
    operation finishes at the moment the task is cancelled; the request is still
    counted by ``Task.cancelling()``, so it can be honoured here.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _watch_connection(client: aiomqtt.Client) -> None:
    """Return only by raising: the messages iterator fails when the connection drops."""
    async for _message in client.messages:
        pass
    raise _ConnectionLost("message stream ended")


async def _next_event(sub: Subscription, watcher: asyncio.Task[None]) -> CallEvent | ScreenEvent:
    """The next event to publish; raises if the connection is lost while waiting."""
    getter = asyncio.ensure_future(sub.get())
    try:
        await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        getter.cancel()
        raise
    if getter.done():
        event = getter.result()
        if isinstance(event, CallWaiting | CallScreened):
            return event
        assert isinstance(
            event,
            CallStarted
            | CallDecided
            | CallFinished
            | CallDelivered
            | CallReviewed
            | CallTranscribed,
        )
        return event
    getter.cancel()
    watcher.result()  # raises the connection error
    raise _ConnectionLost("connection watcher stopped")


class MqttPublisher:
    """One publisher per process; :meth:`run` until cancelled."""

    def __init__(self, settings: Settings, bus: EventBus) -> None:
        self.mqtt = settings.mqtt
        self.site = settings.office.site
        self.prefix = settings.mqtt.topic_prefix
        self.state = MqttState()
        self.sub = bus.subscribe(maxsize=settings.mqtt.queue_size, kinds=set(TOPIC_SUFFIXES))
        self._pending: CallEvent | ScreenEvent | None = None

    @property
    def dropped(self) -> int:
        """Events dropped because the queue was full."""
        return self.sub.dropped

    @property
    def queued(self) -> int:
        """Events waiting for the broker right now."""
        return self.sub.queue.qsize() + (1 if self._pending else 0)

    async def run(self) -> None:
        """Publish until cancelled; reconnects on its own."""
        backoff = RECONNECT_INITIAL_SECONDS
        where = f"{self.mqtt.host}:{self.mqtt.port}"
        try:
            while True:
                try:
                    await self._session()
                except Exception as exc:  # any failure: count it, wait, connect again
                    _honour_cancellation()
                    was_connected = self.state.connected
                    self.state.connected = False
                    self.state.connect_failures += 1
                    self.state.last_error = _describe(exc)
                    if not isinstance(exc, aiomqtt.MqttError | _ConnectionLost | OSError):
                        log.exception("MQTT publisher failed; restarting it")
                    elif was_connected:
                        backoff = RECONNECT_INITIAL_SECONDS
                        log.warning("MQTT connection to %s lost: %s", where, _describe(exc))
                    else:
                        log.warning(
                            "MQTT broker %s unreachable (%s); retrying in %.1fs",
                            where,
                            _describe(exc),
                            backoff,
                        )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.mqtt.reconnect_max_seconds)
        finally:
            self.state.connected = False
            self.sub.close()

    async def _session(self) -> None:
        client = build_client(self.mqtt, self.site)
        async with client:
            _honour_cancellation()
            self.state.connected = True
            self.state.connects += 1
            self.state.last_error = None
            log.info("MQTT connected to %s:%s", self.mqtt.host, self.mqtt.port)
            watcher = asyncio.create_task(_watch_connection(client))
            try:
                await client.publish(
                    status_topic(self.prefix, self.site), STATUS_ONLINE, qos=QOS, retain=True
                )
                _honour_cancellation()
                await self._publish_forever(client, watcher)
            except asyncio.CancelledError:
                await self._say_offline(client)
                raise
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher

    async def _publish_forever(self, client: aiomqtt.Client, watcher: asyncio.Task[None]) -> None:
        while True:
            if self._pending is None:
                self._pending = await _next_event(self.sub, watcher)
            event = self._pending
            topic = event_topic(self.prefix, self.site, event)
            if topic is not None:
                await client.publish(topic, event_payload(event), qos=QOS)
                self.state.published += 1
            self._pending = None
            _honour_cancellation()

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """Clean shutdown: mark the site offline (the broker drops the will on DISCONNECT)."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
            async with asyncio.timeout(SHUTDOWN_PUBLISH_SECONDS):
                await client.publish(
                    status_topic(self.prefix, self.site), STATUS_OFFLINE, qos=QOS, retain=True
                )
        log.info("MQTT publisher stopped")
