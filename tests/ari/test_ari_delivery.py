"""After the hand-back: the call record says who answered, or why nobody did.

The fake Asterisk runs a small dialplan after ``continue`` (its :class:`Destination` for
the location) and sends the channel's events only to an application subscribed to it, as
Asterisk 22 does; a location its dialplan does not have ends the call at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import select

from screener.db.models import Call
from screener.demo.fake_asterisk import CallerBehaviour, Destination, FakeAsterisk
from screener.domain.events import CallDelivered
from screener.domain.vocabulary import ListKind
from screener.ops.health import health_report
from tests.ari.harness import PASSWORD, Running, add_list, fast_settings, running_service

CONTACT = "+442071838750"


async def contact(session: Any) -> None:
    await add_list(session, "contacts", ListKind.CONTACTS, CONTACT)


def delivered_events(run: Running) -> list[CallDelivered]:
    found = []
    while not run.events.queue.empty():
        event = run.events.queue.get_nowait()
        if isinstance(event, CallDelivered):
            found.append(event)
    return found


async def delivered(run: Running, channel_id: str, timeout: float = 10) -> Call:
    """The call's row once its delivery is known."""
    async with asyncio.timeout(timeout):
        while True:
            call = await run.call_record(channel_id)
            if call.delivery is not None:
                return call
            await asyncio.sleep(0.02)


def requests_to(pbx: FakeAsterisk, fragment: str) -> list[str]:
    return [f"{r.method} {r.path}" for r in pbx.requests if fragment in r.path]


async def test_an_answered_call_says_who_answered_and_after_how_long(sqlite_url: str) -> None:
    async with (
        FakeAsterisk(password=PASSWORD, time_scale=0.05) as pbx,
        running_service(lambda url: fast_settings(sqlite_url, url), pbx=pbx, seed=contact) as run,
    ):
        pbx.dialplan["internal,100"] = Destination(dial="PJSIP/204", answer_after=2.0)
        channel = pbx.place_call(CONTACT, "ACME LTD")
        call = await delivered(run, channel.id)
        events = delivered_events(run)
    assert channel.answered_by == "PJSIP/204"
    assert (call.outcome, call.delivery, call.delivered_to) == ("connected", "answered", "204")
    assert call.delivered_at is not None and call.ended_at is not None
    assert call.delivered_at > call.ended_at  # answered after Screener put it through
    kinds = [e.kind for e in call.events]
    assert kinds[-3:] == ["outcome", "ringing", "delivery"], [
        (e.kind, e.at, e.detail) for e in call.events
    ]
    detail = call.events[-1].detail
    assert detail["to"] == "204" and 0.05 <= detail["after_seconds"] < 5
    assert [(e.delivery.value, e.to) for e in events] == [("answered", "204")]
    # The subscription came before the continue: Asterisk sends nothing after StasisEnd
    # to an application that did not subscribe.
    paths = [r.path for r in pbx.requests if r.method == "POST"]
    assert paths.index("/ari/applications/screener/subscription") < paths.index(
        f"/ari/channels/{channel.id}/continue"
    )


@pytest.mark.parametrize(
    ("destination", "behaviour", "delivery", "to"),
    [
        (Destination(answer_after=None, ring_seconds=1.0), None, "no_answer", "100"),
        (Destination(status="BUSY"), None, "busy", "100"),
        (
            Destination(answer_after=None, ring_seconds=1.0, voicemail=True),
            None,
            "voicemail",
            "100",
        ),
        (Destination(dial=None, voicemail=True), None, "voicemail", None),
        (Destination(), CallerBehaviour(hangs_up_ringing=True), "abandoned", "100"),
        (Destination(status="CHANUNAVAIL"), None, "failed", "100"),
    ],
    ids=[
        "no-answer",
        "busy",
        "voicemail-after-ringing",
        "straight-to-voicemail",
        "abandoned",
        "unavailable",
    ],
)
async def test_an_unanswered_call_says_why(
    sqlite_url: str,
    destination: Destination,
    behaviour: CallerBehaviour | None,
    delivery: str,
    to: str | None,
) -> None:
    async with (
        FakeAsterisk(password=PASSWORD, time_scale=0.05) as pbx,
        running_service(lambda url: fast_settings(sqlite_url, url), pbx=pbx, seed=contact) as run,
    ):
        pbx.dialplan["internal,100"] = destination
        channel = pbx.place_call(CONTACT, behaviour=behaviour)
        call = await delivered(run, channel.id)
    assert channel.answered_by is None
    assert (call.outcome, call.delivery, call.delivered_to) == ("connected", delivery, to)
    if delivery == "failed":
        assert "not available" in call.events[-1].detail["detail"]


