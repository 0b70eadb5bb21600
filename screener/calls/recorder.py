"""Writes call records and timelines in the background, then publishes the call events.

Call handling never waits for the database: it hands events here. One writer task runs
them in batches (one transaction per batch, falling back to one transaction per
operation when a batch fails), so a slow or broken database delays records, not
callers. Every event carries the time it happened; it is published on the bus once its
write has committed, so a listener that reads the database finds the row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screener.calls import store
from screener.domain.events import CallDecided, CallFinished, CallStarted, Event
from screener.domain.model import CallEnding
from screener.domain.vocabulary import Outcome, ReportedEnding, Step, TimelineKind
from screener.events import EventBus

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[AsyncSession, list[Event]], Awaitable[Any]]

BATCH_SIZE = 100
BATCH_WINDOW_SECONDS = 0.05
"""After the first queued operation, wait this long for more to share its transaction."""


@dataclass
class RecorderStats:
    written: int = 0
    failed: int = 0
    last_error: str | None = None


@dataclass
class _Pending:
    op: Operation
    done: asyncio.Future[Any] | None


class CallRecorder:
    """Background writer of call records; see the module docstring."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self._sessions = sessions
        self._bus = bus
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self.stats = RecorderStats()
        # Calls whose record is written (or written in the open transaction), so timeline
        # steps need no lookup and steps of calls that could not be recorded are skipped.
        self._known: set[str] = set()
        self._known_in_batch: set[str] = set()

    @property
    def pending(self) -> int:
        """Operations waiting to be written."""
        return self._queue.qsize()

    # What the call path hands over -------------------------------------------------------

    def call_taken(self, started: CallStarted, decided: CallDecided) -> None:
        async def op(session: AsyncSession, out: list[Event]) -> None:
            store.add_call(session, started, decided)
            self._known_in_batch.add(started.call_id)
            out.extend((started, decided))

        self._submit(op)

    def step(
        self, call_id: str, kind: TimelineKind, at: datetime, detail: dict[str, Any] | None = None
    ) -> None:
        async def op(session: AsyncSession, out: list[Event]) -> None:
            if call_id in self._known or call_id in self._known_in_batch:
                store.add_step(session, call_id, kind, at, detail)

        self._submit(op)

    def finish(self, finished: CallFinished) -> asyncio.Future[bool]:
        """Record the ending; the future says whether it was applied (the first one is)."""

        async def op(session: AsyncSession, out: list[Event]) -> bool:
            self._known.discard(finished.call_id)
            self._known_in_batch.discard(finished.call_id)
            applied = await store.finish_call(session, finished)
            if applied:
                out.append(finished)
            return applied

        return self._submit_waiting(op)

    def report(
        self, call_id: str, report: ReportedEnding, at: datetime
    ) -> asyncio.Future[store.ReportApplied]:
        """A dialplan's report on a call (FastAGI ``/outcome``)."""

        async def op(session: AsyncSession, out: list[Event]) -> store.ReportApplied:
            applied = await store.apply_report(session, call_id, report, at)
            if applied.finished is not None:
                out.append(applied.finished)
            if applied.delivered is not None:
                out.append(applied.delivered)
            return applied

        return self._submit_waiting(op)

    def lost_channel(self, channel_id: str, site: str, detail: str, at: datetime) -> None:
        """A channel we lost track of was sent back to the dialplan: say so on its call."""

        async def op(session: AsyncSession, out: list[Event]) -> None:
            call_id = await store.latest_call_on_channel(session, channel_id)
            if call_id is None:
                return
            store.add_step(session, call_id, TimelineKind.RECONCILED, at, {"detail": detail})
            ending = CallEnding(Outcome.FAIL_OPEN, Step.RECONCILE, detail=detail)
            finished = CallFinished(call_id, site, ending, at)
            if await store.finish_call(session, finished):
                out.append(finished)

        self._submit(op)

    def _submit(self, op: Operation) -> None:
        self._queue.put_nowait(_Pending(op, None))

    def _submit_waiting(self, op: Operation) -> asyncio.Future[Any]:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)  # callers that do not wait must not get warnings
        self._queue.put_nowait(_Pending(op, done))
        return done

    # The writer ------------------------------------------------------------------------

    async def run(self) -> None:
        """Write until :meth:`close` has been called and the queue is empty."""
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            closing = False
            if self._queue.empty():
                await asyncio.sleep(BATCH_WINDOW_SECONDS)
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    closing = True
                    break
                batch.append(item)
            await self._write(batch)
            if closing:
                return

    async def close(self) -> None:
        """Stop after everything queued so far is written."""
        self._queue.put_nowait(None)

    async def _write(self, batch: list[_Pending]) -> None:
        published: list[Event] = []
        try:
            results = await self._run_in_transaction(batch, published)
        except Exception as exc:
            if len(batch) == 1:
                self._failed(batch[0], exc)
                return
            results = []
            published = []
            for item in batch:
                try:
                    results.extend(await self._run_in_transaction([item], published))
                except Exception as single_exc:
                    self._failed(item, single_exc)
                    results.append(_FAILED)
        for item, result in zip(batch, results, strict=True):
            if item.done is not None and result is not _FAILED and not item.done.done():
                item.done.set_result(result)
        for event in published:
            self._bus.publish(event)

    async def _run_in_transaction(self, items: list[_Pending], published: list[Event]) -> list[Any]:
        results: list[Any] = []
        events: list[Event] = []
        self._known_in_batch = set()
        async with self._sessions() as session, session.begin():
            for item in items:
                results.append(await item.op(session, events))
        self._known |= self._known_in_batch
        self._known_in_batch = set()
        self.stats.written += len(items)
        published.extend(events)
        return results

    def _failed(self, item: _Pending, exc: BaseException) -> None:
        self.stats.failed += 1
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        self.stats.last_error = message
        log.error("could not write a call record: %s", message)
        if item.done is not None and not item.done.done():
            item.done.set_exception(exc)


_FAILED = object()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
