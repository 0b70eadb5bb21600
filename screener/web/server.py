"""Run the console with uvicorn inside the service's event loop until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator, Sequence

import uvicorn
from fastapi import APIRouter

from screener.db.lifecycle import Database
from screener.events import EventBus
from screener.screening import ScreeningService
from screener.settings import Settings
from screener.web.app import create_app

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the service that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind here, so a busy port is an OSError for the caller rather than an exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def serve_web(
    settings: Settings,
    database: Database,
    screening: ScreeningService,
    bus: EventBus,
    *,
    public_routers: Sequence[APIRouter] = (),
) -> None:
    """Serve the console on ``settings.web.host:port`` until cancelled."""
    app = create_app(settings, database, screening, bus, public_routers=public_routers)
    config = uvicorn.Config(
        app,
        host=settings.web.host,
        port=settings.web.port,
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=3,
    )
    server = _EmbeddedServer(config)
    sock = bind_socket(settings.web.host, settings.web.port)
    log.info("web console on http://%s:%d/", settings.web.host, settings.web.port)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="web-server")
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 5)
        except TimeoutError:
            server.force_exit = True
            await task
        raise
    finally:
        sock.close()
