"""The ARI client on its own: errors, Asterisk's quirks, the transport, models, facts."""

from __future__ import annotations

import asyncio

import pytest

from screener.ari.client import AriClient, basic_auth_header, events_url, rest_base
from screener.ari.connection import backoff_delays
from screener.ari.errors import AriError
from screener.ari.models import StasisStart, parse_event
from screener.demo.fake_asterisk import FakeAsterisk
from tests.ari.harness import PASSWORD


async def test_variables_absent_functions_and_gone_channels() -> None:
    async with (
        FakeAsterisk(password=PASSWORD) as pbx,
        AriClient(pbx.url, "screener", PASSWORD) as client,
    ):
        pbx.channels.clear()
        channel = pbx.place_call("+442071838750", announce=False, presentation="prohib")
        assert await client.get_variable(channel.id, "CALLERID(pres)") == "prohib"
        # Asterisk answers 500 for an absent header: the client reports it as absent.
        assert await client.get_variable(channel.id, "PJSIP_HEADER(read,Privacy)") is None
        assert await client.get_variable(channel.id, "NOT_SET") is None
        await client.continue_in_dialplan(channel.id, "internal", "100", 1)
        with pytest.raises(AriError) as gone:
            await client.request("POST", f"/channels/{channel.id}/answer")
        assert gone.value.status == 404 and gone.value.channel_gone
        with pytest.raises(AriError) as refused:
            await AriClient(pbx.url, "screener", "wrong").request("GET", "/channels")
        assert refused.value.status == 401


async def test_unreachable_asterisk_is_status_zero() -> None:
    async with FakeAsterisk(password=PASSWORD) as pbx:
        url = pbx.url
    async with AriClient(url, "screener", PASSWORD, timeout=2) as client:
        with pytest.raises(AriError) as caught:
            await client.request("GET", "/channels")
    assert caught.value.status == 0 and caught.value.unreachable


async def _raw_server(responses: list[bytes]) -> tuple[asyncio.Server, int, list[bytes]]:
    """A bare HTTP server: one canned response per connection, then it closes."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(responses.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def test_transport_reads_chunked_bodies_and_recovers_closed_keepalive() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'7\r\n{"value\r\n9\r\n": "ok"}\r\n0\r\n\r\n'
    )
    plain = b'HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{"value": "ok"}'
    server, port, seen = await _raw_server([chunked, plain])
    async with server, AriClient(f"http://127.0.0.1:{port}", "u", "p&#") as client:
        assert await client.get_variable("1.1", "X") == "ok"
        # The server closed the kept-alive connection: the next request reconnects.
        assert await client.get_variable("1.1", "X") == "ok"
    assert len(seen) == 2
    assert b"authorization: " + basic_auth_header("u", "p&#").lower().encode() in seen[0].lower()
    assert b"p&#" not in seen[0]


def test_urls_never_carry_credentials() -> None:
    assert rest_base("http://pbx:8088/") == "http://pbx:8088/ari"
    assert rest_base("https://pbx:8089/ari") == "https://pbx:8089/ari"
    assert events_url("https://pbx:8089", "screener").startswith("wss://pbx:8089/ari/events?")
    assert "api_key" not in events_url("http://pbx:8088", "screener")


def test_backoff_doubles_and_caps() -> None:
    delay = backoff_delays(0.5, 4.0)
    assert [delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_events_unknown_types_and_fields_are_ignored() -> None:
    assert parse_event({"type": "ChannelVarset", "variable": "RTPAUDIOQOS"}) is None
    assert parse_event({"type": "StasisStart"}) is None  # malformed: no channel
    assert parse_event("not a dict") is None
    event = parse_event(
        {
            "type": "StasisStart",
            "args": ["441234"],
            "brand_new_field": 1,
            "channel": {"id": "1.2", "name": "PJSIP/trunk-00000001", "caller": {"number": "x"}},
        }
    )
    assert isinstance(event, StasisStart) and event.channel.caller.number == "x"
