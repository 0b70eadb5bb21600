"""Roles on every route, CSRF on every state change, login throttling, sessions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from screener.web import deps
from tests.web.conftest import PASSWORD, SignedIn, WebApp, client_for, csrf_of, login

PUBLIC = {
    ("/login", "GET"),
    ("/login", "POST"),
    ("/public", "GET"),
    ("/setup", "GET"),  # first run only: the one-time link, 404 once a user exists
    ("/setup", "POST"),
    ("/favicon.ico", "GET"),
}
ROLE_DEPS = {
    deps.require_reception: "reception",
    deps.require_list_editor: "list_editor",
    deps.require_admin: "admin",
}


def _role_of(dependant: Any) -> set[str]:
    found: set[str] = set()
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call in ROLE_DEPS:
            found.add(ROLE_DEPS[dep.call])
        stack.extend(dep.dependencies)
    return found


def _routes(webapp: WebApp) -> list[tuple[str, str, str]]:
    """(method, concrete path, role) for every registered route but the public ones."""
    routes = []
    for path_format, methods, dependant in _endpoints(webapp):
        for method in sorted(methods):
            if (path_format, method) in PUBLIC:
                continue
            roles = _role_of(dependant)
            assert len(roles) == 1, f"{method} {path_format} has role dependencies {roles}"
            path = re.sub(r"\{[^}]+\}", "1", path_format)
            routes.append((method, path, roles.pop()))
    return routes


def _endpoints(webapp: WebApp) -> list[tuple[str, set[str], Any]]:
    """Every endpoint, whether FastAPI keeps it as a route or inside an included router."""
    found = []
    for route in webapp.app.routes:
        if isinstance(route, APIRoute):
            found.append((route.path, set(route.methods), route.dependant))
        elif hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                found.append((context.path, set(context.methods), context.dependant))
    return found


async def test_public_routers_need_no_sign_in(webapp: WebApp) -> None:
    from fastapi import APIRouter

    from screener.web.app import create_app

    public = APIRouter()

    @public.get("/public")
    async def probe() -> dict[str, str]:
        return {"status": "ok"}

    app = create_app(
        webapp.settings, webapp.database, webapp.screening, webapp.bus, public_routers=[public]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await client.get("/public")).json() == {"status": "ok"}
        assert (await client.get("/")).status_code == 303


def test_every_route_has_exactly_one_role(webapp: WebApp) -> None:
    routes = _routes(webapp)
    assert len(routes) > 40
    roles = {role for _, _, role in routes}
    assert roles == {"reception", "list_editor", "admin"}


async def test_anonymous_is_redirected_or_401(webapp: WebApp, anon: httpx.AsyncClient) -> None:
    for method, path, _ in _routes(webapp):
        response = await anon.request(method, path)
        if path.startswith("/api/") and path != deps.API_DOCS_PATH:
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"
        elif method == "GET":
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next=")
        else:
            assert response.status_code == 401, (method, path, response.status_code)


@pytest.fixture(params=["desk", "editor"])
async def reception(webapp: WebApp, request: pytest.FixtureRequest) -> AsyncIterator[SignedIn]:
    async with client_for(webapp) as client:
        yield SignedIn(client, await login(client, request.param))


async def test_reception_gets_403_on_admin_routes(webapp: WebApp, reception: SignedIn) -> None:
    signed = reception
    who = "desk" if not (await signed.client.get("/lists")).is_success else "editor"
    token = await _token_for(webapp, who)
    for method, path, role in _routes(webapp):
        denied = role == "admin" or (role == "list_editor" and who == "desk")
        if path == "/logout" or (path == "/board/events" and not denied):
            continue  # ends the walk's session / streams forever: both tested on their own
        if path.startswith("/api/"):
            response = await signed.client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, json={}
            )
        else:
            response = await signed.client.request(
                method, path, headers={"X-CSRF-Token": signed.csrf}
            )
        if denied:
            assert response.status_code == 403, (who, method, path, response.status_code)
        else:
            assert response.status_code != 403, (who, method, path, response.text[:200])


async def test_every_page_post_needs_csrf(webapp: WebApp, admin: SignedIn) -> None:
    posts = [(m, p) for m, p, _ in _routes(webapp) if m != "GET" and not p.startswith("/api/")]
    assert len(posts) > 15
    for method, path in posts:
        missing = await admin.client.request(method, path, data={"state": "scam"})
        assert missing.status_code == 403, (method, path, missing.status_code)
        assert "CSRF" in missing.text
        wrong = await admin.client.request(
            method, path, headers={"X-CSRF-Token": "x" * 43}, data={"state": "scam"}
        )
        assert wrong.status_code == 403, (method, path)
    # htmx requests carry the token in a header: accepted
    ok = await admin.client.get("/check", params={"number": "0"}, headers={"HX-Request": "true"})
    assert ok.status_code == 200


async def test_login_form_needs_csrf(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 403


async def test_login_throttling(webapp: WebApp, anon: httpx.AsyncClient) -> None:
    page = await anon.get("/login")
    token = csrf_of(page.text)
    for _ in range(webapp.settings.web.login_attempts):
        bad = await anon.post(
            "/login", data={"username": "desk", "password": "wrong!!!", "csrf_token": token}
        )
        assert bad.status_code == 401
        assert "Wrong username or password" in bad.text
    locked = await anon.post(
        "/login", data={"username": "desk", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.text
    # another user is not locked by desk's failures
    async with client_for(webapp) as other:
        await login(other, "admin")


async def test_wrong_password_and_disabled_user(webapp: WebApp, admin: SignedIn) -> None:
    users = await admin.client.get("/admin/users")
    desk_id = re.search(r'href="/admin/users/(\d+)">desk<', users.text)
    assert desk_id
    async with client_for(webapp) as desk:
        await login(desk, "desk")
        disabled = await admin.post(f"/admin/users/{desk_id.group(1)}", {"role": "reception"})
        assert disabled.status_code == 303
        # the open session stops working at once
        assert (await desk.get("/")).status_code == 303
        page = await desk.get("/login")
        again = await desk.post(
            "/login",
            data={"username": "desk", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        assert again.status_code == 401


async def test_password_reset_ends_sessions(webapp: WebApp, admin: SignedIn) -> None:
    async with client_for(webapp) as desk:
        await login(desk, "desk")
        users = await admin.client.get("/admin/users")
        desk_id = re.search(r'href="/admin/users/(\d+)">desk<', users.text)
        assert desk_id
        reset = await admin.post(
            f"/admin/users/{desk_id.group(1)}/password", {"password": "new password 123"}
        )
        assert reset.status_code == 303
        assert (await desk.get("/")).status_code == 303
        await login(desk, "desk", "new password 123")


async def test_session_cookie_flags(webapp: WebApp) -> None:
    from screener.web.app import create_app

    webapp.settings.web.secure_cookies = True
    app = create_app(webapp.settings, webapp.database, webapp.screening, webapp.bus)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as client:
        page = await client.get("/login")
        cookie = page.headers["set-cookie"]
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        await login(client, "admin")


async def test_logout(desk: SignedIn) -> None:
    out = await desk.post("/logout")
    assert out.status_code == 303
    assert (await desk.client.get("/")).status_code == 303


async def test_open_redirect_refused(anon: httpx.AsyncClient) -> None:
    page = await anon.get("/login", params={"next": "//evil.example/"})
    assert 'name="next" value="/"' in page.text
    response = await anon.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.headers["location"] == "/"


async def _token_for(webapp: WebApp, username: str) -> str:
    from screener.application.unit_of_work import UnitOfWork
    from screener.domain.model import Actor
    from screener.users import service as users

    uow = UnitOfWork(webapp.database, Actor.system("test"))
    return (await users.create_token(uow, username, "test")).secret


async def test_login_throttling_by_address(webapp: WebApp, anon: httpx.AsyncClient) -> None:
    token = csrf_of((await anon.get("/login")).text)
    limit = webapp.settings.web.login_attempts * 5
    for i in range(limit):
        bad = await anon.post(
            "/login", data={"username": f"nobody{i}", "password": "x", "csrf_token": token}
        )
        assert bad.status_code == 401
    locked = await anon.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429


async def test_sign_ins_and_failed_sign_ins_are_audited(
    webapp: WebApp, anon: httpx.AsyncClient, admin: SignedIn
) -> None:
    token = csrf_of((await anon.get("/login")).text)
    for username, password in (("desk", "wrong password"), ("nobody<script>", "x" * 20)):
        failed = await anon.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert failed.status_code == 401
    page = await admin.client.get("/admin/audit", params={"q": "user.login"})
    assert "user.login_failed" in page.text
    assert "nobody&lt;script&gt;" in page.text and "nobody<script>" not in page.text
    from screener.audit.log import search
    from screener.domain.vocabulary import AuditAction

    async with webapp.database.sessions() as session:
        failures = await search(session, action=AuditAction.USER_LOGIN_FAILED)
        logins = await search(session, action=AuditAction.USER_LOGIN)
    assert [(e.actor, e.via, e.address, e.detail) for e in failures] == [
        ("nobody<script>", "web", "127.0.0.1", {"reason": "unknown user"}),
        ("desk", "web", "127.0.0.1", {"reason": "wrong password"}),
    ]
    assert [e.actor for e in logins] == ["admin"]
    assert "x" * 20 not in page.text  # never the password
