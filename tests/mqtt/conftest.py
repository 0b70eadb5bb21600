"""Fixtures: a fresh real Mosquitto broker per test, and a subscriber that records messages."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from tests.support.mosquitto import Mosquitto, TcpLink, find_mosquitto, make_tls_files


@pytest.fixture(scope="session")
def mosquitto_binary() -> Path:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto; ./scripts/test adds it)")
    return binary


@pytest.fixture
def mosquitto(mosquitto_binary: Path) -> Iterator[Mosquitto]:
    """An anonymous broker on a free 127.0.0.1 port, started."""
    broker = Mosquitto(mosquitto_binary)
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
def mosquitto_auth(mosquitto_binary: Path) -> Iterator[Mosquitto]:
    """A broker that only admits user ``screener`` with password ``s3cret&pass#1``."""
    broker = Mosquitto(mosquitto_binary, users={"screener": "s3cret&pass#1", "watcher": "w"})
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
def mosquitto_tls(mosquitto_binary: Path, tmp_path: Path) -> Iterator[Mosquitto]:
    """An anonymous broker that only speaks TLS, with a certificate from a throwaway CA."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    broker = Mosquitto(mosquitto_binary, tls=make_tls_files(tmp_path / "tls"))
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
def mosquitto_stopped(mosquitto_binary: Path) -> Iterator[Mosquitto]:
    """A broker configured on a free port but not running yet (call ``start()``)."""
    broker = Mosquitto(mosquitto_binary)
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
async def link_factory() -> AsyncIterator[list[TcpLink]]:
    links: list[TcpLink] = []
    yield links
    for link in links:
        await link.close()


@dataclass
class Recorder:
    """Messages seen by a subscriber, as (topic, payload, retain)."""

    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    async def wait_for(self, predicate: object, timeout: float = 15.0) -> None:
        """Wait until ``predicate()`` is true (a safety net against hangs, not a timing check)."""
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def subscriber(
    port: int,
    topic: str = "#",
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
) -> AsyncIterator[Recorder]:
    """Subscribe on the broker and record everything until the block ends."""
    recorder = Recorder()
    tls = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    async with aiomqtt.Client(
        "127.0.0.1", port, username=username, password=password, tls_context=tls
    ) as client:
        await client.subscribe(topic, qos=1)

        async def listen() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                recorder.messages.append((str(message.topic), payload, bool(message.retain)))
                recorder.arrived.set()

        task = asyncio.create_task(listen())
        try:
            yield recorder
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