async def test_a_missing_dialplan_location_is_reported_loudly(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="screener.calls.delivery")
    settings = lambda url: fast_settings(  # noqa: E731
        sqlite_url, url, ari={"continue_context": "screend", "continue_extension": "s"}
    )
    async with running_service(settings, seed=contact) as run:
        calls = [run.pbx.place_call(CONTACT) for _ in range(2)]
        records = [await delivered(run, channel.id) for channel in calls]
        assert run.ctx.health is not None
        healthy, body = await health_report(run.ctx.health)
    assert {(c.outcome, c.delivery) for c in records} == {("connected", "failed")}
    assert "screend,s,1" in records[0].events[-1].detail["detail"]
    # Once in the log (not once a call), on /healthz, and for the console's banner.
    errors = [r for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(errors) == 1 and "screend,s,1" in errors[0].getMessage()
    assert healthy and body["status"] == "degraded"
    assert "screend,s,1" in body["warnings"][0]
    assert body["ari"]["calls_to_a_missing_location"] == 2


async def test_a_fixed_location_clears_the_warning(sqlite_url: str) -> None:
    async with (
        FakeAsterisk(password=PASSWORD, time_scale=0.05) as pbx,
        running_service(lambda url: fast_settings(sqlite_url, url), pbx=pbx, seed=contact) as run,
    ):
        pbx.dialplan.pop("internal,100")
        lost = pbx.place_call(CONTACT)
        assert (await delivered(run, lost.id)).delivery == "failed"
        assert run.ctx.health is not None
        assert (await health_report(run.ctx.health))[1]["warnings"]
        pbx.dialplan["internal,100"] = Destination()  # the admin reloads the dialplan
        fine = pbx.place_call(CONTACT)
        assert (await delivered(run, fine.id)).delivery == "answered"
        assert (await health_report(run.ctx.health))[1]["warnings"] == []


async def test_blocked_calls_and_follow_calls_off_subscribe_to_nothing(sqlite_url: str) -> None:
    settings = lambda url: fast_settings(sqlite_url, url, ari={"follow_calls": False})  # noqa: E731
    async with running_service(settings, seed=contact) as run:
        channel = run.pbx.place_call(CONTACT)
        call = await run.call_record(await run.finished(channel))
        await asyncio.wait_for(channel.destroyed.wait(), 10)
        await asyncio.sleep(0.2)
        async with run.ctx.database.sessions() as session:
            delivery = (
                await session.execute(select(Call.delivery).where(Call.id == call.id))
            ).scalar_one()
    assert channel.answered_by == "PJSIP/100"  # it was answered, Screener just was not told
    assert delivery is None and requests_to(run.pbx, "/subscription") == []

    async def blocked_list(session: Any) -> None:
        from screener.domain.vocabulary import ListKind

        await add_list(session, "scams", ListKind.NUISANCE, "+441632960961")

    async with running_service(
        lambda url: fast_settings(sqlite_url, url), seed=blocked_list
    ) as run:
        channel = run.pbx.place_call("+441632960961")
        call = await run.call_record(await run.finished(channel))
    assert call.outcome == "blocked" and requests_to(run.pbx, "/subscription") == []


async def test_asterisk_sends_only_the_events_screener_reads(sqlite_url: str) -> None:
    from screener.ari.models import KNOWN_EVENTS

    async with running_service(lambda url: fast_settings(sqlite_url, url), seed=contact) as run:
        assert run.pbx.event_filters["screener"] == set(KNOWN_EVENTS)
        # Calls still flow with the filter on (a hang-up brings no ChannelVarset noise now).
        channel = run.pbx.place_call("anonymous", behaviour=CallerBehaviour(hang_up_at="prompt"))
        assert (await run.call_record(await run.finished(channel))).outcome == "abandoned"


async def test_an_asterisk_without_event_filters_still_screens(sqlite_url: str) -> None:
    async with FakeAsterisk(password=PASSWORD, time_scale=0.05) as pbx:
        pbx.fail_next("PUT", r"/eventFilter$", status=405, times=5)
        async with running_service(
            lambda url: fast_settings(sqlite_url, url), pbx=pbx, seed=contact
        ) as run:
            channel = pbx.place_call(CONTACT)
            call = await delivered(run, channel.id)
        assert pbx.event_filters == {}
        assert (call.outcome, call.delivery) == ("connected", "answered")
