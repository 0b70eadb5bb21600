"""Fixtures for the web console: a real app on a real database, users of each role."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from screener.application.unit_of_work import UnitOfWork
from screener.calls.lookup import call_reader
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database, open_database
from screener.domain.model import Actor
from screener.domain.vocabulary import ReasonCode
from screener.events import EventBus
from screener.policy.watcher import PolicyWatcher
from screener.settings import AriSettings, DatabaseSettings, Settings, WebSettings
from screener.users import service as users
from screener.web.app import create_app

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_settings(db_url: str, tmp_path: Path) -> Settings:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    return Settings(
        database=DatabaseSettings(url=db_url),
        web=WebSettings(
            secret_key=SecretStr("test-secret-" + "x" * 40),
            secure_cookies=False,
            login_attempts=3,
            login_lockout_seconds=60,
        ),
        ari=AriSettings(recordings_dir=str(recordings)),
    )


@pytest.fixture
async def web_db(web_settings: Settings) -> AsyncIterator[Database]:
    async with open_database(web_settings.database, upgrade=True) as db:
        yield db


@dataclass
class WebApp:
    app: FastAPI
    settings: Settings
    database: Database
    screening: ScreeningService
    bus: EventBus
    policy: PolicyWatcher

    async def policy_in_force(self, code: ReasonCode, action: str) -> None:
        """Until this instance decides ``code`` with ``action`` (the watcher applies changes
        as soon as their event arrives)."""
        async with asyncio.timeout(5):
            while self.screening.policy.action_for(code).value != action:
                await asyncio.sleep(0.01)


@pytest.fixture
async def webapp(web_settings: Settings, web_db: Database) -> AsyncIterator[WebApp]:
    """The console as the service runs it: with the policy watcher that applies changes."""
    screening = ScreeningService(web_settings, call_reader(web_db.url, web_db.sessions))
    bus = EventBus()
    watcher = PolicyWatcher(
        web_settings, screening, web_db.sessions, bus, web_settings.policy.sync_seconds
    )
    watching = asyncio.create_task(watcher.run())
    app = create_app(web_settings, web_db, screening, bus)
    setup = Actor.system("test")
    await users.create_user(
        UnitOfWork(web_db, setup), "admin", PASSWORD, "admin", display_name="Ada Admin"
    )
    await users.create_user(UnitOfWork(web_db, setup), "desk", PASSWORD, "reception")
    await users.create_user(
        UnitOfWork(web_db, setup), "editor", PASSWORD, "reception", can_edit_lists=True
    )
    try:
        yield WebApp(app, web_settings, web_db, screening, bus, watcher)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await screening.close()


def client_for(webapp: WebApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=webapp.app, client=("127.0.0.1", 40000)),
        base_url="http://testserver",
    )


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign in; returns the session's CSRF token."""
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    board = await client.get("/")
    assert board.status_code == 200
    return csrf_of(board.text)


@pytest.fixture
async def anon(webapp: WebApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(webapp) as client:
        yield client


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    csrf: str

    async def post(self, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(url, data={**(data or {}), "csrf_token": self.csrf})


async def _signed_in(webapp: WebApp, username: str) -> AsyncIterator[SignedIn]:
    async with client_for(webapp) as client:
        yield SignedIn(client, await login(client, username))


@pytest.fixture
async def admin(webapp: WebApp) -> AsyncIterator[SignedIn]:
    async for signed in _signed_in(webapp, "admin"):
        yield signed


@pytest.fixture
async def desk(webapp: WebApp) -> AsyncIterator[SignedIn]:
    async for signed in _signed_in(webapp, "desk"):
        yield signed


@pytest.fixture
async def editor(webapp: WebApp) -> AsyncIterator[SignedIn]:
    async for signed in _signed_in(webapp, "editor"):
        yield signed
