"""/healthz and /metrics served by the ops router against real databases."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from screener.db.engine import create_engine, session_factory
from screener.db.lifecycle import Database
from screener.events import CALL_OUTCOME, CALL_REVIEWED, CALL_STARTED, CALL_VERDICT, EventBus
from screener.ops import CallMetrics, ServiceState, make_ops_router, run_metrics_collector
from screener.settings import DatabaseSettings
from tests.support.pgcluster import free_port

SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>(?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*)\})?'
    r" (?P<value>[-+]?(?:[0-9.e+-]+|Inf|NaN))$"
)


def parse_exposition(body: str) -> dict[str, float]:
    """Every line must be a comment or a well-formed sample; returns ``name{labels} -> value``."""
    samples: dict[str, float] = {}
    declared: set[str] = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"malformed exposition line: {line!r}"
        name = match["name"]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in declared or base in declared, f"{name} has no TYPE line"
        key = name + (f"{{{match['labels']}}}" if match["labels"] else "")
        samples[key] = float(match["value"])
    return samples


@contextlib.asynccontextmanager
async def client_for(state: ServiceState) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(make_ops_router(state))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://screener") as client:
        yield client


async def test_healthy_when_database_answers_and_ari_not_in_use(database: Database) -> None:
    state = ServiceState(database=database)
    async with client_for(state) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"reachable": True}
    assert body["ari"] == {"enabled": False, "connected": False}
    assert body["mqtt"]["connected"] is False


async def test_unhealthy_while_ari_is_disconnected(database: Database) -> None:
    state = ServiceState(database=database, ari_enabled=True)
    async with client_for(state) as client:
        down = await client.get("/healthz")
        state.ari_connected = True
        up = await client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["status"] == "unhealthy"
    assert up.status_code == 200


async def test_unreachable_database_gives_503_without_leaking_the_url() -> None:
    url = f"postgresql+asyncpg://screener:hunter2-db@127.0.0.1:{free_port()}/screener"
    engine = create_engine(DatabaseSettings(url=url))
    state = ServiceState(database=Database(engine, session_factory(engine), url))
    try:
        async with client_for(state) as client:
            response = await client.get("/healthz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == {"reachable": False}
    assert "hunter2" not in response.text
    assert "127.0.0.1" not in response.text


async def test_metrics_count_bus_events_and_state_in_prometheus_format() -> None:
    bus = EventBus()
    metrics = CallMetrics()
    state = ServiceState(bus=bus, metrics=metrics, ari_connected=True, ari_reconnects=3)
    state.mqtt.published = 7
    state.mqtt.dropped = 2
    slow = bus.subscribe(maxsize=1)  # a listener that never reads: its drops are counted
    collector = asyncio.create_task(run_metrics_collector(bus, metrics))
    await asyncio.sleep(0)
    for call, (action, ms) in enumerate([("allow", 0.4), ("challenge", 3.0), ("challenge", 40.0)]):
        bus.publish(CALL_STARTED, {"call_id": str(call), "source": "agi"})
        bus.publish(CALL_VERDICT, {"call_id": str(call), "action": action, "decision_ms": ms})
    bus.publish(CALL_OUTCOME, {"call_id": "1", "outcome": "passed"})
    bus.publish(CALL_OUTCOME, {"call_id": "2", "outcome": 'evil"}\n# TYPE x counter'})
    bus.publish(CALL_REVIEWED, {"call_id": "2", "review_state": "scam"})
    bus.publish(CALL_VERDICT, {"call_id": "9", "action": "allow", "decision_ms": "not-a-number"})
    async with asyncio.timeout(10):
        while sum(metrics.calls_by_verdict.values()) < 4 or not metrics.reviews_by_state:
            await asyncio.sleep(0.01)
    try:
        async with client_for(state) as client:
            response = await client.get("/metrics")
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        slow.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse_exposition(response.text)
    assert samples['screener_calls_total{verdict="allow"}'] == 2
    assert samples['screener_calls_total{verdict="challenge"}'] == 2
    assert samples['screener_calls_total{verdict="block"}'] == 0
    assert samples['screener_calls_started_total{source="agi"}'] == 3
    assert samples['screener_call_outcomes_total{outcome="passed"}'] == 1
    assert samples['screener_call_outcomes_total{outcome="other"}'] == 1
    assert samples['screener_call_reviews_total{state="scam"}'] == 1
    assert samples['screener_decision_seconds_bucket{le="0.001"}'] == 1
    assert samples['screener_decision_seconds_bucket{le="0.005"}'] == 2
    assert samples['screener_decision_seconds_bucket{le="0.05"}'] == 3
    assert samples['screener_decision_seconds_bucket{le="+Inf"}'] == 3
    assert samples["screener_decision_seconds_count"] == 3
    assert samples["screener_decision_seconds_sum"] == pytest.approx(0.0434)
    assert samples["screener_ari_connected"] == 1
    assert samples["screener_ari_reconnects_total"] == 3
    assert samples["screener_mqtt_published_total"] == 7
    assert samples["screener_mqtt_dropped_total"] == 2
    assert samples["screener_bus_events_total"] == 10
    assert samples["screener_bus_dropped_total"] == 9
    assert "evil" not in response.text
