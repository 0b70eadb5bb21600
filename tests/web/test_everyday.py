"""Everyday reading: local times, national numbers, presentation in words, the queue's
default, the impersonation warning on a blocked call, the favicon."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from screener.db.models import Call
from screener.domain.vocabulary import ListKind
from screener.web.app import create_app
from screener.web.rendering import display_zone, phone_number, presentation_words, when
from tests.support.calls import make_list, record_call
from tests.web.conftest import SignedIn, WebApp, client_for, login

SUMMER = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)


async def _at(webapp: WebApp, call_id: str, moment: datetime) -> None:
    async with webapp.database.sessions.begin() as session:
        await session.execute(update(Call).where(Call.id == call_id).values(started_at=moment))


async def test_times_are_shown_in_the_configured_zone_with_utc_on_hover(
    webapp: WebApp,
) -> None:
    settings = webapp.settings.model_copy(deep=True)
    settings.web.time_zone = "Europe/London"
    app = create_app(settings, webapp.database, webapp.screening, webapp.bus)
    call_id = await record_call(webapp.database, webapp.screening, "anonymous", "x")
    await _at(webapp, call_id, SUMMER)
    local = WebApp(app, settings, webapp.database, webapp.screening, webapp.bus, webapp.policy)
    async with client_for(local) as client:
        await login(client, "admin")
        for url in (f"/calls/{call_id}", "/queue", "/"):
            page = (await client.get(url)).text
            assert "2026-07-01 09:30:00 BST" in page, url
            assert 'title="2026-07-01T08:30:00Z"' in page, url
            assert "(UTC)" not in page, url
        audit = (await client.get("/admin/audit")).text
        assert " GMT</time>" in audit or " BST</time>" in audit
    # stored times stay UTC, and so does the API
    async with webapp.database.sessions() as session:
        stored = await session.get(Call, call_id)
        assert stored is not None and stored.started_at == SUMMER


def test_zone_defaults_to_the_machine_and_when_names_it() -> None:
    zone = display_zone("")  # the machine's zone
    now = datetime.now()
    assert now.replace(tzinfo=zone).utcoffset() == now.astimezone().utcoffset()
    assert when(SUMMER, display_zone("Europe/London")) == "2026-07-01 09:30:00 BST"
    assert when(datetime(2026, 1, 5, 12, tzinfo=UTC), display_zone("Europe/London")) == (
        "2026-01-05 12:00:00 GMT"
    )
    assert when(None) == ""


def test_national_numbers() -> None:
    assert phone_number("+447911123456") == "07911 123456"
    assert phone_number("+442079460018") == "020 7946 0018"
    assert phone_number("+33123456789") == "+33 1 23 45 67 89"
    assert phone_number("+44207946") == "0207946"  # a prefix entry
    assert phone_number("<b>") == "<b>"  # not a number: as it is (and escaped by Jinja)
    assert phone_number("+33123456789", "FR") == "01 23 45 67 89"


def test_presentation_in_words() -> None:
    assert presentation_words("prohib_not_screened") == "number withheld"
    assert presentation_words("allowed_not_screened") == "number shown"
    assert presentation_words("allowed_passed_screen") == ("number shown (verified by the network)")
    assert presentation_words("unavailable") == "not available"
    assert presentation_words(None) == "not reported"


async def test_call_page_numbers_and_presentation(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await record_call(
        webapp.database,
        webapp.screening,
        "07911 123456",
        "Mobile",
        presentation="allowed_not_screened",
    )
    page = (await desk.client.get(f"/calls/{call_id}")).text
    assert '<span class="number" title="+447911123456">07911 123456</span>' in page
    assert '<span class="number" title="+442079460000">020 7946 0000</span>' in page  # the DID
    assert 'title="allowed_not_screened">number shown</dd>' in page
    board = (await desk.client.get("/")).text
    assert 'title="+447911123456">07911 123456</span>' in board
    withheld = await record_call(
        webapp.database, webapp.screening, "anonymous", "", presentation="prohib_not_screened"
    )
    assert "number withheld" in (await desk.client.get(f"/calls/{withheld}")).text


async def test_api_keeps_e164(webapp: WebApp) -> None:
    from tests.web.test_api import _token

    call_id = await record_call(webapp.database, webapp.screening, "07911 123456", "x")
    async with client_for(webapp) as client:
        client.headers["Authorization"] = f"Bearer {await _token(webapp, 'desk')}"
        call = (await client.get(f"/api/v1/calls/{call_id}")).json()
    assert call["caller_number"] == "+447911123456"


async def test_queue_opens_on_unreviewed_calls(webapp: WebApp, desk: SignedIn) -> None:
    reviewed = await record_call(webapp.database, webapp.screening, "anonymous", "done")
    waiting = await record_call(webapp.database, webapp.screening, "anonymous", "waiting")
    assert (await desk.post(f"/calls/{reviewed}/review", {"state": "scam"})).status_code == 303
    default = (await desk.client.get("/queue")).text
    assert waiting in default and reviewed not in default
    assert '<option value="unreviewed" selected>' in default
    every = (await desk.client.get("/queue", params={"review_state": "any"})).text
    assert waiting in every and reviewed in every
    assert '<option value="any" selected>' in every
    scam = (await desk.client.get("/queue", params={"review_state": "scam"})).text
    assert reviewed in scam and waiting not in scam


async def test_blocked_impersonation_does_not_say_hang_up(webapp: WebApp, desk: SignedIn) -> None:
    await make_list(webapp.database, "Police", ListKind.DO_NOT_ORIGINATE, "+442079460999")
    live = await record_call(webapp.database, webapp.screening, "02079460999", "Police")
    put_through = await record_call(
        webapp.database, webapp.screening, "02079460999", "Police", outcome="connected"
    )
    blocked = await record_call(
        webapp.database, webapp.screening, "02079460999", "Police", outcome="blocked"
    )
    for call_id in (live, put_through):
        page = (await desk.client.get(f"/calls/{call_id}")).text
        assert "<li>Hang up.</li>" in page
    page = (await desk.client.get(f"/calls/{blocked}")).text
    assert "pretending to be a trusted organisation" in page
    assert "Hang up" not in page
    assert "Screener blocked this call." in page
    assert "<strong>101</strong>" in page and "<strong>159</strong>" in page


async def test_favicon(webapp: WebApp) -> None:
    async with client_for(webapp) as client:
        icon = await client.get("/favicon.ico")
        assert icon.status_code == 301 and icon.headers["location"] == "/static/favicon.svg"
        svg = await client.get("/static/favicon.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg")
        login_page = await client.get("/login")
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in (
            login_page.text
        )


async def test_bad_number_on_add_form_keeps_input(webapp: WebApp, editor: SignedIn) -> None:
    list_id = await make_list(webapp.database, "Pests", ListKind.NUISANCE)
    page = await editor.post(
        f"/lists/{list_id}/entries", {"value": "0800 CALL <b>", "label": "keep me"}
    )
    assert page.status_code == 400
    assert 'value="0800 CALL &lt;b&gt;"' in page.text and 'value="keep me"' in page.text
    assert 'id="add-error"' in page.text
