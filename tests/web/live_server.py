"""A real console on 127.0.0.1 in a thread with its own event loop (for browser tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from screener.application.unit_of_work import UnitOfWork
from screener.calls.lookup import call_reader
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database, open_database
from screener.domain.model import Actor
from screener.events import EventBus
from screener.settings import AriSettings, DatabaseSettings, Settings, WebSettings
from screener.users import service as users
from screener.web.app import create_app
from screener.web.server import WebServer

T = TypeVar("T")
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, directory: Path, *, users: bool = True, time_zone: str = "") -> None:
        self.settings = Settings(
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{directory / 'live.db'}"),
            web=WebSettings(
                host="127.0.0.1",
                port=free_port(),
                secret_key=SecretStr("live-secret-" + "y" * 40),
                secure_cookies=False,
                time_zone=time_zone,
            ),
            ari=AriSettings(recordings_dir=str(directory)),
        )
        self.with_users = users
        self.directory = directory
        self.url = f"http://127.0.0.1:{self.settings.web.port}"
        self.loop = asyncio.new_event_loop()
        self.bus = EventBus()
        self.database: Database
        self.screening: ScreeningService
        self._ready = threading.Event()
        self._stop: asyncio.Event
        self._thread = threading.Thread(target=self._run, name="live-console", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with open_database(self.settings.database, upgrade=True) as database:
            self.database = database
            self.screening = ScreeningService(
                self.settings, call_reader(database.url, database.sessions)
            )
            setup = Actor.system("test")
            if self.with_users:
                await users.create_user(UnitOfWork(database, setup), "admin", PASSWORD, "admin")
                await users.create_user(UnitOfWork(database, setup), "desk", PASSWORD, "reception")
            app = create_app(self.settings, database, self.screening, self.bus)
            server = WebServer(self.settings.web, app)
            await server.start()
            self._ready.set()
            await self._stop.wait()
            await server.stop()
            await self.screening.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)
        if self._error:
            raise self._error
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/login", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the console did not start")

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(30)
