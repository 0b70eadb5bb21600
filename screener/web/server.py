"""The console's HTTP server: uvicorn inside the service's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from screener.settings import WebSettings
from screener.web.first_run import FirstRunSetup

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0


class WebPortUnavailable(RuntimeError):
    """``web.host``/``web.port`` cannot be listened on; the message says what to change.

    Not an ``OSError``: the CLI reports those as database failures."""


class _EmbeddedServer(uvicorn.Server):
    """Leaves signal handling to the service that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind here, so a busy port is an error for the caller rather than an exit."""
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


class WebServer:
    """Serves ``app`` on ``settings.host:settings.port`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, settings: WebSettings, app: FastAPI) -> None:
        self.settings = settings
        self.app = app
        self._server: _EmbeddedServer | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int | None:
        return int(self._socket.getsockname()[1]) if self._socket is not None else None

    async def start(self) -> None:
        host, port = self.settings.host, self.settings.port
        try:
            self._socket = bind_socket(host, port)
        except OSError as exc:
            raise WebPortUnavailable(
                f"web.port: cannot listen on {host}:{port} ({exc.strerror or exc}); another "
                "program uses it, or set web.port (or web.enabled = false)"
            ) from exc
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=3,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="web")
        log.info("web console on http://%s:%d/", host, self.port)
        setup = getattr(getattr(self.app.state, "web", None), "setup", None)
        if isinstance(setup, FirstRunSetup) and self.port is not None:
            await setup.offer(host, self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._server.force_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
        finally:
            if self._socket is not None:
                self._socket.close()
            self._server = self._task = self._socket = None
