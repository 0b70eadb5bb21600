"""Malformed and hostile FastAGI input ends one session, never the server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import screener.agi.protocol as protocol
from screener.calls.facts import MAX_CALLER_TEXT
from screener.calls.queries import CallFilter, find_calls, get_call
from screener.db.lifecycle import open_database
from screener.settings import DatabaseSettings, Settings
from tests.agi.conftest import RunningAgi, agi_call, environment, running_agi, speak_agi


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Silent peers are cut off sooner than in production so the suite stays quick."""
    monkeypatch.setattr(protocol, "ENV_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(protocol, "REPLY_TIMEOUT_SECONDS", 0.5)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends before it closes (a reset counts as closed)."""
    async with asyncio.timeout(30):  # guards against a hang; not a timing assertion
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


@contextlib.asynccontextmanager
async def raw_connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def still_serving(agi: RunningAgi) -> None:
    result = await agi_call(agi.port, callerid="+447911123456")
    assert result.variables["SCREENER_VERDICT"] == "allow"
    assert agi.handler.active == 0


def env_bytes(port: int, **kwargs: object) -> bytes:
    return ("\n".join(environment(port, **kwargs)) + "\n\n").encode()  # type: ignore[arg-type]


HOSTILE = {
    "binary garbage": lambda port: bytes(range(256)) * 8 + b"\n\n",
    "not agi lines": lambda port: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "one megabyte line": lambda port: b"agi_callerid: " + b"9" * 1_000_000 + b"\n\n",
    "too many lines": lambda port: b"agi_x: 1\n" * 500 + b"\n",
    "too many arguments": lambda port: (
        "\n".join(environment(port)) + "\nagi_arg_99: x\n\n"
    ).encode(),
    "no request line": lambda port: b"agi_callerid: 123\n\n",
    "missing blank line": lambda port: "\n".join(environment(port)).encode() + b"\n",
    "nothing at all": lambda port: b"",
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_environment_gets_a_closed_connection(agi: RunningAgi, name: str) -> None:
    async with raw_connection(agi.port) as (reader, writer):
        with contextlib.suppress(ConnectionError):
            writer.write(HOSTILE[name](agi.port))
            await writer.drain()
        answer = await read_until_closed(reader)
    assert b"SET VARIABLE" not in answer
    await still_serving(agi)
    await agi.written()
    async with agi.database.sessions() as session:
        calls, _ = await find_calls(session, CallFilter())
    assert len(calls) == 1  # only the follow-up call


async def test_unknown_script_gets_a_verbose_message_and_no_verdict(agi: RunningAgi) -> None:
    for script in ("reboot", "../../etc/passwd", "screen;reboot", "SCREEN%00"):
        result = await agi_call(agi.port, script)
        assert len(result.commands) == 1
        assert result.commands[0].startswith('VERBOSE "Screener: unknown script')
        assert result.closed_by_server
    await still_serving(agi)


async def test_client_disconnecting_midway_is_harmless(agi: RunningAgi) -> None:
    half = env_bytes(agi.port)[:200]
    async with raw_connection(agi.port) as (_reader, writer):
        writer.write(half)
        await writer.drain()
    # A client that vanishes after the environment, before answering SET VARIABLE.
    async with raw_connection(agi.port) as (reader, writer):
        writer.write(env_bytes(agi.port, callerid="+447911654321"))
        await writer.drain()
        first = await reader.readline()
        assert first.startswith(b"SET VARIABLE SCREENER_VERDICT")
    await still_serving(agi)
    await agi.written()
    async with agi.database.sessions() as session:
        abandoned, _ = await find_calls(session, CallFilter(number="+447911654321"))
    assert [c.outcome for c in abandoned] == ["abandoned"]


async def test_hangup_and_error_replies_stop_the_session(agi: RunningAgi) -> None:
    hung_up = await speak_agi(agi.port, env_bytes(agi.port), reply=b"HANGUP\n")
    assert len(hung_up.commands) == 1
    refused = await speak_agi(
        agi.port,
        env_bytes(agi.port),
        reply=(
            b"520-Invalid command syntax.  Proper usage follows:\n"
            b"Usage: ...\n"
            b"520 End of proper usage.\n"
        ),
    )
    assert len(refused.commands) == 1
    silent = await speak_agi(agi.port, env_bytes(agi.port), reply=b"")
    assert len(silent.commands) == 1
    await still_serving(agi)


@pytest.mark.parametrize(
    ("callerid", "name"),
    [
        ("'; DROP TABLE calls; --", "Robert'); DROP TABLE lists;--"),
        ("$(rm -rf /)", "`reboot` & | ; > /etc/passwd"),
        ('"\\ \t%s%n', "\u202e\u0000bidi\x1b[31m"),
        ("+44 20 7946 0" + "1" * 200, "x" * 600),
    ],
)
async def test_metacharacters_in_caller_id_are_just_data(
    agi: RunningAgi, callerid: str, name: str
) -> None:
    result = await agi_call(agi.port, callerid=callerid, calleridname=name)
    variables = result.variables
    assert variables["SCREENER_VERDICT"] == "challenge"
    await agi.written()
    async with agi.database.sessions() as session:
        call = await get_call(session, variables["SCREENER_CALL_ID"])
    assert call is not None
    assert call.caller_name.replace("\ufffd", "\x00")[:50] == name.split("\n")[0][:50]
    assert len(call.caller_number_raw) <= MAX_CALLER_TEXT
    assert not any("DROP" in v or "rm -rf" in v for v in variables.values())
    await still_serving(agi)


async def test_database_failure_fails_open_with_reason_error(tmp_path: Path) -> None:
    # A real SQLite file with no schema: every query fails.
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    )
    async with (
        open_database(settings.database, upgrade=False) as database,
        running_agi(settings, database) as agi,
    ):
        result = await agi_call(agi.port, callerid="+447911123456")
        assert result.variables["SCREENER_VERDICT"] == "allow"
        assert result.variables["SCREENER_REASONS"] == "error"
        assert len(result.variables["SCREENER_CALL_ID"]) == 32
        assert "SCREENER_DIGIT" not in result.variables
        outcome = await agi_call(
            agi.port, "outcome", args=(result.variables["SCREENER_CALL_ID"], "answered")
        )
        assert outcome.variables == {"SCREENER_OUTCOME": "error"}
        # A withheld caller needs no list lookup: still challenged, as over ARI, and the
        # record that cannot be written is counted (``/metrics``), never in the caller's way.
        withheld = await agi_call(agi.port, callerid="unknown")
        assert withheld.variables["SCREENER_VERDICT"] == "challenge"
        async with asyncio.timeout(10):
            while agi.service.recorder.stats.failed == 0:
                await asyncio.sleep(0.02)
        assert agi.events.queue.empty()
        assert agi.handler.active == 0


async def test_sessions_beyond_the_limit_are_turned_away(agi: RunningAgi) -> None:
    agi.handler.max_sessions = 2
    holders = [await asyncio.open_connection("127.0.0.1", agi.port) for _ in range(2)]
    try:
        async with asyncio.timeout(10):
            while agi.handler.active < 2:
                await asyncio.sleep(0.01)
        turned_away = await agi_call(agi.port)
        assert turned_away.commands == []
        assert agi.handler.rejected == 1
    finally:
        for _reader, writer in holders:
            writer.close()
    async with asyncio.timeout(10):
        while agi.handler.active:
            await asyncio.sleep(0.01)
    await still_serving(agi)
