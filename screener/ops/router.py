"""``GET /healthz`` and ``GET /metrics``: safe without authentication, no secrets in them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from screener.ops.metrics import render_metrics
from screener.ops.state import ServiceState

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def database_reachable(state: ServiceState) -> bool:
    """``SELECT 1`` within the configured timeout."""
    if state.database is None:
        return False
    try:
        async with asyncio.timeout(state.db_check_timeout_seconds):
            async with state.database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable"; the reason goes to the log
        log.warning("health check: database not reachable (%s)", type(exc).__name__)
        return False
    return True


async def health_report(state: ServiceState) -> tuple[bool, dict[str, Any]]:
    """Healthy when the database answers and, if ARI is in use, its websocket is up.

    MQTT is reported but does not make the service unhealthy: calls are still
    screened while the broker is away (events wait in the bounded queue).
    """
    db_ok = await database_reachable(state)
    ari_ok = state.ari_connected or not state.ari_enabled
    healthy = db_ok and ari_ok
    body: dict[str, Any] = {
        "status": "ok" if healthy else "unhealthy",
        "database": {"reachable": db_ok},
        "ari": {"enabled": state.ari_enabled, "connected": state.ari_connected},
        "mqtt": {
            "enabled": state.mqtt.enabled,
            "connected": state.mqtt.connected,
            "queued": state.mqtt.queued,
            "dropped": state.mqtt.dropped,
        },
    }
    return healthy, body


def make_ops_router(state: ServiceState) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        healthy, body = await health_report(state)
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(render_metrics(state), media_type=PROMETHEUS_CONTENT_TYPE)

    return router
