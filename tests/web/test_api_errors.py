"""The API's one error shape, its token answers, its OpenAPI document and its docs page."""

from __future__ import annotations

import httpx

from screener.application.unit_of_work import UnitOfWork
from screener.domain.model import Actor
from screener.users import service as users
from tests.web.conftest import SignedIn, WebApp, client_for
from tests.web.test_api import _token


async def test_no_token_and_a_bad_token_say_different_things(
    webapp: WebApp, anon: httpx.AsyncClient
) -> None:
    for header in ("", "Bearer", "Basic abc"):
        response = await anon.get("/api/v1/calls", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json() == {"detail": "authentication required"}
        assert response.headers["www-authenticate"] == "Bearer"
    for header in ("Bearer scr_nope", "Bearer " + "x" * 500):
        response = await anon.get("/api/v1/calls", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json() == {"detail": "invalid or revoked token"}
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    secret = await _token(webapp, "desk")
    assert (
        await anon.get("/api/v1/calls", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 200
    await users.revoke_token(UnitOfWork(webapp.database, Actor.system("test")), "desk", 1)
    revoked = await anon.get("/api/v1/calls", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401
    assert revoked.json() == {"detail": "invalid or revoked token"}


async def test_every_error_is_one_detail_string(webapp: WebApp) -> None:
    async with client_for(webapp) as client:
        client.headers["Authorization"] = f"Bearer {await _token(webapp, 'admin')}"
        missing_field = await client.post("/api/v1/lists", json={"kind": "nuisance"})
        assert missing_field.status_code == 422
        assert missing_field.json() == {"detail": "name: Field required"}
        two = await client.post("/api/v1/lists", json={"name": "x" * 101, "kind": "nope"})
        assert two.status_code == 422
        detail = two.json()["detail"]
        assert isinstance(detail, str) and detail.startswith("name: ") and "; kind: " in detail
        bad_query = await client.get("/api/v1/calls", params={"limit": "many"})
        assert bad_query.status_code == 422
        assert bad_query.json()["detail"].startswith("limit: ")
        not_json = await client.post(
            "/api/v1/check", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 422 and isinstance(not_json.json()["detail"], str)
        unknown = await client.get("/api/v1/nothing-here")
        assert unknown.status_code == 404 and unknown.json() == {"detail": "Not Found"}
        wrong_method = await client.put("/api/v1/calls")
        assert wrong_method.status_code == 405
        assert wrong_method.json() == {"detail": "Method Not Allowed"}
        no_list = await client.get("/api/v1/lists/999/entries")
        assert no_list.status_code == 404 and no_list.json() == {"detail": "no such list"}


async def test_unknown_page_is_an_html_page(desk: SignedIn) -> None:
    page = await desk.client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text


async def test_adding_an_entry_twice_is_200_not_201(webapp: WebApp) -> None:
    async with client_for(webapp) as client:
        client.headers["Authorization"] = f"Bearer {await _token(webapp, 'admin')}"
        created = await client.post("/api/v1/lists", json={"name": "Pests", "kind": "nuisance"})
        list_id = created.json()["id"]
        first = await client.post(f"/api/v1/lists/{list_id}/entries", json={"value": "07700900111"})
        again = await client.post(
            f"/api/v1/lists/{list_id}/entries", json={"value": "+447700900111", "label": "x"}
        )
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"] and again.json()["label"] == "x"


async def test_openapi_declares_bearer_models_and_no_pages(anon: httpx.AsyncClient) -> None:
    doc = (await anon.get("/api/v1/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["token"]["description"],
    }
    assert all(path.startswith("/api/v1/") for path in doc["paths"]), sorted(doc["paths"])
    calls = doc["paths"]["/api/v1/calls"]["get"]
    assert calls["security"] == [{"token": []}]
    assert calls["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallsPageOut"
    }
    assert calls["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    assert calls["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    schemas = doc["components"]["schemas"]
    for model in ("CallOut", "CallDetailOut", "ListOut", "EntryOut", "ReviewOut", "CheckOut"):
        assert model in schemas, model
    assert "HTTPValidationError" not in schemas  # 422 is {"detail": "..."} here
    entry = doc["paths"]["/api/v1/lists/{list_id}/entries"]["post"]["responses"]
    assert {"200", "201", "409"} <= set(entry)


async def test_api_docs_page_for_signed_in_users(anon: httpx.AsyncClient, desk: SignedIn) -> None:
    redirected = await anon.get("/api/v1/docs")
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/login?next=%2Fapi%2Fv1%2Fdocs"
    page = await desk.client.get("/api/v1/docs")
    assert page.status_code == 200
    assert 'href="/api/v1/openapi.json"' in page.text
    assert "<code>POST /api/v1/lists/{list_id}/entries</code>" in page.text
    assert "list editor" in page.text and "admin" in page.text
    assert "<script" not in page.text.split("</head>", 1)[1]  # nothing but the page's own
    assert "script-src 'self'" in page.headers["content-security-policy"]
