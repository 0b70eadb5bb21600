"""``GET /healthz`` and ``GET /metrics``: safe without authentication, no secrets in them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from screener.ops.health import ServiceHealth, health_report
from screener.ops.metrics import render_metrics

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def make_ops_router(health: ServiceHealth) -> APIRouter:
    router = APIRouter(tags=["operations"], include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        healthy, body = await health_report(health)
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(render_metrics(health), media_type=PROMETHEUS_CONTENT_TYPE)

    return router
