"""Service components for MQTT, FastAGI and metrics, in the shape ``run_service`` expects.

A component is ``async def component(ctx) -> None`` that runs until cancelled (see
:mod:`screener.service`). Wiring, for the code that starts the service::

    state = ServiceState.from_settings(settings)
    components = ops_components(settings, state)     # pass to run_service(...)
    app.include_router(make_ops_router(state))       # /healthz and /metrics on the web app
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from screener.agi.server import run_agi_server
from screener.mqtt_publisher import run_mqtt_publisher
from screener.ops.metrics import CallMetrics, run_metrics_collector
from screener.ops.state import ServiceState
from screener.settings import Settings

if TYPE_CHECKING:
    from screener.service import ServiceContext

OpsComponent = Callable[["ServiceContext"], Awaitable[None]]

ARI_STATE_POLL_SECONDS = 0.5


def _adopt(state: ServiceState, ctx: ServiceContext) -> None:
    """Give the state the database and bus the service opened."""
    state.database = ctx.database
    state.bus = ctx.bus
    if state.metrics is None:
        state.metrics = CallMetrics()


def ops_components(settings: Settings, state: ServiceState) -> list[OpsComponent]:
    """Metrics and ARI state always; MQTT and FastAGI when enabled in the settings."""

    async def metrics(ctx: ServiceContext) -> None:
        _adopt(state, ctx)
        assert state.metrics is not None
        await run_metrics_collector(ctx.bus, state.metrics)

    async def ari_state(ctx: ServiceContext) -> None:
        """Mirror the ARI connection's state into ``state`` for /healthz and /metrics."""
        _adopt(state, ctx)
        while True:
            if ctx.ari is not None:
                state.ari_enabled = True
                state.ari_connected = ctx.ari.connected
                state.ari_reconnects = ctx.ari.reconnects
            await asyncio.sleep(ARI_STATE_POLL_SECONDS)

    async def mqtt(ctx: ServiceContext) -> None:
        _adopt(state, ctx)
        await run_mqtt_publisher(ctx.settings, ctx.bus, state)

    async def agi(ctx: ServiceContext) -> None:
        await run_agi_server(ctx.settings, ctx.database, ctx.screening, ctx.bus)

    components: list[OpsComponent] = [metrics, ari_state]
    if settings.mqtt.enabled:
        components.append(mqtt)
    if settings.agi.enabled:
        components.append(agi)
    return components
