"""The composition root: every component of the running service, built once, in one place.

:func:`build` makes the components from the settings (no I/O): the lookup backend, the
screening service, the policy watcher, the call recorder and desk, speech to text, the ARI
flow, the FastAGI server, the MQTT publisher, metrics, health and the web console.
:func:`run` starts them in order (speech to text loads its model in the background, so
calls are screened from the start), waits for a stop, and stops them in the one shutdown
order:

1. stop taking calls (a new ``StasisStart`` goes straight back to the dialplan) and
   send calls in progress back to the dialplan; close the ARI socket;
2. stop FastAGI and the web console;
3. let the recordings being transcribed finish (for a few seconds; their transcripts are
   written and published), then stop the speech workers;
4. write what is queued for the database, then let MQTT send what is left;
5. close the lookup connections and the ARI client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from screener.agi.server import AgiServer
from screener.ari.client import AriClient
from screener.ari.connection import AriConnection
from screener.calls.agi_features import DeskPhoneFeatures
from screener.calls.agi_flow import AgiFlow
from screener.calls.ari_flow import ScreeningApp
from screener.calls.desk import CallDesk, DigitChooser, random_digits
from screener.calls.feed import CallFeed
from screener.calls.lookup import call_reader
from screener.calls.presence import BoardPresence
from screener.calls.recorder import CallRecorder
from screener.calls.screen_store import read_decision
from screener.calls.screening import ScreeningService
from screener.calls.transcripts import CallTranscripts
from screener.db.lifecycle import Database, open_database
from screener.domain.vocabulary import CallSource
from screener.events import EventBus
from screener.mqtt_publisher import MqttPublisher
from screener.ops.counters import CallMetrics, run_metrics_collector
from screener.ops.health import ServiceHealth, service_warnings
from screener.ops.router import make_ops_router
from screener.policy.watcher import PolicyWatcher
from screener.retention import run_retention
from screener.settings import Settings
from screener.speech.transcriber import Transcriber
from screener.web.server import WebServer

log = logging.getLogger(__name__)

RECORDER_DRAIN_SECONDS = 30.0
MQTT_DRAIN_SECONDS = 2.0


class NothingToScreen(RuntimeError):
    """``ari.url`` is empty and FastAGI is off: nothing would bring calls to screen."""


@dataclass
class AriParts:
    client: AriClient
    app: ScreeningApp
    connection: AriConnection


@dataclass
class Screener:
    """The running service's components (see the module docstring)."""

    settings: Settings
    database: Database
    bus: EventBus
    screening: ScreeningService
    policy: PolicyWatcher
    recorder: CallRecorder
    desk: CallDesk
    transcripts: CallTranscripts
    metrics: CallMetrics
    health: ServiceHealth
    ari: AriParts | None = None
    agi: AgiServer | None = None
    mqtt: MqttPublisher | None = None
    web: WebServer | None = None
    feed: CallFeed | None = None
    presence: BoardPresence = field(default_factory=BoardPresence)
    """Whether anybody watches the live board (a screened caller is held only then)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def calls(self) -> ScreeningApp | None:
        """The ARI flow, if ARI is in use."""
        return self.ari.app if self.ari else None


def build(
    settings: Settings,
    database: Database,
    *,
    choose_digits: DigitChooser = random_digits,
    source: CallSource = CallSource.ARI,
) -> Screener:
    """Make every component from the settings; nothing runs until :func:`start`."""
    bus = EventBus()
    screening = ScreeningService(settings, call_reader(database.url, database.sessions))
    policy = PolicyWatcher(
        settings, screening, database.sessions, bus, settings.policy.sync_seconds
    )
    recorder = CallRecorder(database.sessions, bus)
    presence = BoardPresence(settings.screen.watch_grace_seconds, settings.screen.api_watch_seconds)
    transcripts = CallTranscripts(
        settings,
        Transcriber(settings.speech),
        database.sessions,
        bus,
        policy=lambda: screening.policy,
    )
    desk = CallDesk(
        screening,
        recorder,
        site=settings.office.site,
        attempts=settings.challenge.attempts,
        choose_digits=choose_digits,
        challenge_before_screening=settings.screen.challenge_first,
        recordings=transcripts,
    )
    metrics = CallMetrics()
    health = ServiceHealth(
        database,
        bus,
        metrics,
        recorder=recorder,
        policy=policy,
        speech=transcripts,
        simulated=source is CallSource.DEMO,
    )
    screener = Screener(
        settings, database, bus, screening, policy, recorder, desk, transcripts, metrics, health
    )
    screener.presence = presence
    ari = settings.ari
    if ari.url:
        client = AriClient(
            ari.url,
            ari.username,
            ari.password.get_secret_value(),
            timeout=ari.request_timeout_seconds,
        )
        app = ScreeningApp(
            settings,
            client,
            desk,
            source=source,
            bus=bus,
            presence=presence,
            decisions=functools.partial(read_decision, database.sessions),
        )
        connection = AriConnection(
            ari.url,
            ari.app,
            ari.username,
            ari.password.get_secret_value(),
            on_event=app.on_event,
            on_connected=app.reconcile,
            bus=bus,
            reconnect_initial_seconds=ari.reconnect_initial_seconds,
            reconnect_max_seconds=ari.reconnect_max_seconds,
        )
        screener.ari = AriParts(client, app, connection)
        health.ari, health.calls = connection.state, app
    if settings.agi.enabled:
        features = DeskPhoneFeatures(database, bus, screening.analyser, settings.office.site)
        scripts = {**AgiFlow(desk, database.url).scripts(), **features.scripts()}
        screener.agi = health.agi = AgiServer(scripts)
    if settings.mqtt.enabled:
        screener.mqtt = health.mqtt = MqttPublisher(settings, bus)
    if database.url.startswith("postgresql"):
        # Other Screener processes on this database: their calls on this bus (live board).
        screener.feed = CallFeed(database.url, bus, presence)
    if settings.web.enabled:
        from screener.web.app import create_app  # the console's imports cost only when used

        web_app = create_app(
            settings,
            database,
            screening,
            bus,
            public_routers=[make_ops_router(health)],
            simulated=health.simulated,
            presence=presence,
            speech_status=transcripts.status,
            warnings=functools.partial(service_warnings, health),
        )
        screener.web = WebServer(settings.web, web_app)
    return screener


def _task(screener: Screener, coro: Coroutine[Any, Any, None], name: str) -> None:
    screener._tasks.append(asyncio.create_task(_guarded(coro, name), name=name))


async def _guarded(coro: Coroutine[Any, Any, None], name: str) -> None:
    """A background part that crashes is logged and does not take calls down with it."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s failed", name)


