"""The long-running Screener service: database, screening, event bus, ARI and extra components.

``run_service(settings, extra_components=[...])`` runs until SIGTERM/SIGINT (or ``stop``).
A *component* is ``async def component(ctx: ServiceContext) -> None``: it gets the shared
:class:`ServiceContext` and runs until cancelled (the web console, the MQTT publisher and
the FastAGI server plug in this way)::

    async def web(ctx: ServiceContext) -> None:
        await serve_web(ctx.settings.web, ctx.screening, ctx.bus)

    await run_service(settings, extra_components=[web])

Shutdown order: stop taking calls (a new ``StasisStart`` is continued straight away), send
calls in progress back to the dialplan, close the ARI socket, cancel the components, write
what is queued for the database, close the database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from screener.ari.client import AriClient
from screener.ari.connection import AriConnection, ConnectionState
from screener.callflow.ari_adapter import DigitChooser, ScreeningApp, random_digits
from screener.callflow.recorder import CallRecorder
from screener.db.lifecycle import Database, open_database
from screener.events import EventBus
from screener.screening import ScreeningService
from screener.settings import Settings

log = logging.getLogger(__name__)

Component = Callable[["ServiceContext"], Awaitable[None]]


class NoAriConfigured(RuntimeError):
    """``ari.url`` is empty and FastAGI is off: nothing would bring calls to screen."""


@dataclass
class ServiceContext:
    """What every component of the running service shares."""

    settings: Settings
    database: Database
    screening: ScreeningService
    bus: EventBus
    ari: ConnectionState | None = None
    calls: ScreeningApp | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def health(self) -> dict[str, object]:
        """A small JSON-able health summary (for a web ``/health`` endpoint)."""
        return {
            "ari": self.ari.as_dict() if self.ari else None,
            "active_calls": self.calls.active_calls if self.calls else 0,
            "stopping": self.stopping.is_set(),
        }


async def run_service(
    settings: Settings,
    extra_components: Sequence[Component] = (),
    *,
    stop: asyncio.Event | None = None,
    started: Callable[[ServiceContext], None] | None = None,
    choose_digits: DigitChooser = random_digits,
    install_signal_handlers: bool = True,
) -> None:
    """Run until SIGTERM/SIGINT or until ``stop`` is set. See the module docstring."""
    if not settings.ari.url and not settings.agi.enabled:
        raise NoAriConfigured(
            "ari.url is not set and FastAGI is off: there is no Asterisk to screen calls for "
            "(set [ari] url or [agi] enabled in screener.toml, or try `screener demo`)"
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if install_signal_handlers:
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
            except (NotImplementedError, RuntimeError):
                pass
    try:
        async with open_database(settings.database) as database:
            await _serve(settings, database, extra_components, stop, started, choose_digits)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def _serve(
    settings: Settings,
    database: Database,
    extra_components: Sequence[Component],
    stop: asyncio.Event,
    started: Callable[[ServiceContext], None] | None,
    choose_digits: DigitChooser,
) -> None:
    ari = settings.ari
    bus = EventBus()
    screening = ScreeningService(settings, database.sessions)
    try:
        await screening.reload_policy()
    except Exception as exc:  # policy overrides unreadable: keep the file's policy
        log.warning("using the settings file's policy (overrides unreadable: %s)", exc)
    recorder = CallRecorder(database.sessions, bus, site=settings.office.site, source="ari")
    client: AriClient | None = None
    app: ScreeningApp | None = None
    connection: AriConnection | None = None
    if ari.url:
        client = AriClient(
            ari.url,
            ari.username,
            ari.password.get_secret_value(),
            timeout=ari.request_timeout_seconds,
        )
        app = ScreeningApp(settings, client, screening, recorder, choose_digits=choose_digits)
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
    ctx = ServiceContext(
        settings, database, screening, bus, connection.state if connection else None, app
    )
    writer = asyncio.create_task(recorder.run(), name="call-recorder")
    reader = asyncio.create_task(connection.run(), name="ari-connection") if connection else None
    components = [
        asyncio.create_task(_guarded(component, ctx), name=getattr(component, "__name__", "c"))
        for component in extra_components
    ]
    # Everything built so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise stall call handling for tens of ms.
    gc.collect()
    gc.freeze()
    if connection is not None:
        log.info("screener running: ARI app %r at %s", ari.app, connection.state.url)
    else:
        log.info(
            "screener running without ARI (FastAGI on %s:%d)", settings.agi.host, settings.agi.port
        )
    if started is not None:
        started(ctx)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: sending calls in progress back to the dialplan")
        ctx.stopping.set()
        if app is not None and connection is not None and reader is not None:
            await app.shutdown()
            await connection.stop()
            reader.cancel()
        for task in components:
            task.cancel()
        await asyncio.gather(*(t for t in (reader, *components) if t), return_exceptions=True)
        await recorder.close()
        try:
            await asyncio.wait_for(writer, 30)
        except TimeoutError:
            log.error("gave up writing %d queued call records", recorder.pending)
        if client is not None:
            await client.aclose()
        await screening.close()
        gc.unfreeze()
        log.info("screener stopped")


async def _guarded(component: Component, ctx: ServiceContext) -> None:
    """Run a component; its crash is logged and does not take calls down with it."""
    try:
        await component(ctx)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("component %s failed", getattr(component, "__name__", component))
