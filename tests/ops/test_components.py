"""The ops components run together the way the service runs them: AGI call in, metrics,
MQTT event and health out (real database, real Mosquitto, real TCP)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
from fastapi import FastAPI

from screener.ari.connection import ConnectionState
from screener.db.lifecycle import Database
from screener.events import EventBus
from screener.ops import ServiceState, make_ops_router
from screener.ops.components import ops_components
from screener.screening import ScreeningService
from screener.service import ServiceContext
from screener.settings import AgiSettings, MqttSettings, OfficeSettings, Settings
from tests.agi.conftest import agi_call
from tests.mqtt.conftest import mosquitto, mosquitto_binary, subscriber  # noqa: F401
from tests.support.mosquitto import Mosquitto
from tests.support.pgcluster import free_port

pytestmark = pytest.mark.mqtt


async def test_agi_call_shows_up_in_metrics_mqtt_and_health(
    settings: Settings,
    database: Database,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    agi_port = free_port()
    settings = settings.model_copy(
        update={
            "office": OfficeSettings(site="hq"),
            "agi": AgiSettings(enabled=True, host="127.0.0.1", port=agi_port),
            "mqtt": MqttSettings(enabled=True, port=mosquitto.port, reconnect_max_seconds=0.3),
        }
    )
    state = ServiceState.from_settings(settings)
    bus = EventBus()
    ari = ConnectionState(url="http://127.0.0.1:8088")
    ctx = ServiceContext(
        settings, database, ScreeningService(settings, database.sessions), bus, ari
    )
    components = ops_components(settings, state)
    assert [c.__name__ for c in components] == ["metrics", "ari_state", "mqtt", "agi"]
    tasks = [asyncio.create_task(c(ctx)) for c in components]
    app = FastAPI()
    app.include_router(make_ops_router(state))
    try:
        async with subscriber(mosquitto.port, "screener/hq/calls/#") as seen:
            async with asyncio.timeout(15):
                while not state.mqtt.connected:
                    await asyncio.sleep(0.02)
                while True:  # the AGI listener is up once a connection succeeds
                    try:
                        result = await agi_call(agi_port, callerid="anonymous")
                        break
                    except OSError:
                        await asyncio.sleep(0.05)
            await seen.wait_for(lambda: len(seen.messages) >= 2)
            async with asyncio.timeout(10):
                while state.mqtt.published < 2:  # acknowledged by the broker
                    await asyncio.sleep(0.02)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            down = await client.get("/healthz")
            ari.connected, ari.reconnects = True, 2
            async with asyncio.timeout(10):
                while not state.ari_connected:
                    await asyncio.sleep(0.05)
            up = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    call_id = result.variables["SCREENER_CALL_ID"]
    assert result.variables["SCREENER_VERDICT"] == "challenge"
    assert [t for t, _, _ in seen.messages] == [
        f"screener/hq/calls/{call_id}/started",
        f"screener/hq/calls/{call_id}/verdict",
    ]
    assert json.loads(seen.messages[1][1])["action"] == "challenge"
    assert down.status_code == 503  # ARI configured but not connected
    assert up.status_code == 200
    assert up.json()["mqtt"]["connected"] is True
    assert 'screener_calls_total{verdict="challenge"} 1' in metrics
    assert 'screener_calls_started_total{source="agi"} 1' in metrics
    assert "screener_ari_reconnects_total 2" in metrics
    assert "screener_mqtt_published_total 2" in metrics