async def start(screener: Screener) -> None:
    """Start every component, in order. Raises (and starts nothing more) if one cannot."""
    try:
        await screener.policy.load()
    except Exception as exc:  # policy overrides unreadable: keep the settings file's policy
        log.warning("using the settings file's policy (overrides unreadable: %s)", exc)
    _task(screener, screener.recorder.run(), "call-recorder")
    _task(screener, screener.transcripts.start(), "speech-start")
    _task(screener, run_metrics_collector(screener.bus, screener.metrics), "metrics")
    _task(screener, screener.policy.run(), "policy-watcher")
    retention = screener.settings.retention
    if retention.calls_days or retention.audit_days:
        _task(screener, run_retention(screener.database, screener.settings), "retention")
    if screener.mqtt is not None:
        _task(screener, screener.mqtt.run(), "mqtt-publisher")
    if screener.feed is not None:
        _task(screener, screener.feed.run(), "call-feed")
    if screener.agi is not None:
        await screener.agi.start(screener.settings.agi)
    if screener.web is not None:
        await screener.web.start()
    if screener.ari is not None:
        _task(screener, screener.ari.connection.run(), "ari-connection")
        _task(screener, screener.ari.app.follow(), "screen-follow")
    # Everything built so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise stall call handling for tens of ms.
    gc.collect()
    gc.freeze()
    settings = screener.settings
    if screener.ari is not None:
        log.info(
            "screener running: ARI app %r at %s",
            settings.ari.app,
            screener.ari.connection.state.url,
        )
    else:
        log.info(
            "screener running without ARI (FastAGI on %s:%d)", settings.agi.host, settings.agi.port
        )


async def stop(screener: Screener) -> None:
    """Stop every component in the shutdown order of the module docstring."""
    log.info("shutting down: sending calls in progress back to the dialplan")
    screener.stopping.set()
    if screener.ari is not None:
        await screener.ari.app.shutdown()
        await screener.ari.connection.stop()
    if screener.agi is not None:
        await screener.agi.stop()
    if screener.web is not None:
        await screener.web.stop()
    tasks = {t.get_name(): t for t in screener._tasks}
    loading = tasks.get("speech-start")
    if loading is not None:
        loading.cancel()  # the model may still be loading
        await asyncio.gather(loading, return_exceptions=True)
    await screener.transcripts.close()
    for name in ("ari-connection", "screen-follow", "policy-watcher", "metrics", "retention"):
        task = tasks.get(name)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await screener.recorder.close()
    writer = tasks.get("call-recorder")
    if writer is not None:
        try:
            async with asyncio.timeout(RECORDER_DRAIN_SECONDS):
                await writer
        except TimeoutError:
            log.error("gave up writing %d queued call records", screener.recorder.pending)
    publisher = tasks.get("mqtt-publisher")
    if publisher is not None and screener.mqtt is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(MQTT_DRAIN_SECONDS):
                while screener.mqtt.queued and screener.mqtt.state.connected:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
    feed = tasks.get("call-feed")
    if feed is not None:
        await asyncio.sleep(0.1)  # the feed's batch of the last records
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
    if screener.ari is not None:
        await screener.ari.client.aclose()
    await screener.screening.close()
    gc.unfreeze()
    log.info("screener stopped")


async def run(
    settings: Settings,
    *,
    stop_event: asyncio.Event | None = None,
    started: Callable[[Screener], None] | None = None,
    choose_digits: DigitChooser = random_digits,
    source: CallSource = CallSource.ARI,
    install_signal_handlers: bool = True,
) -> None:
    """Run the service until SIGTERM/SIGINT or until ``stop_event`` is set."""
    if not settings.ari.url and not settings.agi.enabled:
        raise NothingToScreen(
            "ari.url is not set and FastAGI is off: there is no Asterisk to screen calls for "
            "(set [ari] url or [agi] enabled in screener.toml, or try `screener demo`)"
        )
    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if install_signal_handlers:
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, stop_event.set)
                installed.append(signum)
            except (NotImplementedError, RuntimeError):
                pass
    try:
        async with open_database(settings.database) as database:
            screener = build(settings, database, choose_digits=choose_digits, source=source)
            try:
                await start(screener)
                if started is not None:
                    started(screener)
                await stop_event.wait()
            finally:
                await stop(screener)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
