"""The FastAPI application: pages for reception and admins, plus the JSON API."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from screener.calls.presence import BoardPresence
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.domain.numbers import NumberAnalyser
from screener.events import EventBus
from screener.settings import Settings
from screener.web import (
    api,
    api_docs,
    api_screening,
    routes_audit,
    routes_auth,
    routes_board,
    routes_calls,
    routes_list_io,
    routes_lists,
    routes_policy,
    routes_setup,
    routes_stats,
    routes_users,
)
from screener.web.context import WebContext, web_context
from screener.web.deps import BAD_TOKEN, NotAuthenticated, bearer_secret, is_api
from screener.web.rendering import build_templates, display_zone, render
from screener.web.secret import load_or_create_secret
from screener.web.security import SecurityHeaders
from screener.web.throttle import LoginThrottle

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "screener_session"
OPS_TOKEN_REQUIRED = "this endpoint needs Authorization: Bearer <web.ops_token>"  # noqa: S105


class OpsTokenRequired(Exception):
    """``web.ops_token`` is set and the request to /healthz or /metrics did not carry it."""


async def ops_access(request: Request) -> None:
    """With ``web.ops_token`` set, the public routers (``/healthz``, ``/metrics``) need it."""
    expected = web_context(request).settings.web.ops_token.get_secret_value()
    if not expected:
        return
    given = bearer_secret(request) or ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise OpsTokenRequired()


def create_app(
    settings: Settings,
    database: Database,
    screening: ScreeningService,
    bus: EventBus,
    *,
    public_routers: Sequence[APIRouter] = (),
    simulated: bool = False,
    presence: BoardPresence | None = None,
    speech_status: Callable[[], Mapping[str, Any]] | None = None,
    warnings: Callable[[], list[str]] | None = None,
) -> FastAPI:
    """The console. ``public_routers`` (e.g. ``/healthz``, ``/metrics``) need no sign-in
    (only ``web.ops_token``, when it is set); ``speech_status`` says whether this process
    transcribes what callers say (``CallTranscripts.status``)."""
    web = settings.web
    zone = display_zone(web.time_zone)
    app = FastAPI(
        title="Screener",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.web = WebContext(
        settings=settings,
        database=database,
        screening=screening,
        bus=bus,
        templates=build_templates(zone, settings.numbers.region),
        user_throttle=LoginThrottle(web.login_attempts, web.login_lockout_seconds),
        address_throttle=LoginThrottle(web.login_attempts * 5, web.login_lockout_seconds),
        analyser=NumberAnalyser(settings.numbers.region),
        simulated=simulated,
        zone=zone,
        presence=presence
        or BoardPresence(settings.screen.watch_grace_seconds, settings.screen.api_watch_seconds),
        speech_status=speech_status,
        warnings=warnings,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=load_or_create_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=web.session_hours * 3600,
        same_site="strict",
        https_only=web.secure_cookies,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for public in public_routers:
        app.include_router(public, dependencies=[Depends(ops_access)])
    for module in (
        routes_setup,
        routes_auth,
        routes_board,
        routes_calls,
        routes_lists,
        routes_list_io,
        routes_policy,
        routes_users,
        routes_audit,
        routes_stats,
        api_docs,
    ):
        app.include_router(module.router, include_in_schema=False)
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(api_screening.router, prefix="/api/v1")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """Browsers ask for it whatever the page says: send them to the SVG icon."""
        return RedirectResponse("/static/favicon.svg", status_code=301)

    _install_error_pages(app)
    return app


def validation_detail(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line: ``body.value: Field required; ...``."""
    parts = []
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(location) or "request"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)[:1000] or "invalid request"


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(OpsTokenRequired)
    async def ops_token_required(request: Request, exc: OpsTokenRequired) -> Response:
        return JSONResponse(
            {"detail": OPS_TOKEN_REQUIRED},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request) or request.headers.get("hx-request"):
            return JSONResponse({"detail": validation_detail(exc)}, status_code=422)
        return render(
            request,
            "error.html",
            {"status": 422, "message": validation_detail(exc)},
            status_code=422,
        )

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if is_api(request):
            challenge = 'Bearer error="invalid_token"' if exc.detail == BAD_TOKEN else "Bearer"
            return JSONResponse(
                {"detail": exc.detail},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        login = "/login?next=" + quote(target, safe="")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": login})
        if request.method not in ("GET", "HEAD"):
            return Response("authentication required", status_code=401)
        return RedirectResponse(login, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or request.headers.get("hx-request"):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": str(exc.detail)},
            status_code=exc.status_code,
        )
