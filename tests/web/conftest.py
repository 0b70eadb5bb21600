"""Fixtures for the web console: a real app on a real database, users of each role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from screener import auth
from screener.db.lifecycle import Database, open_database
from screener.events import EventBus
from screener.screening import ScreeningService
from screener.settings import AriSettings, DatabaseSettings, Settings, WebSettings
from screener.web import create_app

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


@pytest.fixture
async def webapp(web_settings: Settings, web_db: Database) -> WebApp:
    screening = ScreeningService(web_settings, web_db.sessions)
    bus = EventBus()
    app = create_app(web_settings, web_db, screening, bus)
    async with web_db.sessions.begin() as session:
        await auth.create_user(session, "admin", PASSWORD, "admin", display_name="Ada Admin")
        await auth.create_user(session, "desk", PASSWORD, "reception")
        await auth.create_user(session, "editor", PASSWORD, "reception", can_edit_lists=True)
    return WebApp(app, web_settings, web_db, screening, bus)


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
