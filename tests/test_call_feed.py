"""Several Screener processes on one PostgreSQL see each other's calls (the live board)."""

from __future__ import annotations

import asyncio

import pytest

from screener import composition
from screener.calls.feed import MAX_PAYLOAD, payloads
from screener.db.lifecycle import open_database
from screener.domain.events import CallChangedElsewhere
from screener.domain.model import CallFacts
from screener.domain.vocabulary import CallSource
from screener.settings import DatabaseSettings, Settings


def test_notifications_stay_under_the_size_limit() -> None:
    changes = [(f"{n:032x}", "call.started") for n in range(1000)]
    sent = payloads("o" * 32, changes)
    assert all(len(p) <= MAX_PAYLOAD for p in sent) and len(sent) > 1
    import json

    assert [tuple(c) for p in sent for c in json.loads(p)["c"]] == changes


@pytest.mark.postgres
async def test_a_call_taken_by_one_process_reaches_the_other_processes_bus(pg_url: str) -> None:
    settings = Settings(database=DatabaseSettings(url=pg_url), web={"enabled": False})
    async with (
        open_database(settings.database) as first_db,
        open_database(settings.database) as second_db,
    ):
        first = composition.build(settings, first_db)
        second = composition.build(settings, second_db)
        assert first.feed is not None and second.feed is not None
        heard = second.bus.subscribe(kinds={CallChangedElsewhere})
        mine = first.bus.subscribe(kinds={CallChangedElsewhere})
        await composition.start(first)
        await composition.start(second)
        try:
            async with asyncio.timeout(10):
                while not (first.feed.connected and second.feed.connected):
                    await asyncio.sleep(0.02)
            taken = await first.desk.take(
                CallFacts("anonymous"), source=CallSource.AGI, channel_id="1.1"
            )
            changes: list[str] = []
            async with asyncio.timeout(10):
                while len(changes) < 2:
                    event = await heard.get()
                    assert isinstance(event, CallChangedElsewhere)
                    assert event.call_id == taken.call_id
                    changes.append(event.change)
        finally:
            await composition.stop(second)
            await composition.stop(first)
    assert changes == ["call.started", "call.verdict"]
    assert mine.queue.empty()  # a process does not hear its own calls back
