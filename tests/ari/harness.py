"""Run the real service against the fake Asterisk, with a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from screener import composition
from screener.ari.connection import ConnectionState
from screener.calls.queries import get_call
from screener.composition import Screener
from screener.db.lifecycle import open_database
from screener.db.models import Call
from screener.demo.fake_asterisk import FakeAsterisk, FakeChannel
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import ListKind
from screener.events import Subscription
from screener.lists import repo as lists_repo
from screener.settings import Settings

PASSWORD = "p&ss#w:rd?x=1"  # characters that break credentials-in-URLs


def fast_settings(db_url: str, url: str = "", **overrides: Any) -> Settings:
    """Settings for tests: short prompts' timeouts, quick reconnects."""
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "ari": {
            "url": url,
            "username": "screener",
            "password": PASSWORD,
            "reconnect_initial_seconds": 0.05,
            "reconnect_max_seconds": 0.2,
            "max_call_seconds": 20,
            # The flows in these tests continue allowed calls here (a site's own dialplan).
            "continue_context": "internal",
            "continue_extension": "100",
        },
        "challenge": {"digit_timeout_seconds": 0.3},
        "logging": {"level": "DEBUG"},
        "web": {"enabled": False},
    }
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return Settings(**data)


@dataclass
class Running:
    pbx: FakeAsterisk
    ctx: Screener
    stop: asyncio.Event
    task: asyncio.Task[None]
    events: Subscription

    @property
    def ari(self) -> ConnectionState:
        assert self.ctx.ari is not None
        return self.ctx.ari.connection.state

    async def wait_client_connected(self, timeout: float = 10) -> None:
        """Until Screener's own side of the socket says connected."""
        async with asyncio.timeout(timeout):
            while not self.ari.connected:
                await asyncio.sleep(0.01)

    async def wait_connected(self, connects: int = 1, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not (self.pbx.app_connected and self.pbx.websocket_connects >= connects):
                await asyncio.sleep(0.01)

    async def finished(self, channel: FakeChannel, timeout: float = 10) -> FakeChannel:
        async with asyncio.timeout(timeout):
            await channel.done.wait()
        return channel

    async def call_record(self, channel: FakeChannel | str, timeout: float = 10) -> Call:
        """The call's row (with its timeline) once its outcome has been written."""
        channel_id = channel if isinstance(channel, str) else channel.id
        async with asyncio.timeout(timeout):
            while True:
                async with self.ctx.database.sessions() as session:
                    call_id = (
                        await session.execute(select(Call.id).where(Call.channel_id == channel_id))
                    ).scalar_one_or_none()
                    if call_id is not None:
                        call = await get_call(session, call_id)
                        if call is not None and call.outcome is not None:
                            return call
                await asyncio.sleep(0.02)

    async def wait_idle(self, timeout: float = 10) -> None:
        assert self.ctx.calls is not None
        async with asyncio.timeout(timeout):
            while self.ctx.calls.active_calls:
                await asyncio.sleep(0.01)


@asynccontextmanager
async def running_service(
    settings_for: Callable[[str], Settings],
    *,
    pbx: FakeAsterisk | None = None,
    digits: str = "7",
    seed: Callable[[Any], Any] | None = None,
) -> AsyncIterator[Running]:
    """Start a fake Asterisk (unless given) and the service; stop both afterwards."""
    own_pbx = pbx is None
    pbx = pbx or FakeAsterisk(password=PASSWORD, time_scale=0.02)
    if own_pbx:
        await pbx.start()
    settings = settings_for(pbx.url)
    if seed is not None:
        async with (
            open_database(settings.database, upgrade=True) as db,
            db.sessions() as session,
            session.begin(),
        ):
            await seed(session)
    stop = asyncio.Event()
    ready: asyncio.Future[Screener] = asyncio.get_running_loop().create_future()
    bus_box: list[Subscription] = []

    def started(ctx: Screener) -> None:
        bus_box.append(ctx.bus.subscribe(maxsize=10000))
        ready.set_result(ctx)

    task = asyncio.create_task(  # noqa: RUF006 - awaited in the finally below
        composition.run(
            settings,
            stop_event=stop,
            started=started,
            choose_digits=lambda n: tuple(digits for _ in range(n)),
            install_signal_handlers=False,
        )
    )
    try:
        async with asyncio.timeout(20):
            ctx = await asyncio.shield(ready)
        running = Running(pbx, ctx, stop, task, bus_box[0])
        await running.wait_connected()
        yield running
    finally:
        stop.set()
        try:
            async with asyncio.timeout(20):
                await task
        finally:
            if own_pbx:
                await pbx.stop()


async def add_list(session: Any, name: str, kind: ListKind, *numbers: str) -> None:
    """A list with ``numbers`` on it (inside the caller's transaction)."""
    created = await lists_repo.create_list(session, name, kind)
    analyser = NumberAnalyser("GB")
    for number in numbers:
        await lists_repo.add_entry(
            session, analyser, created, lists_repo.EntryInput(number), "test"
        )
