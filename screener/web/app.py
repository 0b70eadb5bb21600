"""The FastAPI application: pages for reception and admins, plus the JSON API."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.domain.numbers import NumberAnalyser
from screener.events import EventBus
from screener.settings import Settings
from screener.web import (
    api,
    routes_audit,
    routes_auth,
    routes_board,
    routes_calls,
    routes_list_io,
    routes_lists,
    routes_policy,
    routes_stats,
    routes_users,
)
from screener.web.context import WebContext
from screener.web.deps import NotAuthenticated, is_api
from screener.web.rendering import build_templates, render
from screener.web.secret import load_or_create_secret
from screener.web.security import SecurityHeaders
from screener.web.throttle import LoginThrottle

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "screener_session"


def create_app(
    settings: Settings,
    database: Database,
    screening: ScreeningService,
    bus: EventBus,
    *,
    public_routers: Sequence[APIRouter] = (),
    simulated: bool = False,
) -> FastAPI:
    """The console. ``public_routers`` (e.g. ``/healthz``, ``/metrics``) need no sign-in."""
    web = settings.web
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
        templates=build_templates(),
        user_throttle=LoginThrottle(web.login_attempts, web.login_lockout_seconds),
        address_throttle=LoginThrottle(web.login_attempts * 5, web.login_lockout_seconds),
        analyser=NumberAnalyser(settings.numbers.region),
        simulated=simulated,
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
        app.include_router(public)
    for module in (
        routes_auth,
        routes_board,
        routes_calls,
        routes_lists,
        routes_list_io,
        routes_policy,
        routes_users,
        routes_audit,
        routes_stats,
    ):
        app.include_router(module.router)
    app.include_router(api.router, prefix="/api/v1")
    _install_error_pages(app)
    return app


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
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
