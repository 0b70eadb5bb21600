"""Bulk import through the console (background job, rejection report) and export."""

from __future__ import annotations

import asyncio
import re

from screener.domain.vocabulary import ListKind
from tests.support.calls import make_list
from tests.web.conftest import SignedIn, WebApp


async def _wait_for_job(admin: SignedIn, url: str) -> str:
    for _ in range(200):
        page = await admin.client.get(url)
        assert page.status_code == 200
        if 'data-state="running"' not in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError("import did not finish")


async def _upload(admin: SignedIn, list_id: int, body: bytes, **extra: str) -> str:
    response = await admin.client.post(
        f"/admin/lists/{list_id}/import",
        data={"csrf_token": admin.csrf, "format": "auto", **extra},
        files={"file": ("numbers.csv", body, "text/csv")},
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


async def test_import_with_a_bad_row_is_all_or_nothing(webapp: WebApp, admin: SignedIn) -> None:
    list_id = await make_list(webapp.database, "Imported", ListKind.NUISANCE)
    body = b"number,label\n07700900001,one\n<script>bad</script>,two\n07700900003,three\n"
    job_url = await _upload(admin, list_id, body)
    text = await _wait_for_job(admin, job_url)
    assert 'data-state="rejected"' in text
    assert "Nothing was imported" in text
    assert "&lt;script&gt;bad&lt;/script&gt;" in text and "<script>bad" not in text
    rejects = await admin.client.get(job_url + "/rejects.csv")
    assert rejects.status_code == 200 and "line,value,reason" in rejects.text
    page = await admin.client.get(f"/lists/{list_id}")
    assert "+447700900001" not in page.text
    job_url = await _upload(admin, list_id, body, skip_invalid="true")
    text = await _wait_for_job(admin, job_url)
    assert 'data-state="done"' in text
    assert re.search(r"2\s+added", text)
    page = await admin.client.get(f"/lists/{list_id}")
    assert "+447700900001" in page.text and "+447700900003" in page.text
    audit = await admin.client.get("/admin/audit", params={"q": "list.import"})
    assert audit.text.count(">list.import<") == 2


async def test_export(webapp: WebApp, admin: SignedIn) -> None:
    list_id = await make_list(
        webapp.database, "Out list", ListKind.CONTACTS, "07700900001", "0161 496*"
    )
    csv = await admin.client.get(f"/admin/lists/{list_id}/export")
    assert csv.status_code == 200
    assert csv.text.splitlines() == [
        "number,label,note,source,valid_from,expires_at",
        "+447700900001,,,,,",
        "+44161496*,,,,,",
    ]
    assert 'filename="Out-list.csv"' in csv.headers["content-disposition"]
    text = await admin.client.get(f"/admin/lists/{list_id}/export", params={"format": "text"})
    assert text.text.splitlines()[1:] == ["+447700900001", "+44161496*"]
