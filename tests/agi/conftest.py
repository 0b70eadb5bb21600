"""A real FastAGI server on 127.0.0.1 over a real database, and a client that speaks AGI."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from screener import composition
from screener.agi.server import AgiServer
from screener.composition import Screener
from screener.db.lifecycle import Database
from screener.events import EventBus, Subscription
from screener.settings import AgiSettings, OfficeSettings, Settings, WebSettings
from tests.support.pgcluster import free_port

_SET = re.compile(r'^SET VARIABLE (?P<name>[A-Z_]+) "(?P<value>.*)"$')


@dataclass
class AgiTranscript:
    commands: list[str] = field(default_factory=list)
    closed_by_server: bool = False

    @property
    def variables(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for command in self.commands:
            match = _SET.match(command)
            if match:
                found[match["name"]] = match["value"]
        return found


def environment(
    port: int,
    script: str = "screen",
    *,
    callerid: str = "+441632960001",
    calleridname: str = "unknown",
    callingpres: str = "0",
    dnid: str = "01134960000",
    extension: str = "01134960000",
    channel: str = "PJSIP/carrier-0000002a",
    uniqueid: str = "1763800000.42",
    args: tuple[str, ...] = (),
) -> list[str]:
    """The environment a real Asterisk 22 sends for ``AGI(agi://127.0.0.1:PORT/SCRIPT,...)``."""
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:{port}/{script}",
        f"agi_channel: {channel}",
        "agi_language: en",
        "agi_type: PJSIP",
        f"agi_uniqueid: {uniqueid}",
        "agi_version: 22.6.0",
        f"agi_callerid: {callerid}",
        f"agi_calleridname: {calleridname}",
        f"agi_callingpres: {callingpres}",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {dnid}",
        "agi_rdnis: unknown",
        "agi_context: from-trunk-screener",
        f"agi_extension: {extension}",
        "agi_priority: 2",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140245934069440",
    ]
    lines += [f"agi_arg_{n}: {value}" for n, value in enumerate(args, start=1)]
    return lines


async def speak_agi(
    port: int, raw: bytes, reply: bytes = b"200 result=1\n", max_commands: int = 20
) -> AgiTranscript:
    """Send ``raw`` as the environment, answer every command with ``reply``, until closed."""
    transcript = AgiTranscript()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(30):  # guards against a hang; not a timing assertion
            for _ in range(max_commands):
                line = await reader.readline()
                if not line:
                    transcript.closed_by_server = True
                    break
                transcript.commands.append(line.decode().rstrip("\n"))
                writer.write(reply)
                await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        transcript.closed_by_server = True
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return transcript


async def agi_call(port: int, script: str = "screen", **kwargs: object) -> AgiTranscript:
    lines = environment(port, script, **kwargs)  # type: ignore[arg-type]
    return await speak_agi(port, ("\n".join(lines) + "\n\n").encode())


@dataclass
class RunningAgi:
    port: int
    handler: AgiServer
    database: Database
    settings: Settings
    bus: EventBus
    events: Subscription
    service: Screener

    async def written(self) -> None:
        """Until the recorder has written everything handed to it so far."""
        async with asyncio.timeout(10):
            await self.service.recorder.caught_up()


@contextlib.asynccontextmanager
async def running_agi(settings: Settings, database: Database) -> AsyncIterator[RunningAgi]:
    """The service as ``screener run`` builds it with only FastAGI on."""
    port = free_port()
    settings = settings.model_copy(
        update={
            "agi": AgiSettings(enabled=True, host="127.0.0.1", port=port),
            "office": OfficeSettings(site="hq"),
            "web": WebSettings(enabled=False),
        }
    )
    service = composition.build(settings, database)
    events = service.bus.subscribe(maxsize=10_000)
    await composition.start(service)
    assert service.agi is not None
    try:
        yield RunningAgi(port, service.agi, database, settings, service.bus, events, service)
    finally:
        await composition.stop(service)
        events.close()


@pytest.fixture
async def agi(settings: Settings, database: Database) -> AsyncIterator[RunningAgi]:
    async with running_agi(settings, database) as running:
        yield running
