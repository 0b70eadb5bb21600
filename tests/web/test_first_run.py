"""First run: the login page says how to create a login, and a one-time setup link (printed
in the log at start) creates the first admin in the browser."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from screener.application.unit_of_work import UnitOfWork
from screener.audit.log import search
from screener.calls.lookup import call_reader
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database, safe_url
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction
from screener.events import EventBus
from screener.ops.counters import CallMetrics
from screener.ops.health import ServiceHealth
from screener.ops.router import make_ops_router
from screener.settings import Settings
from screener.users import service as users
from screener.web.app import create_app
from screener.web.server import WebServer
from tests.web.conftest import PASSWORD, csrf_of
from tests.web.live_server import free_port

LINK = re.compile(r"http://127\.0\.0\.1:\d+/setup\?token=[A-Za-z0-9_-]{40,}")


@pytest.fixture
async def fresh(web_settings: Settings, web_db: Database) -> AsyncIterator[FastAPI]:
    """The console on a database with no user yet (as the service builds it)."""
    screening = ScreeningService(web_settings, call_reader(web_db.url, web_db.sessions))
    bus = EventBus()
    health = ServiceHealth(web_db, bus, CallMetrics())
    try:
        yield create_app(
            web_settings, web_db, screening, bus, public_routers=[make_ops_router(health)]
        )
    finally:
        await screening.close()


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)),
        base_url="http://testserver",
    )


async def _started(
    app: FastAPI, settings: Settings, caplog: pytest.LogCaptureFixture
) -> tuple[WebServer, str]:
    """Start the real server (as the service does) and read the setup link from its log."""
    settings.web.port = free_port()
    server = WebServer(settings.web, app)
    with caplog.at_level(logging.INFO, logger="screener.web"):
        await server.start()
    found = [r for r in caplog.records if "/setup?token=" in r.getMessage()]
    assert len(found) == 1, "the setup link is printed exactly once"
    assert found[0].levelno == logging.WARNING
    match = LINK.search(found[0].getMessage())
    assert match, found[0].getMessage()
    return server, match.group(0)


async def test_login_page_says_how_to_create_the_first_admin(
    fresh: FastAPI, web_settings: Settings
) -> None:
    async with _client(fresh) as client:
        page = await client.get("/login")
    assert page.status_code == 200
    assert "Nobody can sign in yet" in page.text
    assert "screener users add NAME --role admin" in page.text
    assert safe_url(web_settings.database.url) in page.text


async def test_login_page_is_plain_once_a_user_exists(
    webapp: object, anon: httpx.AsyncClient
) -> None:
    page = await anon.get("/login")
    assert "Nobody can sign in yet" not in page.text
    assert "users add" not in page.text


async def _open_setup(client: httpx.AsyncClient, link: str) -> str:
    """Follow the link as a browser does; returns the form's CSRF token."""
    target = urlsplit(link)
    opened = await client.get(f"{target.path}?{target.query}")
    assert opened.status_code == 303 and opened.headers["location"] == "/setup"
    form = await client.get("/setup")
    assert form.status_code == 200, form.text
    return csrf_of(form.text)


