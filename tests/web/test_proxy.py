"""Behind a reverse proxy: X-Forwarded-For from web.trusted_proxies only; web.ops_token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from screener.audit.log import search
from screener.domain.vocabulary import AuditAction
from screener.ops.counters import CallMetrics
from screener.ops.health import ServiceHealth
from screener.ops.router import make_ops_router
from screener.web.app import create_app
from screener.web.context import forwarded_client, parse_address
from tests.web.conftest import PASSWORD, WebApp, csrf_of

PROXY = ("127.0.0.1", 40000)


def _app(webapp: WebApp, *, trusted: list[str], ops_token: str = "") -> httpx.AsyncClient:
    settings = webapp.settings.model_copy(deep=True)
    settings.web.trusted_proxies = trusted
    settings.web.ops_token = SecretStr(ops_token)
    health = ServiceHealth(webapp.database, webapp.bus, CallMetrics())
    app = create_app(
        settings,
        webapp.database,
        webapp.screening,
        webapp.bus,
        public_routers=[make_ops_router(health)],
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=PROXY), base_url="http://testserver"
    )


async def _fail(client: httpx.AsyncClient, csrf: str, username: str, client_ip: str) -> int:
    response = await client.post(
        "/login",
        data={"username": username, "password": "wrong password", "csrf_token": csrf},
        headers={"X-Forwarded-For": client_ip},
    )
    return response.status_code


async def _sign_in(client: httpx.AsyncClient, csrf: str, client_ip: str) -> int:
    response = await client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf},
        headers={"X-Forwarded-For": client_ip},
    )
    return response.status_code


async def test_failures_through_a_trusted_proxy_lock_out_the_client_not_the_proxy(
    webapp: WebApp,
) -> None:
    async with _app(webapp, trusted=["127.0.0.0/8", "10.0.0.0/8"]) as client:
        csrf = csrf_of((await client.get("/login")).text)
        statuses = [
            await _fail(client, csrf, f"nobody{i}", f"203.0.113.{i % 2 + 1}, 10.1.1.1")
            for i in range(30)
        ]
        assert statuses == [401] * 30  # 15 for each client: its address is locked now
        # the two guessing clients are locked, the office's own client is not
        assert await _sign_in(client, csrf, "203.0.113.1") == 429
        assert await _sign_in(client, csrf, "198.51.100.7") == 303
    async with webapp.database.sessions() as session:
        failures = await search(session, action=AuditAction.USER_LOGIN_FAILED, limit=100)
        logins = await search(session, action=AuditAction.USER_LOGIN)
    assert {e.address for e in failures} == {"203.0.113.1", "203.0.113.2"}
    assert [e.address for e in logins] == ["198.51.100.7"]


async def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(webapp: WebApp) -> None:
    async with _app(webapp, trusted=[]) as client:
        csrf = csrf_of((await client.get("/login")).text)
        limit = webapp.settings.web.login_attempts * 5
        for i in range(limit):
            assert await _fail(client, csrf, f"nobody{i}", f"203.0.113.{i}") == 401
        # every "client" was the proxy's own address: it is locked, whoever it names
        assert await _sign_in(client, csrf, "198.51.100.7") == 429
    async with _app(webapp, trusted=["192.0.2.0/24"]) as client:  # a different proxy
        csrf = csrf_of((await client.get("/login")).text)
        assert await _sign_in(client, csrf, "198.51.100.8") == 303
    async with webapp.database.sessions() as session:
        failures = await search(session, action=AuditAction.USER_LOGIN_FAILED, limit=100)
        logins = await search(session, action=AuditAction.USER_LOGIN)
    assert {e.address for e in failures} == {"127.0.0.1"}
    assert [e.address for e in logins] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("127.0.0.1", ["198.51.100.7"], "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # the client's own claim
        ("127.0.0.1", ["198.51.100.7, 10.0.0.5"], "198.51.100.7"),  # past a second proxy
        ("127.0.0.1", ["198.51.100.7", "10.0.0.5"], "198.51.100.7"),  # two headers
        ("127.0.0.1", ["10.0.0.4, 10.0.0.5"], "10.0.0.4"),  # only proxies: the farthest
        ("127.0.0.1", ["not-an-ip, 10.0.0.5"], "10.0.0.5"),  # garbage is nobody's address
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["[2001:db8::7]"], "2001:db8::7"),
        ("::ffff:127.0.0.1", ["198.51.100.9"], "198.51.100.9"),
        ("192.0.2.1", ["198.51.100.7"], "192.0.2.1"),  # not a trusted peer
    ],
)
def test_forwarded_client(peer: str, header: list[str], expected: str) -> None:
    import ipaddress

    trusted = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
    assert forwarded_client(peer, header, trusted) == expected


def test_parse_address() -> None:
    assert str(parse_address(" 192.0.2.1 ")) == "192.0.2.1"
    assert parse_address("192.0.2.1:443") is None
    assert parse_address("") is None


@pytest.fixture
async def ops(webapp: WebApp) -> AsyncIterator[httpx.AsyncClient]:
    async with _app(webapp, trusted=[], ops_token="ops-" + "z" * 40) as client:
        yield client


async def test_ops_token_guards_health_and_metrics(webapp: WebApp, ops: httpx.AsyncClient) -> None:
    good = {"Authorization": "Bearer ops-" + "z" * 40}
    for path in ("/healthz", "/metrics"):
        missing = await ops.get(path)
        assert missing.status_code == 401, path
        assert missing.json() == {
            "detail": "this endpoint needs Authorization: Bearer <web.ops_token>"
        }
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await ops.get(path, headers={"Authorization": "Bearer ops-" + "y" * 40})
        assert wrong.status_code == 401, path
        allowed = await ops.get(path, headers=good)
        assert allowed.status_code in (200, 503), path
    assert "screener_" in (await ops.get("/metrics", headers=good)).text
    assert "database" in (await ops.get("/healthz", headers=good)).json()
    # the console itself is unaffected
    assert (await ops.get("/login")).status_code == 200


async def test_without_ops_token_health_and_metrics_are_open(webapp: WebApp) -> None:
    async with _app(webapp, trusted=[]) as client:
        assert (await client.get("/healthz")).status_code in (200, 503)
        assert (await client.get("/metrics")).status_code == 200


def test_bad_trusted_proxy_setting_names_the_key() -> None:
    from screener.settings import WebSettings

    with pytest.raises(ValueError, match="not an IP address or network"):
        WebSettings(trusted_proxies=["proxy.example"])
