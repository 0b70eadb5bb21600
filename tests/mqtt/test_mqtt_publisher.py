"""The MQTT publisher against a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from screener.domain.events import (
    AriConnected,
    CallDecided,
    CallFinished,
    CallReviewed,
    CallStarted,
)
from screener.domain.model import CallEnding, CallFacts, Decision, NumberInfo
from screener.domain.vocabulary import (
    Action,
    CallSource,
    NumberType,
    Outcome,
    ReviewState,
    Step,
    Verdict,
)
from screener.events import EventBus
from screener.mqtt_publisher import MqttPublisher
from screener.settings import MqttSettings, OfficeSettings, Settings
from tests.mqtt.conftest import subscriber
from tests.support.mosquitto import Mosquitto, TcpLink

pytestmark = pytest.mark.mqtt

STATUS = "screener/hq/status"


def mqtt_settings(port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "reconnect_max_seconds": 0.3,
    }
    values.update(overrides)
    return Settings(mqtt=MqttSettings.model_validate(values), office=OfficeSettings(site="hq"))


async def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll until true; the timeout only stops a broken test from hanging."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_publisher(settings: Settings, bus: EventBus) -> AsyncIterator[MqttPublisher]:
    publisher = MqttPublisher(settings, bus)
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def started(call_id: str, number: str = "+447700900123") -> CallStarted:
    return CallStarted(call_id, "hq", CallSource.ARI, "1.2", CallFacts(number), number, NOW)


def decided(call_id: str, action: Action = Action.CHALLENGE, ms: float = 3.5) -> CallDecided:
    number = NumberInfo("x", "+447700900123", False, True, NumberType.MOBILE, 44, "7700900123")
    return CallDecided(call_id, "hq", Decision(action, (), number), ms, NOW)


def finished(call_id: str) -> CallFinished:
    ending = CallEnding(Outcome.CONNECTED, Step.CHALLENGE, Verdict.CHALLENGE_PASSED)
    return CallFinished(call_id, "hq", ending, NOW)


def reviewed(call_id: str) -> CallReviewed:
    return CallReviewed(call_id, "hq", ReviewState.LEGITIMATE, "ann", NOW)


async def test_call_events_arrive_on_their_topics_with_versioned_json(
    mosquitto: Mosquitto,
) -> None:
    bus = EventBus()
    async with (
        subscriber(mosquitto.port, "screener/#") as seen,
        running_publisher(mqtt_settings(mosquitto.port), bus) as publisher,
    ):
        await seen.wait_for(lambda: seen.on(STATUS) == [b"online"])
        bus.publish(started("c0ffee"))
        bus.publish(decided("c0ffee"))
        bus.publish(AriConnected("http://pbx:8088", NOW))
        bus.publish(finished("c0ffee"))
        bus.publish(reviewed("c0ffee"))
        await seen.wait_for(lambda: len(seen.messages) >= 5)
        await wait_until(lambda: publisher.state.published == 4)

    call_messages = [(t, json.loads(p), r) for t, p, r in seen.messages if t != STATUS]
    assert [t for t, _, _ in call_messages] == [
        "screener/hq/calls/c0ffee/started",
        "screener/hq/calls/c0ffee/verdict",
        "screener/hq/calls/c0ffee/outcome",
        "screener/hq/calls/c0ffee/reviewed",
    ]
    assert all(not retained for _, _, retained in call_messages)
    started_body, verdict, outcome, review = (body for _, body, _ in call_messages)
    assert started_body["version"] == 1
    assert started_body["event"] == "call.started"
    assert started_body["caller_number"] == "+447700900123"
    assert started_body["call_id"] == "c0ffee"
    assert started_body["at"] == NOW.isoformat()  # when it happened, not when it was sent
    assert verdict["action"] == "challenge"
    assert verdict["decision_ms"] == 3.5
    assert (outcome["outcome"], outcome["verdict"]) == ("connected", "challenge-passed")
    assert review["review_state"] == "legitimate"
    assert publisher.dropped == 0


async def test_status_is_retained_online_then_offline_on_clean_shutdown(
    mosquitto: Mosquitto,
) -> None:
    bus = EventBus()
    async with running_publisher(mqtt_settings(mosquitto.port), bus) as publisher:
        await wait_until(lambda: publisher.state.connected)
        async with subscriber(mosquitto.port, STATUS) as late:
            await late.wait_for(lambda: bool(late.messages))
        assert late.messages == [(STATUS, b"online", True)]
    assert not publisher.state.connected
    async with subscriber(mosquitto.port, STATUS) as after:
        await after.wait_for(lambda: bool(after.messages))
    assert after.messages == [(STATUS, b"offline", True)]
    assert bus.subscriber_count == 0


async def test_last_will_marks_site_offline_when_connection_dies_then_it_comes_back(
    mosquitto: Mosquitto, link_factory: list[TcpLink]
) -> None:
    link = TcpLink(mosquitto.port)
    await link.start()
    link_factory.append(link)
    bus = EventBus()
    async with (
        subscriber(mosquitto.port, STATUS) as seen,
        running_publisher(mqtt_settings(link.port), bus) as publisher,
    ):
        await seen.wait_for(lambda: seen.on(STATUS) == [b"online"])
        link.cut()
        await seen.wait_for(lambda: len(seen.on(STATUS)) >= 2)
        assert seen.on(STATUS)[1] == b"offline"  # the broker's last will
        await seen.wait_for(lambda: len(seen.on(STATUS)) >= 3)
        assert seen.on(STATUS)[2] == b"online"
        await wait_until(lambda: publisher.state.connects == 2)
        assert publisher.state.connect_failures >= 1
        bus.publish(started("after"))
        await wait_until(lambda: publisher.state.published == 1)


async def test_broker_down_at_start_retries_without_blocking_then_delivers(
    mosquitto_stopped: Mosquitto, link_factory: list[TcpLink]
) -> None:
    broker = mosquitto_stopped
    link = TcpLink(broker.port)
    await link.start()
    await link.block()  # nothing listens: "connection refused", as for a broker that is down
    link_factory.append(link)
    bus = EventBus()
    other = bus.subscribe(maxsize=100)
    async with running_publisher(mqtt_settings(link.port), bus) as publisher:
        await wait_until(lambda: publisher.state.connect_failures >= 2)
        for n in range(5):
            bus.publish(started(f"call{n}"))
        # Call handling is not held up: other listeners got every event at once.
        assert other.queue.qsize() == 5
        await wait_until(lambda: publisher.queued == 5)
        assert not publisher.state.connected
        assert publisher.state.published == 0
        assert publisher.state.last_error

        broker.start()
        async with subscriber(broker.port, "screener/hq/calls/#") as seen:
            await link.unblock()
            await seen.wait_for(lambda: len(seen.messages) >= 5)
            await wait_until(lambda: publisher.state.published == 5)
        assert [json.loads(p)["call_id"] for _, p, _ in seen.messages] == [
            f"call{n}" for n in range(5)
        ]
        assert publisher.state.connected
        assert publisher.dropped == 0


async def test_broker_restart_mid_stream_reconnects_and_overflow_drops_newest(
    mosquitto: Mosquitto, link_factory: list[TcpLink]
) -> None:
    link = TcpLink(mosquitto.port)
    await link.start()
    link_factory.append(link)
    bus = EventBus()
    settings = mqtt_settings(link.port, queue_size=20)
    async with running_publisher(settings, bus) as publisher:
        async with subscriber(mosquitto.port, "screener/hq/calls/#") as before:
            await wait_until(lambda: publisher.state.connected)
            for n in range(10):
                bus.publish(decided(f"call{n}"))
            await before.wait_for(lambda: len(before.messages) == 10)
            await link.block()  # keeps the publisher away until the test listens again
            mosquitto.kill()
            await wait_until(lambda: not publisher.state.connected)

        for n in range(10, 60):
            bus.publish(decided(f"call{n}"))
        await wait_until(lambda: publisher.dropped == 30)
        assert publisher.queued == 20

        mosquitto.start()
        async with subscriber(mosquitto.port, "screener/hq/calls/#") as after:
            await link.unblock()
            await after.wait_for(lambda: len(after.messages) >= 20)
            await wait_until(lambda: publisher.state.published == 30)
            assert publisher.queued == 0

    received = [
        int(json.loads(p)["call_id"].removeprefix("call"))
        for _, p, _ in before.messages + after.messages
    ]
    # Everything sent before the crash, then the 20 queued during the outage, in order;
    # the 30 newest did not fit and were counted as dropped.
    assert received == list(range(30))
    assert publisher.dropped == 30
    assert publisher.state.connects == 2
    assert publisher.dropped + publisher.state.published == 60


async def test_username_and_password_are_used_and_never_logged(
    mosquitto_auth: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bus = EventBus()
    good = mqtt_settings(mosquitto_auth.port, username="screener", password="s3cret&pass#1")
    async with (
        subscriber(mosquitto_auth.port, "screener/#", "watcher", "w") as seen,
        running_publisher(good, bus) as publisher,
    ):
        await seen.wait_for(lambda: seen.on(STATUS) == [b"online"])
        bus.publish(finished("abc"))
        await seen.wait_for(lambda: len(seen.messages) >= 2)
        await wait_until(lambda: publisher.state.published == 1)

    bad = mqtt_settings(mosquitto_auth.port, username="screener", password="wrong-Pa55word")
    async with running_publisher(bad, bus) as publisher:
        await wait_until(lambda: publisher.state.connect_failures >= 2)
        assert not publisher.state.connected
        assert publisher.state.last_error
        assert "wrong-Pa55word" not in publisher.state.last_error

    assert "s3cret&pass#1" not in caplog.text
    assert "wrong-Pa55word" not in caplog.text
    assert "unreachable" in caplog.text


async def test_tls_with_the_configured_ca_and_refusal_without_it(mosquitto_tls: Mosquitto) -> None:
    assert mosquitto_tls.tls is not None
    ca = mosquitto_tls.tls.ca
    bus = EventBus()
    trusted = mqtt_settings(mosquitto_tls.port, tls=True, ca_file=str(ca))
    async with (
        subscriber(mosquitto_tls.port, "screener/#", ca_file=ca) as seen,
        running_publisher(trusted, bus) as publisher,
    ):
        await seen.wait_for(lambda: seen.on(STATUS) == [b"online"])
        bus.publish(decided("tls1", Action.ALLOW))
        await seen.wait_for(lambda: len(seen.messages) >= 2)
        await wait_until(lambda: publisher.state.published == 1)

    untrusted = mqtt_settings(mosquitto_tls.port, tls=True)  # system CAs do not know ours
    async with running_publisher(untrusted, bus) as publisher:
        await wait_until(lambda: publisher.state.connect_failures >= 2)
        assert not publisher.state.connected
        assert "certificate" in (publisher.state.last_error or "").lower()

    plain = mqtt_settings(mosquitto_tls.port)  # no TLS against a TLS listener
    async with running_publisher(plain, bus) as publisher:
        await wait_until(lambda: publisher.state.connect_failures >= 1)
        assert not publisher.state.connected


async def test_cancellation_always_stops_the_publisher(mosquitto: Mosquitto) -> None:
    """Cancelling at any moment ends the task, even when a publish completes at that instant
    (Python 3.11's wait_for, used inside aiomqtt, can swallow such a cancellation)."""
    settings = mqtt_settings(mosquitto.port)
    for attempt in range(40):
        bus = EventBus()
        state = MqttPublisher(settings, bus)
        task = asyncio.create_task(state.run())
        await wait_until(lambda: state.state.connected)  # noqa: B023
        bus.publish(started(f"c{attempt}"))
        await asyncio.sleep((attempt % 5) / 1000)  # cancel at varied moments around the PUBACK
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, f"publisher kept running after cancel (attempt {attempt})"
        assert task.cancelled()
        assert bus.subscriber_count == 0
        assert not state.state.connected
