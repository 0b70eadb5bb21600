"""/healthz and /metrics served by the ops router against real databases."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from screener.ari.connection import ConnectionState
from screener.db.engine import create_engine, session_factory
from screener.db.lifecycle import Database
from screener.domain.events import (
    CallDecided,
    CallDelivered,
    CallFinished,
    CallReviewed,
    CallStarted,
)
from screener.domain.model import CallEnding, CallFacts, Decision, NumberInfo
from screener.domain.vocabulary import (
    Action,
    CallSource,
    Delivery,
    NumberType,
    Outcome,
    ReviewState,
    Step,
    Verdict,
)
from screener.events import EventBus
from screener.ops.counters import CallMetrics, run_metrics_collector
from screener.ops.health import ServiceHealth
from screener.ops.router import make_ops_router
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
async def client_for(health: ServiceHealth) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(make_ops_router(health))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://screener") as client:
        yield client


def health_of(database: Database, **parts: object) -> ServiceHealth:
    return ServiceHealth(database, EventBus(), CallMetrics(), **parts)  # type: ignore[arg-type]


async def test_healthy_when_database_answers_and_ari_not_in_use(database: Database) -> None:
    async with client_for(health_of(database)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "live"
    assert body["database"] == {"reachable": True}
    assert body["ari"]["enabled"] is False and body["ari"]["connected"] is False
    assert body["mqtt"]["connected"] is False


async def test_unhealthy_while_ari_is_disconnected(database: Database) -> None:
    ari = ConnectionState(url="http://pbx:8088/ari")
    async with client_for(health_of(database, ari=ari)) as client:
        down = await client.get("/healthz")
        ari.connected = True  # what the connection loop sets: read live, never copied
        up = await client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["status"] == "unhealthy"
    assert up.status_code == 200
    assert up.json()["ari"]["peer"] == "asterisk"


async def test_a_simulation_says_so(database: Database) -> None:
    ari = ConnectionState(url="http://127.0.0.1:9/ari", connected=True)
    async with client_for(health_of(database, ari=ari, simulated=True)) as client:
        body = (await client.get("/healthz")).json()
    assert body["mode"] == "simulation" and body["ari"]["peer"] == "simulator"


async def test_unreachable_database_gives_503_without_leaking_the_url() -> None:
    url = f"postgresql+asyncpg://screener:hunter2-db@127.0.0.1:{free_port()}/screener"
    engine = create_engine(DatabaseSettings(url=url))
    health = health_of(Database(engine, session_factory(engine), url))
    try:
        async with client_for(health) as client:
            response = await client.get("/healthz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == {"reachable": False}
    assert "hunter2" not in response.text
    assert "127.0.0.1" not in response.text


def _decision(action: Action) -> Decision:
    number = NumberInfo("x", None, True, False, NumberType.WITHHELD, None, None)
    return Decision(action, (), number)


async def test_metrics_count_every_word_of_the_vocabulary_in_prometheus_format() -> None:
    bus = EventBus()
    metrics = CallMetrics()
    now = datetime.now(UTC)
    facts = CallFacts('evil"}\n# TYPE x counter')
    slow = bus.subscribe(maxsize=1)  # a listener that never reads: its drops are counted
    collector = asyncio.create_task(run_metrics_collector(bus, metrics))
    await asyncio.sleep(0)
    for call, (action, ms) in enumerate(
        [(Action.ALLOW, 0.4), (Action.CHALLENGE, 3.0), (Action.CHALLENGE, 40.0)]
    ):
        bus.publish(CallStarted(str(call), "main", CallSource.AGI, None, facts, None, now))
        bus.publish(CallDecided(str(call), "main", _decision(action), ms, now))
    ending = CallEnding(Outcome.CHALLENGE_FAILED, Step.CHALLENGE, Verdict.CHALLENGE_FAILED)
    bus.publish(CallFinished("1", "main", ending, now))
    bus.publish(CallFinished("2", "main", CallEnding(Outcome.ABANDONED, Step.PROMPT), now))
    bus.publish(CallDelivered("0", "main", Delivery.NO_ANSWER, now))
    bus.publish(CallReviewed("2", "main", ReviewState.SCAM, "ann", now))
    async with asyncio.timeout(10):
        while sum(metrics.decisions.values()) < 3 or not metrics.reviews:
            await asyncio.sleep(0.01)
    ari = ConnectionState(url="http://pbx", connected=True, reconnects=3)
    health = ServiceHealth(Database(None, None, "sqlite://"), bus, metrics, ari=ari)  # type: ignore[arg-type]
    try:
        async with client_for(health) as client:
            response = await client.get("/metrics")
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        slow.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse_exposition(response.text)
    assert samples['screener_call_decisions_total{action="allow"}'] == 1
    assert samples['screener_call_decisions_total{action="challenge"}'] == 2
    assert samples['screener_call_decisions_total{action="block"}'] == 0
    assert samples['screener_calls_started_total{source="agi"}'] == 3
    assert samples['screener_calls_started_total{source="ari"}'] == 0
    assert samples['screener_call_outcomes_total{outcome="challenge-failed"}'] == 1
    assert samples['screener_call_outcomes_total{outcome="abandoned"}'] == 1
    assert samples['screener_call_outcomes_total{outcome="connected"}'] == 0
    assert samples['screener_call_verdicts_total{verdict="challenge-failed"}'] == 1
    assert samples['screener_call_deliveries_total{delivery="no_answer"}'] == 1
    assert samples['screener_call_reviews_total{state="scam"}'] == 1
    assert samples['screener_decision_seconds_bucket{le="0.001"}'] == 1
    assert samples['screener_decision_seconds_bucket{le="0.005"}'] == 2
    assert samples['screener_decision_seconds_bucket{le="0.05"}'] == 3
    assert samples['screener_decision_seconds_bucket{le="+Inf"}'] == 3
    assert samples["screener_decision_seconds_count"] == 3
    assert samples["screener_decision_seconds_sum"] == pytest.approx(0.0434)
    assert samples["screener_ari_connected"] == 1
    assert samples["screener_ari_reconnects_total"] == 3
    assert samples["screener_bus_events_total"] == 10
    assert samples["screener_bus_dropped_total"] == 9
    for family, kind in (
        ("screener_call_outcomes_total", Outcome),
        ("screener_call_verdicts_total", Verdict),
        ("screener_call_deliveries_total", Delivery),
    ):
        for member in kind:  # every word is exported from the start, 0 until it happens
            assert any(k.startswith(family) and f'"{member.value}"' in k for k in samples), (
                f"{family} has no {member.value}"
            )
    assert "evil" not in response.text
