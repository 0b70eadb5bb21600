"""Live screening in the console and the API: the waiting cards, the decision (CSRF, roles,
one winner), the live stream's cards and presence, MQTT words, statistics and metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from screener.application.unit_of_work import UnitOfWork
from screener.calls import screen_store
from screener.db.models import AuditEntry, Screening
from screener.domain.events import CallChangedElsewhere
from screener.domain.model import Actor
from screener.domain.screen_events import CallScreened, CallWaiting
from screener.domain.vocabulary import ListKind, ScreenDecision, Via
from screener.mqtt_publisher import event_payload, event_topic
from screener.ops.counters import CallMetrics
from screener.users import service as users
from screener.web.server import WebServer
from tests.support.calls import finish_call, make_list, record_call
from tests.web.conftest import SignedIn, WebApp, login
from tests.web.test_live import _message, free_port

NAME = '<img src=x onerror=alert(1)>"Police'
NUMBER = "+442079460123"  # a London number (the drama range is 020 7946 0xxx)


async def waiting(webapp: WebApp, number: str = "+447911123456", name: str = NAME) -> str:
    """A call on hold for reception, recorded as the call desk records it."""
    call_id = await record_call(webapp.database, webapp.screening, number, name)
    now = datetime.now(UTC)
    async with webapp.database.sessions.begin() as session:
        screen_store.offer(session, call_id, "main", now - timedelta(seconds=9))
    async with webapp.database.sessions.begin() as session:
        await screen_store.put_on_hold(
            session, call_id, "main", now - timedelta(seconds=3), 45, f"screener-{call_id}"
        )
    return call_id


async def test_the_waiting_card_shows_the_caller_escaped_with_buttons(
    webapp: WebApp, desk: SignedIn, editor: SignedIn
) -> None:
    call_id = await waiting(webapp)
    cards = await desk.client.get("/board/waiting")
    assert cards.status_code == 200
    html = cards.text
    assert f'id="wait-{call_id}"' in html and 'data-state="on-hold"' in html
    assert NAME not in html and "&lt;img src=x onerror=alert(1)&gt;&#34;Police" in html
    assert f'src="/calls/{call_id}/recording"' in html
    assert 'class="countdown">4' in html  # about 42 s left of 45
    for decision in ("connect", "voicemail", "decline"):
        assert f'name="decision" value="{decision}"' in html
    assert 'value="block"' not in html  # reception without the right to edit lists
    assert 'value="block"' in (await editor.client.get("/board/waiting")).text


async def test_one_click_decides_and_a_second_receptionist_is_told_who_did(
    webapp: WebApp, desk: SignedIn, admin: SignedIn
) -> None:
    call_id = await waiting(webapp)
    screened = webapp.bus.subscribe(kinds=[CallScreened])
    first = await desk.client.post(
        f"/board/calls/{call_id}/decision",
        data={"decision": "connect", "csrf_token": desk.csrf},
        headers={"HX-Request": "true"},
    )
    assert first.status_code == 200
    assert 'data-state="decided"' in first.text and "Connect" in first.text
    assert 'class="decided-by">desk<' in first.text
    second = await admin.client.post(
        f"/board/calls/{call_id}/decision",
        data={"decision": "decline", "csrf_token": admin.csrf},
        headers={"HX-Request": "true"},
    )
    assert second.status_code == 200
    assert "desk decided first." in second.text and 'data-state="decided"' in second.text
    event = await asyncio.wait_for(screened.get(), 5)
    assert isinstance(event, CallScreened)
    assert (event.decision, event.decided_by, event.via) == (
        ScreenDecision.CONNECT,
        "desk",
        Via.WEB,
    )
    assert screened.queue.empty()  # the loser published nothing
    async with webapp.database.sessions() as session:
        row = await session.get(Screening, call_id)
        audit = (
            await session.execute(
                AuditEntry.__table__.select().where(AuditEntry.action == "call.screen")
            )
        ).all()
    assert row is not None and (row.decision, row.decided_by) == ("connect", "desk")
    assert len(audit) == 1 and audit[0].actor == "desk" and audit[0].via == "web"
    page = await admin.client.get(f"/calls/{call_id}")
    assert 'id="screening"' in page.text and "by desk" in page.text
    assert "Decided while waiting" in page.text  # the timeline


async def test_the_decision_needs_csrf_a_sign_in_and_for_block_the_list_right(
    webapp: WebApp, desk: SignedIn, anon: httpx.AsyncClient
) -> None:
    call_id = await waiting(webapp)
    url = f"/board/calls/{call_id}/decision"
    no_csrf = await desk.client.post(url, data={"decision": "connect"})
    assert no_csrf.status_code == 403
    assert (await anon.post(url, data={"decision": "connect"})).status_code == 401
    block = await desk.post(url, {"decision": "block"})
    assert block.status_code == 403
    bad = await desk.post(url, {"decision": "timeout"})
    assert bad.status_code == 303  # (a plain form post: back to the board with the reason)
    async with webapp.database.sessions() as session:
        row = await session.get(Screening, call_id)
    assert row is not None and row.decision is None
    done = await desk.post(url, {"decision": "voicemail"})
    assert done.status_code == 303 and done.headers["location"] == "/"


async def test_block_asks_which_list_when_there_are_several(
    webapp: WebApp, editor: SignedIn
) -> None:
    call_id = await waiting(webapp)
    first = await make_list(webapp.database, "Nuisance A", ListKind.NUISANCE)
    second = await make_list(webapp.database, "Nuisance B", ListKind.NUISANCE)
    html = (await editor.client.get("/board/waiting")).text
    assert '<details class="block-choice">' in html
    assert f'name="list_id" value="{first}"' in html and f'name="list_id" value="{second}"' in html
    response = await editor.client.post(
        f"/board/calls/{call_id}/decision",
        data={"decision": "block", "list_id": str(second), "csrf_token": editor.csrf},
        headers={"HX-Request": "true"},
    )
    assert "Block" in response.text and "Nuisance B" in response.text
    async with webapp.database.sessions() as session:
        row = await session.get(Screening, call_id)
    assert row is not None and (row.decision, row.list_name) == ("block", "Nuisance B")


async def _token(webapp: WebApp, username: str) -> str:
    uow = UnitOfWork(webapp.database, Actor.system("test"))
    return (await users.create_token(uow, username, "desk app")).secret


async def test_the_api_lists_waiting_calls_and_takes_decisions(
    webapp: WebApp, anon: httpx.AsyncClient
) -> None:
    call_id = await waiting(webapp)
    desk = {"Authorization": f"Bearer {await _token(webapp, 'desk')}"}
    admin = {"Authorization": f"Bearer {await _token(webapp, 'admin')}"}
    assert not webapp.app.state.web.presence.watched()
    listed = await anon.get("/api/v1/waiting", headers=desk)
    assert listed.status_code == 200
    calls = listed.json()["calls"]
    assert [c["id"] for c in calls] == [call_id]
    assert calls[0]["caller_name"] == NAME and calls[0]["state"] == "on-hold"
    assert 30 < calls[0]["seconds_left"] <= 45 and calls[0]["recording"]
    assert webapp.app.state.web.presence.watched()  # a desk app polling counts as watching
    url = f"/api/v1/calls/{call_id}/decision"
    assert (await anon.post(url, json={"decision": "connect"})).status_code == 401
    bad = await anon.post(url, json={"decision": "sideways"}, headers=desk)
    assert bad.status_code == 422 and bad.json() == {
        "detail": "decision: choose connect, voicemail, decline or block"
    }
    block = await anon.post(url, json={"decision": "block"}, headers=desk)
    assert block.status_code == 403 and "edit lists" in block.json()["detail"]
    done = await anon.post(url, json={"decision": "decline"}, headers=desk)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["decision"], body["verdict"], body["decided_by"], body["via"]) == (
        "decline",
        "screened-declined",
        "desk",
        "api",
    )
    late = await anon.post(url, json={"decision": "connect"}, headers=admin)
    assert late.status_code == 409
    assert late.json() == {"detail": "already decided: Decline by desk"}
    gone = await anon.post(
        "/api/v1/calls/" + "a" * 32 + "/decision", json={"decision": "connect"}, headers=admin
    )
    assert gone.status_code == 404
    assert (await anon.get("/api/v1/waiting", headers=desk)).json() == {"calls": []}
    spec = (await anon.get("/api/v1/openapi.json")).json()
    assert "/api/v1/waiting" in spec["paths"] and url.replace(call_id, "{call_id}") in spec["paths"]


async def test_the_api_docs_page_describes_the_screening_operations(desk: SignedIn) -> None:
    page = await desk.client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/api/v1/waiting" in page.text and "/api/v1/calls/{call_id}/decision" in page.text
    assert "already decided: Connect by alice" in page.text


async def test_a_call_that_left_shows_so(webapp: WebApp, desk: SignedIn) -> None:
    call_id = await waiting(webapp)
    await finish_call(webapp.database, call_id, "abandoned")
    assert f"wait-{call_id}" not in (await desk.client.get("/board/waiting")).text
    response = await desk.client.post(
        f"/board/calls/{call_id}/decision",
        data={"decision": "connect", "csrf_token": desk.csrf},
        headers={"HX-Request": "true"},
    )
    assert "no longer waiting" in response.text and 'data-state="ended"' in response.text
    assert "Caller hung up" in response.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_live_stream_sends_cards_and_counts_as_watching(webapp: WebApp) -> None:
    webapp.settings.web.host, webapp.settings.web.port = "127.0.0.1", free_port()
    presence = webapp.app.state.web.presence
    server = WebServer(webapp.settings.web, webapp.app)
    await server.start()
    try:
        base = f"http://127.0.0.1:{webapp.settings.web.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await login(client, "desk")
            assert presence.boards == 0
            async with client.stream("GET", "/board/events") as stream:
                lines = stream.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                while presence.boards == 0:
                    await asyncio.sleep(0.01)
                assert presence.watched()
                call_id = await record_call(webapp.database, webapp.screening, NUMBER, NAME)
                at = datetime.now(UTC)
                async with webapp.database.sessions.begin() as session:
                    webapp.bus.publish(screen_store.offer(session, call_id, "main", at))
                messages = [await _message(lines), await _message(lines)]
                assert [m[0] for m in messages] == ["event: call", "event: waiting"]
                card = " ".join(x[6:] for x in messages[1] if x.startswith("data: "))
                assert 'data-state="listening"' in card and NAME not in card
                await finish_call(webapp.database, call_id, "abandoned", bus=webapp.bus)
                messages = [await _message(lines), await _message(lines)]
                card = " ".join(x[6:] for x in messages[1] if x.startswith("data: "))
                assert 'data-state="ended"' in card and "Caller hung up" in card
                # A call another Screener process holds: the card comes from the database.
                elsewhere = await waiting(webapp, NUMBER, "Held elsewhere")
                webapp.bus.publish(CallChangedElsewhere(elsewhere, CallWaiting.kind, at))
                messages = [await _message(lines), await _message(lines)]
                card = " ".join(x[6:] for x in messages[1] if x.startswith("data: "))
                assert f'id="wait-{elsewhere}"' in card and 'data-state="on-hold"' in card
                assert f'src="/calls/{elsewhere}/recording"' in card
        async with asyncio.timeout(5):
            while presence.boards:
                await asyncio.sleep(0.01)
    finally:
        await server.stop()


def test_mqtt_carries_waiting_and_screened_calls() -> None:
    at = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    waiting_event = CallWaiting("c1", "main", at, "screener-c1", at + timedelta(seconds=45))
    screened = CallScreened("c1", "main", ScreenDecision.CONNECT, "alice", Via.WEB, 12.5, at)
    assert event_topic("screener", "main", waiting_event) == "screener/main/calls/c1/waiting"
    assert event_topic("screener", "main", screened) == "screener/main/calls/c1/screened"
    payload = event_payload(screened).decode()
    assert '"decision":"connect"' in payload and '"verdict":"screened-accepted"' in payload
    assert '"decided_by":"alice"' in payload and '"waited_seconds":12.5' in payload
    metrics = CallMetrics()
    metrics.record(screened)
    assert metrics.screened[ScreenDecision.CONNECT] == 1
    assert metrics.screen_wait_seconds.count == 1


async def test_statistics_count_screened_calls_and_the_median_wait(
    webapp: WebApp, admin: SignedIn
) -> None:
    for seconds, decision in ((4, "connect"), (10, "decline"), (30, "connect")):
        call_id = await waiting(webapp)
        async with webapp.database.sessions.begin() as session:
            row = await session.get(Screening, call_id)
            assert row is not None and row.on_hold_at is not None
            claimed = await screen_store.claim(
                session,
                call_id,
                ScreenDecision(decision),
                by="desk",
                via=Via.WEB,
                at=row.on_hold_at + timedelta(seconds=seconds),
            )
            assert claimed.won
    page = await admin.client.get("/admin/stats", params={"days": 7})
    assert page.status_code == 200
    assert "3 screened calls decided" in page.text
    assert "<strong>10 s</strong>" in page.text  # the median of 4, 10 and 30
    assert "Screened calls by decision" in page.text
