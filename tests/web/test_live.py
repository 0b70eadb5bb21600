"""The live board's event stream, from the real web server (uvicorn) of the service."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from screener.calls import store
from screener.domain.events import CallFinished
from screener.domain.model import CallEnding
from screener.domain.vocabulary import Outcome, Step, Verdict
from screener.web.server import WebServer
from tests.support.calls import record_call
from tests.web.conftest import PASSWORD, WebApp, csrf_of


async def _message(lines: AsyncIterator[str]) -> list[str]:
    current: list[str] = []
    while True:
        line = await asyncio.wait_for(anext(lines), 10)
        if line == "" and current:
            return current
        if line:
            current.append(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_board_stream_sends_escaped_rows(webapp: WebApp) -> None:
    webapp.settings.web.host, webapp.settings.web.port = "127.0.0.1", free_port()
    bus = webapp.bus
    server = WebServer(webapp.settings.web, webapp.app)
    await server.start()
    base = f"http://127.0.0.1:{webapp.settings.web.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(100):
                try:
                    page = await client.get("/login")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            await client.post(
                "/login",
                data={"username": "desk", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            )
            async with client.stream("GET", "/board/events") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                while bus.subscriber_count == 0:
                    await asyncio.sleep(0.01)
                call_id = await record_call(
                    webapp.database,
                    webapp.screening,
                    "anonymous",
                    '</script><svg onload=alert(1)>"',
                    bus=bus,
                )
                messages = [await _message(lines), await _message(lines)]
                ending = CallEnding(Outcome.ABANDONED, Step.PROMPT, Verdict.CHALLENGE)
                finished = CallFinished(call_id, "main", ending, datetime.now(UTC))
                async with webapp.database.sessions.begin() as session:
                    assert await store.finish_call(session, finished)
                bus.publish(finished)
                messages.append(await _message(lines))
        assert [m[0] for m in messages] == ["event: call"] * 3
        assert all(m[1] == f"id: {call_id}" for m in messages)
        data = [" ".join(x[6:] for x in m if x.startswith("data: ")) for m in messages]
        assert all(f'id="call-{call_id}"' in d for d in data)
        assert all(
            "<svg" not in d and "&lt;/script&gt;&lt;svg onload=alert(1)&gt;&#34;" in d for d in data
        )
        assert "Caller hung up" in data[2] and "in progress" in data[0]
    finally:
        await server.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base) as client:
            await client.get("/login")
