"""Reception actions and admin changes: reviews, block/allow, lists, policy, users, audit."""

from __future__ import annotations

import re

from sqlalchemy import select

from screener.db.models import Call, ListEntry, NumberList, PolicySetting
from screener.domain.events import CallReviewed
from screener.domain.vocabulary import ListKind, ReasonCode, ReviewState
from tests.support.calls import make_list, record_call
from tests.web.conftest import SignedIn, WebApp


async def test_review_records_and_publishes(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await record_call(webapp.database, webapp.screening, "anonymous", "Robo")
    with webapp.bus.subscribe(kinds={CallReviewed}) as sub:
        response = await desk.post(
            f"/calls/{call_id}/review", {"state": "scam", "note": "asked for <bank> details"}
        )
        assert response.status_code == 303
        event = sub.queue.get_nowait()
    assert isinstance(event, CallReviewed)
    assert event.review_state is ReviewState.SCAM and event.reviewed_by == "desk"
    async with webapp.database.sessions() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        assert call.review_state == "scam" and call.review_note == "asked for <bank> details"
    page = await desk.client.get(f"/calls/{call_id}")
    assert "Marked as scam." in page.text
    assert "asked for &lt;bank&gt; details" in page.text
    assert "Reviewed</strong>" in page.text  # timeline
    bad = await desk.post(f"/calls/{call_id}/review", {"state": "unreviewed"})
    assert bad.status_code == 400
    filtered = await desk.client.get("/queue", params={"review_state": "scam"})
    assert call_id in filtered.text


async def test_block_from_call_page(webapp: WebApp, editor: SignedIn, admin: SignedIn) -> None:
    call_id = await record_call(webapp.database, webapp.screening, "07700 900123", "Pest")
    response = await editor.post(f"/calls/{call_id}/block", {"note": "sales", "expires_days": "30"})
    assert response.status_code == 303
    page = await editor.client.get(f"/calls/{call_id}")
    assert "added to \u201cBlocked from console\u201d until" in page.text
    async with webapp.database.sessions() as session:
        blocked = (
            await session.execute(
                select(NumberList).where(NumberList.name == "Blocked from console")
            )
        ).scalar_one()
        assert (blocked.kind, blocked.action) == ("nuisance", "block")
        entry = (
            await session.execute(select(ListEntry).where(ListEntry.list_id == blocked.id))
        ).scalar_one()
        assert entry.value == "+447700900123" and entry.label == "Pest"
        assert entry.expires_at is not None and entry.added_by == "editor"
    lists = await editor.client.get("/lists")
    assert "Blocked from console" in lists.text
    listed = await editor.client.get(f"/lists/{blocked.id}", params={"search": "07700 900"})
    assert "+447700900123" in listed.text
    audit = await admin.client.get("/admin/audit", params={"q": "Blocked"})
    assert "entry.add" in audit.text and "+447700900123" in audit.text
    # the next call from that number is blocked
    again = await record_call(webapp.database, webapp.screening, "07700900123", "Pest")
    async with webapp.database.sessions() as session:
        call = await session.get(Call, again)
        assert call is not None and call.action == "block"
    # allow goes to its own list
    allowed = await editor.post(f"/calls/{call_id}/allow", {"expires_days": "0"})
    assert allowed.status_code == 303
    async with webapp.database.sessions() as session:
        allow_list = (
            await session.execute(
                select(NumberList).where(NumberList.name == "Allowed from console")
            )
        ).scalar_one()
        assert (allow_list.kind, allow_list.action) == ("contacts", "allow")


async def test_block_withheld_call_is_refused(webapp: WebApp, editor: SignedIn) -> None:
    call_id = await record_call(webapp.database, webapp.screening, "anonymous", "x")
    response = await editor.post(f"/calls/{call_id}/block", {"expires_days": "0"})
    assert response.status_code == 400
    assert "no usable caller number" in response.text


async def test_desk_without_list_rights_sees_no_block_buttons(
    webapp: WebApp, desk: SignedIn
) -> None:
    call_id = await record_call(webapp.database, webapp.screening, "07700900123", "x")
    page = await desk.client.get(f"/calls/{call_id}")
    assert "/block" not in page.text and "Lists" not in page.text


async def test_list_crud_and_entries(webapp: WebApp, admin: SignedIn) -> None:
    created = await admin.post(
        "/admin/lists", {"name": "Suppliers <b>", "kind": "contacts", "action": ""}
    )
    assert created.status_code == 303
    list_id = int(created.headers["location"].rsplit("/", 1)[1])
    page = await admin.client.get(f"/lists/{list_id}")
    assert "Suppliers &lt;b&gt;" in page.text
    added = await admin.post(
        f"/lists/{list_id}/entries",
        {"value": "020 7123 4567", "label": "Acme <ltd>", "expires": "2031-01-01"},
    )
    assert added.status_code == 303
    prefix = await admin.post(f"/lists/{list_id}/entries", {"value": "0161 496*"})
    assert prefix.status_code == 303
    bad = await admin.post(f"/lists/{list_id}/entries", {"value": "hello"})
    assert bad.status_code == 400
    page = await admin.client.get(f"/lists/{list_id}")
    assert "+442071234567" in page.text and "Acme &lt;ltd&gt;" in page.text
    assert "+44161496*" in page.text
    by_label = await admin.client.get(f"/lists/{list_id}", params={"search": "acme"})
    assert "+442071234567" in by_label.text and "+44161496*" not in by_label.text
    by_number = await admin.client.get(f"/lists/{list_id}", params={"search": "+4416"})
    assert "+442071234567" not in by_number.text and "+44161496*" in by_number.text
    entry_id = re.search(rf'action="/lists/{list_id}/entries/(\d+)"', page.text)
    assert entry_id
    edited = await admin.post(
        f"/lists/{list_id}/entries/{entry_id.group(1)}",
        {"label": "Renamed", "note": "", "expires": ""},
    )
    assert edited.status_code == 303
    assert "Renamed" in (await admin.client.get(f"/lists/{list_id}")).text
    removed = await admin.post(f"/lists/{list_id}/entries/{entry_id.group(1)}/delete")
    assert removed.status_code == 303
    renamed = await admin.post(
        f"/admin/lists/{list_id}",
        {"name": "Suppliers", "kind": "nuisance", "action": "block", "description": "d"},
    )
    assert renamed.status_code == 303
    async with webapp.database.sessions() as session:
        lst = await session.get(NumberList, list_id)
        assert lst is not None and (lst.name, lst.kind, lst.action) == (
            "Suppliers",
            "nuisance",
            "block",
        )
    deleted = await admin.post(f"/admin/lists/{list_id}/delete")
    assert deleted.status_code == 303
    audit = await admin.client.get("/admin/audit")
    for action in (
        "list.create",
        "entry.add",
        "entry.update",
        "entry.remove",
        "list.update",
        "list.delete",
    ):
        assert action in audit.text
    search = await admin.client.get("/admin/audit", params={"q": "list.delete"})
    assert "list.delete" in search.text and "entry.add" not in search.text


async def test_editor_may_edit_entries_but_not_lists(webapp: WebApp, editor: SignedIn) -> None:
    list_id = await make_list(webapp.database, "Staff", ListKind.CONTACTS)
    ok = await editor.post(f"/lists/{list_id}/entries", {"value": "07700900555"})
    assert ok.status_code == 303
    no = await editor.post(f"/admin/lists/{list_id}/delete")
    assert no.status_code == 403


async def test_policy_change_applies_and_is_audited(webapp: WebApp, admin: SignedIn) -> None:
    page = await admin.client.get("/admin/policy")
    for code in ("withheld", "premium_rate_cli", "repeat_caller"):
        assert f'name="action_{code}"' in page.text
    assert "Repeat caller" in page.text
    changed = await admin.post("/admin/policy", {"action_withheld": "block"})
    assert changed.status_code == 303
    await webapp.policy_in_force(ReasonCode.WITHHELD, "block")
    async with webapp.database.sessions() as session:
        row = await session.get(PolicySetting, "withheld")
        assert row is not None and row.value == "block" and row.updated_by == "admin"
    call_id = await record_call(webapp.database, webapp.screening, "anonymous", "x")
    async with webapp.database.sessions() as session:
        call = await session.get(Call, call_id)
        assert call is not None and call.action == "block"
    reset = await admin.post("/admin/policy", {"action_withheld": "default"})
    assert reset.status_code == 303
    await webapp.policy_in_force(ReasonCode.WITHHELD, "challenge")
    bad = await admin.post("/admin/policy", {"action_block_list": "allow"})
    assert bad.status_code == 400
    audit = await admin.client.get("/admin/audit", params={"q": "policy"})
    assert audit.text.count(">policy.change<") == 2


async def test_check_box(webapp: WebApp, desk: SignedIn) -> None:
    response = await desk.client.get(
        "/check", params={"number": "<script>x</script>"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<script>x" not in response.text and "&lt;script&gt;" in response.text
    assert "<html" not in response.text  # a fragment for htmx


async def test_user_admin(webapp: WebApp, admin: SignedIn) -> None:
    created = await admin.post(
        "/admin/users",
        {
            "username": "temp",
            "password": "long enough pw",
            "role": "reception",
            "can_edit_lists": "true",
        },
    )
    assert created.status_code == 303
    user_url = created.headers["location"]
    short = await admin.post(
        "/admin/users", {"username": "t2", "password": "short", "role": "reception"}
    )
    assert short.status_code == 400
    token = await admin.post(f"{user_url}/tokens", {"name": "crm"})
    assert token.status_code == 303
    page = await admin.client.get(user_url)
    secret = re.search(r'<code class="token">(scr_[^<]+)</code>', page.text)
    assert secret
    assert secret.group(1) not in (await admin.client.get(user_url)).text  # shown once
    api = await admin.client.get(
        "/api/v1/calls", headers={"Authorization": f"Bearer {secret.group(1)}"}
    )
    assert api.status_code == 200
    token_id = re.search(r"/tokens/(\d+)/revoke", page.text)
    assert token_id
    revoked = await admin.post(f"{user_url}/tokens/{token_id.group(1)}/revoke")
    assert revoked.status_code == 303
    api = await admin.client.get(
        "/api/v1/calls", headers={"Authorization": f"Bearer {secret.group(1)}"}
    )
    assert api.status_code == 401
    # the last admin cannot be demoted or disabled
    users = await admin.client.get("/admin/users")
    admin_id = re.search(r'href="/admin/users/(\d+)">admin<', users.text)
    assert admin_id
    demote = await admin.post(
        f"/admin/users/{admin_id.group(1)}", {"role": "reception", "active": "true"}
    )
    assert demote.status_code == 400


async def test_caller_name_escaped_in_list_attributes(webapp: WebApp, editor: SignedIn) -> None:
    name = '"><img src=x onerror=window.__x=1>'
    call_id = await record_call(webapp.database, webapp.screening, "07700900321", name)
    assert (await editor.post(f"/calls/{call_id}/block", {"expires_days": "0"})).status_code == 303
    lists = await editor.client.get("/lists")
    list_id = re.search(r'href="/lists/(\d+)">Blocked from console<', lists.text)
    assert list_id
    page = await editor.client.get(f"/lists/{list_id.group(1)}")
    assert 'value="&#34;&gt;&lt;img src=x onerror=window.__x=1&gt;"' in page.text
    assert "<img src=x" not in page.text