async def test_setup_link_creates_the_first_admin_once(
    fresh: FastAPI, web_settings: Settings, web_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    server, link = await _started(fresh, web_settings, caplog)
    token = link.split("token=", 1)[1]
    try:
        # the real server: the health report and the pages never carry the token
        async with httpx.AsyncClient(base_url=f"http://{urlsplit(link).netloc}") as client:
            assert token not in (await client.get("/healthz")).text
            assert token not in (await client.get("/login")).text
            csrf = await _open_setup(client, link)
            form = await client.get("/setup")
            assert token not in form.text and token not in str(client.cookies)
            done = await client.post(
                "/setup",
                data={
                    "username": "ada",
                    "display_name": "Ada Admin",
                    "password": PASSWORD,
                    "password_again": PASSWORD,
                    "csrf_token": csrf,
                },
            )
            assert done.status_code == 303 and done.headers["location"] == "/login"
            login = await client.get("/login")
            assert "Admin ada created" in login.text
            assert "Nobody can sign in yet" not in login.text
            signed = await client.post(
                "/login",
                data={"username": "ada", "password": PASSWORD, "csrf_token": csrf_of(login.text)},
            )
            assert signed.status_code == 303
            assert "Ada Admin (admin)" in (await client.get("/")).text
            # used: the link and the setup page are gone
            target = urlsplit(link)
            assert (await client.get(f"{target.path}?{target.query}")).status_code == 404
            assert (await client.get("/setup")).status_code == 404
    finally:
        await server.stop()
    async with web_db.sessions() as session:
        created = await search(session, action=AuditAction.USER_CREATE)
    assert [(e.actor, e.via, e.address, e.target, e.detail["role"]) for e in created] == [
        ("ada", "web", "127.0.0.1", "ada", "admin")
    ]


async def test_setup_checks_csrf_token_and_password_rules(
    fresh: FastAPI, web_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    server, link = await _started(fresh, web_settings, caplog)
    token = link.split("token=", 1)[1]
    try:
        async with _client(fresh) as client:
            assert (
                await client.get("/setup", params={"token": token[:-1] + "!"})
            ).status_code == 404
            assert (await client.get("/setup")).status_code == 404  # no link opened yet
            csrf = await _open_setup(client, link)
            fields = {"username": "ada", "password": PASSWORD, "password_again": PASSWORD}
            assert (await client.post("/setup", data=fields)).status_code == 403  # no CSRF
            short = await client.post(
                "/setup",
                data={**fields, "password": "short", "password_again": "short", "csrf_token": csrf},
            )
            assert short.status_code == 400 and "at least 8 characters" in short.text
            assert 'value="ada"' in short.text  # the name typed is kept
            differ = await client.post(
                "/setup", data={**fields, "password_again": PASSWORD + "x", "csrf_token": csrf}
            )
            assert differ.status_code == 400 and "not the same" in differ.text
            bad_name = await client.post(
                "/setup", data={**fields, "username": "<b>x</b>", "csrf_token": csrf}
            )
            assert bad_name.status_code == 400 and "<b>x</b>" not in bad_name.text
            # the link still works after those mistakes
            ok = await client.post("/setup", data={**fields, "csrf_token": csrf})
            assert ok.status_code == 303
    finally:
        await server.stop()


async def test_no_link_when_a_user_exists_and_none_survives_a_restart(
    fresh: FastAPI,
    web_settings: Settings,
    web_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, link = await _started(fresh, web_settings, caplog)
    await server.stop()
    # the service restarts: the old link no longer works (a new one is printed)
    screening = ScreeningService(web_settings, call_reader(web_db.url, web_db.sessions))
    restarted = create_app(web_settings, web_db, screening, EventBus())
    caplog.clear()
    server, new_link = await _started(restarted, web_settings, caplog)
    await server.stop()
    assert new_link.split("token=")[1] != link.split("token=")[1]
    async with _client(restarted) as client:
        target = urlsplit(link)
        assert (await client.get(f"{target.path}?{target.query}")).status_code == 404
    # once a user exists (made with the CLI, say), no link is printed and /setup is 404
    await users.create_user(UnitOfWork(web_db, Actor.cli()), "bob", PASSWORD, "admin")
    async with _client(restarted) as client:
        target = urlsplit(new_link)
        assert (await client.get(f"{target.path}?{target.query}")).status_code == 404
    caplog.clear()
    web_settings.web.port = free_port()
    again = WebServer(web_settings.web, create_app(web_settings, web_db, screening, EventBus()))
    with caplog.at_level(logging.INFO, logger="screener.web"):
        await again.start()
    await again.stop()
    await screening.close()
    assert not [r for r in caplog.records if "/setup" in r.getMessage()]
