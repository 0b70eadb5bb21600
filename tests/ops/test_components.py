"""The service as the composition root builds it: a FastAGI call in, metrics, MQTT events and
health out (real database, real Mosquitto, real TCP, the real web server)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from screener import composition
from screener.db.lifecycle import Database
from screener.settings import AgiSettings, MqttSettings, OfficeSettings, Settings, WebSettings
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
    agi_port, web_port = free_port(), free_port()
    settings = settings.model_copy(
        update={
            "office": OfficeSettings(site="hq"),
            "agi": AgiSettings(enabled=True, host="127.0.0.1", port=agi_port),
            "mqtt": MqttSettings(enabled=True, port=mosquitto.port, reconnect_max_seconds=0.3),
            "web": WebSettings(port=web_port, secure_cookies=False),
        }
    )
    service = composition.build(settings, database)
    assert service.agi and service.mqtt and service.web and service.ari is None
    await composition.start(service)
    try:
        async with subscriber(mosquitto.port, "screener/hq/calls/#") as seen:
            async with asyncio.timeout(15):
                while not service.mqtt.state.connected:
                    await asyncio.sleep(0.02)
            result = await agi_call(agi_port, callerid="anonymous")
            call_id = result.variables["SCREENER_CALL_ID"]
            outcome = await agi_call(agi_port, "outcome", args=(call_id, "failed"))
            await seen.wait_for(lambda: len(seen.messages) >= 3)
            async with asyncio.timeout(10):
                while service.mqtt.state.published < 3:
                    await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{web_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            health = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
    finally:
        await composition.stop(service)

    assert result.variables["SCREENER_VERDICT"] == "challenge"
    assert outcome.variables == {"SCREENER_OUTCOME": "recorded"}
    assert [t for t, _, _ in seen.messages] == [
        f"screener/hq/calls/{call_id}/started",
        f"screener/hq/calls/{call_id}/verdict",
        f"screener/hq/calls/{call_id}/outcome",
    ]
    verdict = json.loads(seen.messages[1][1])
    assert verdict["version"] == 1 and verdict["action"] == "challenge"
    ended = json.loads(seen.messages[2][1])
    assert (ended["outcome"], ended["verdict"]) == ("challenge-failed", "challenge-failed")
    assert health.status_code == 200
    assert health.json()["mqtt"]["connected"] is True
    assert health.json()["agi"]["enabled"] is True
    assert 'screener_call_decisions_total{action="challenge"} 1' in metrics
    assert 'screener_calls_started_total{source="agi"} 1' in metrics
    assert 'screener_call_outcomes_total{outcome="challenge-failed"} 1' in metrics
    assert 'screener_call_verdicts_total{verdict="challenge-failed"} 1' in metrics
    assert "screener_agi_sessions_total 2" in metrics
    assert "screener_recorder_write_failures_total 0" in metrics
    assert "screener_mqtt_published_total 3" in metrics
