"""The JSON API: Bearer tokens (hashed at rest), roles, and each operation."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select

from screener.application.unit_of_work import UnitOfWork
from screener.db.models import ApiToken
from screener.domain.model import Actor
from screener.users import service as users
from tests.support.calls import record_call
from tests.web.conftest import WebApp, client_for


async def _token(webapp: WebApp, username: str) -> str:
    uow = UnitOfWork(webapp.database, Actor.system("test"))
    return (await users.create_token(uow, username, "api test")).secret


@pytest.fixture
async def api_admin(webapp: WebApp) -> httpx.AsyncClient:
    client = client_for(webapp)
    client.headers["Authorization"] = f"Bearer {await _token(webapp, 'admin')}"
    return client


async def test_token_stored_as_hash_only(webapp: WebApp) -> None:
    secret = await _token(webapp, "desk")
    async with webapp.database.sessions() as session:
        stored = (await session.execute(select(ApiToken))).scalars().all()
    assert [t.token_hash for t in stored] == [hashlib.sha256(secret.encode()).hexdigest()]
    assert all(secret not in (t.token_hash, t.name) for t in stored)


async def test_bad_tokens_are_401(webapp: WebApp, anon: httpx.AsyncClient) -> None:
    for header in ("", "Bearer", "Bearer scr_nope", "Basic abc", "Bearer " + "x" * 500):
        response = await anon.get("/api/v1/calls", headers={"Authorization": header})
        assert response.status_code == 401, header
    # a session cookie does not authenticate the API (so no CSRF exposure there)
    from tests.web.conftest import login

    await login(anon, "admin")
    assert (await anon.get("/api/v1/calls")).status_code == 401


async def test_calls_review_and_check(webapp: WebApp, api_admin: httpx.AsyncClient) -> None:
    async with api_admin as client:
        call_id = await record_call(webapp.database, webapp.screening, "anonymous", "<x>")
        listed = (await client.get("/api/v1/calls", params={"flagged": True})).json()
        assert [c["id"] for c in listed["calls"]] == [call_id]
        assert listed["calls"][0]["caller_name"] == "<x>"
        one = (await client.get(f"/api/v1/calls/{call_id}")).json()
        assert one["events"][0]["kind"] == "decided"
        reviewed = await client.post(
            f"/api/v1/calls/{call_id}/review", json={"state": "nuisance", "note": "n"}
        )
        assert reviewed.status_code == 200 and reviewed.json()["review_state"] == "nuisance"
        assert (
            await client.post("/api/v1/calls/nosuch/review", json={"state": "scam"})
        ).status_code == 404
        check = (await client.post("/api/v1/check", json={"number": "09098790000"})).json()
        assert check["number"] == "+449098790000"
        assert check["action"] == "challenge"
        assert "premium_rate_cli" in [r["code"] for r in check["reasons"]]
        assert (await client.get("/api/v1/calls", params={"verdict": "nope"})).status_code == 422


async def test_lists_and_entries(webapp: WebApp, api_admin: httpx.AsyncClient) -> None:
    async with api_admin as client:
        created = await client.post("/api/v1/lists", json={"name": "Robots", "kind": "nuisance"})
        assert created.status_code == 201
        list_id = created.json()["id"]
        assert created.json()["action"] == "block"
        dup = await client.post("/api/v1/lists", json={"name": "Robots", "kind": "nuisance"})
        assert dup.status_code == 409
        entry = await client.post(
            f"/api/v1/lists/{list_id}/entries",
            json={"value": "07700 900999", "label": "robot", "expires_at": "2030-01-01T00:00:00Z"},
        )
        assert entry.status_code == 201 and entry.json()["value"] == "+447700900999"
        bad = await client.post(f"/api/v1/lists/{list_id}/entries", json={"value": "abc"})
        assert bad.status_code == 422
        naive = await client.post(
            f"/api/v1/lists/{list_id}/entries",
            json={"value": "07700900998", "expires_at": "2030-01-01T00:00:00"},
        )
        assert naive.status_code == 422
        entries = (
            await client.get(f"/api/v1/lists/{list_id}/entries", params={"search": "07700"})
        ).json()
        assert [e["value"] for e in entries["entries"]] == ["+447700900999"]
        entry_id = entry.json()["id"]
        patched = await client.patch(
            f"/api/v1/lists/{list_id}/entries/{entry_id}", json={"label": "bot"}
        )
        assert patched.json()["label"] == "bot" and patched.json()["expires_at"]
        lists = (await client.get("/api/v1/lists")).json()["lists"]
        assert lists == [{**created.json(), "entries": 1}]
        renamed = await client.patch(f"/api/v1/lists/{list_id}", json={"name": "Bots"})
        assert renamed.json()["name"] == "Bots"
        assert (
            await client.delete(f"/api/v1/lists/{list_id}/entries/{entry_id}")
        ).status_code == 204
        assert (await client.delete(f"/api/v1/lists/{list_id}")).status_code == 204
        assert (await client.get(f"/api/v1/lists/{list_id}/entries")).status_code == 404


async def test_block_via_api(webapp: WebApp) -> None:
    call_id = await record_call(webapp.database, webapp.screening, "07700900777", "x")
    async with client_for(webapp) as client:
        client.headers["Authorization"] = f"Bearer {await _token(webapp, 'desk')}"
        denied = await client.post(f"/api/v1/calls/{call_id}/block", json={})
        assert denied.status_code == 403
        assert (
            await client.post("/api/v1/lists", json={"name": "x", "kind": "contacts"})
        ).status_code == 403
    async with client_for(webapp) as client:
        client.headers["Authorization"] = f"Bearer {await _token(webapp, 'editor')}"
        blocked = await client.post(f"/api/v1/calls/{call_id}/block", json={"note": "x"})
        assert blocked.status_code == 200
        assert blocked.json()["list"]["name"] == "Blocked from console"


async def test_openapi_document(anon: httpx.AsyncClient) -> None:
    doc = (await anon.get("/api/v1/openapi.json")).json()
    assert "/api/v1/lists/{list_id}/entries" in doc["paths"]
    assert "/api/v1/check" in doc["paths"]
