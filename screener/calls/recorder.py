"""Writes call records and timelines in the background, then publishes the call events.

Call handling never waits for the database: it hands events here. One writer task runs
them in batches (one transaction per batch, falling back to one transaction per
operation when a batch fails), so a slow or broken database delays records, not
callers. Every event carries the time it happened; it is published on the bus once its
write has committed, so a listener that reads the database finds the row.

When SQLite stays locked for longer than the connection's busy timeout (a bulk import
applying millions of rows holds the write lock for a while), the batch is written again
with a growing pause, in order, before anything queued after it, for up to
``LOCK_RETRY_SECONDS``; only then are its records given up and counted as failed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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

BATCH_SIZE = 100
BATCH_WINDOW_SECONDS = 0.05
"""After the first queued operation, wait this long for more to share its transaction."""
LOCK_RETRY_SECONDS = 120.0
"""How long a batch is written again while the database stays locked, before its records
are given up (counted in ``failed``)."""
LOCK_RETRY_FIRST_PAUSE = 0.05
LOCK_RETRY_MAX_PAUSE = 2.0


@dataclass
class RecorderStats:
    written: int = 0
    failed: int = 0
    retried: int = 0
    """Times a batch was written again because the database was locked."""
    last_error: str | None = None


@dataclass
class _Attempt:
    """What one try at a transaction did; it counts only once the transaction commits."""

    events: list[Event] = field(default_factory=list)
    added: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)


Operation = Callable[[AsyncSession, _Attempt], Awaitable[Any]]


@dataclass
class _Pending:
    op: Operation
    done: asyncio.Future[Any] | None


class CallRecorder:
    """Background writer of call records; see the module docstring."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        lock_retry_seconds: float = LOCK_RETRY_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self.stats = RecorderStats()
        self.lock_retry_seconds = lock_retry_seconds
        # Calls whose record is written and not yet finished, so timeline steps need no
        # lookup and steps of calls that could not be recorded are skipped.
        self._known: set[str] = set()

    def _is_open(self, call_id: str, attempt: _Attempt) -> bool:
        """Whether the call's record is written (or in this transaction) and not finished."""
        return (call_id in self._known or call_id in attempt.added) and (
            call_id not in attempt.finished
        )

    @property
    def pending(self) -> int:
        """Operations waiting to be written."""
        return self._queue.qsize()

    # What the call path hands over -------------------------------------------------------

    def call_taken(self, started: CallStarted, decided: CallDecided) -> None:
        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            store.add_call(session, started, decided)
            attempt.added.add(started.call_id)
            attempt.events.extend((started, decided))

        self._submit(op)

    def step(
        self, call_id: str, kind: TimelineKind, at: datetime, detail: dict[str, Any] | None = None
    ) -> None:
        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            if self._is_open(call_id, attempt):
                store.add_step(session, call_id, kind, at, detail)

        self._submit(op)

    def finish(self, finished: CallFinished) -> asyncio.Future[bool]:
        """Record the ending; the future says whether it was applied (the first one is)."""

        async def op(session: AsyncSession, attempt: _Attempt) -> bool:
            attempt.finished.add(finished.call_id)
            applied = await store.finish_call(session, finished)
            if applied:
                attempt.events.append(finished)
            return applied

        return self._submit_waiting(op)

    def report(
        self, call_id: str, report: ReportedEnding, at: datetime
    ) -> asyncio.Future[store.ReportApplied]:
        """A dialplan's report on a call (FastAGI ``/outcome``)."""

        async def op(session: AsyncSession, attempt: _Attempt) -> store.ReportApplied:
            applied = await store.apply_report(session, call_id, report, at)
            if applied.finished is not None:
                attempt.events.append(applied.finished)
            if applied.delivered is not None:
                attempt.events.append(applied.delivered)
            return applied

        return self._submit_waiting(op)

    def lost_channel(self, channel_id: str, site: str, detail: str, at: datetime) -> None:
        """A channel we lost track of was sent back to the dialplan: say so on its call."""

        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            call_id = await store.latest_call_on_channel(session, channel_id)
            if call_id is None:
                return
            store.add_step(session, call_id, TimelineKind.RECONCILED, at, {"detail": detail})
            ending = CallEnding(Outcome.FAIL_OPEN, Step.RECONCILE, detail=detail)
            finished = CallFinished(call_id, site, ending, at)
            if await store.finish_call(session, finished):
                attempt.events.append(finished)

        self._submit(op)

    def write(
        self, write: Callable[[AsyncSession], Awaitable[tuple[T, list[Event]]]]
    ) -> asyncio.Future[T]:
        """A write of another part of the call path (live screening), queued after the
        call's own records: ``write(session)`` returns its result and the events to publish
        once its transaction has committed."""

        async def op(session: AsyncSession, attempt: _Attempt) -> T:
            result, events = await write(session)
            attempt.events.extend(events)
            return result

        return self._submit_waiting(op)

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
        deadline = time.monotonic() + self.lock_retry_seconds
        try:
            results, published = await self._run_retrying(batch, deadline)
        except Exception as exc:
            if len(batch) == 1 or is_locked(exc):
                # Locked for the whole retry time: one at a time would only wait longer.
                for item in batch:
                    self._failed(item, exc)
                return
            results = []
            published = []
            for item in batch:
                try:
                    result, events = await self._run_retrying([item], deadline)
                except Exception as single_exc:
                    self._failed(item, single_exc)
                    results.append(_FAILED)
                else:
                    results.extend(result)
                    published.extend(events)
        for item, result in zip(batch, results, strict=True):
            if item.done is not None and result is not _FAILED and not item.done.done():
                item.done.set_result(result)
        for event in published:
            self._bus.publish(event)

    async def _run_retrying(
        self, items: list[_Pending], deadline: float
    ) -> tuple[list[Any], list[Event]]:
        """One transaction for ``items``, tried again while the database is locked.

        The writer task waits here, so nothing queued later is written first.
        """
        pause = LOCK_RETRY_FIRST_PAUSE
        while True:
            try:
                return await self._run_in_transaction(items)
            except Exception as exc:
                if not is_locked(exc) or time.monotonic() + pause > deadline:
                    raise
                self.stats.retried += 1
                log.log(
                    logging.WARNING if pause == LOCK_RETRY_FIRST_PAUSE else logging.DEBUG,
                    "database locked, writing %d call record operation(s) again: %s",
                    len(items),
                    _first_line(exc),
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, LOCK_RETRY_MAX_PAUSE)

    async def _run_in_transaction(self, items: list[_Pending]) -> tuple[list[Any], list[Event]]:
        results: list[Any] = []
        attempt = _Attempt()
        async with self._sessions() as session, session.begin():
            for item in items:
                results.append(await item.op(session, attempt))
        self._known |= attempt.added
        self._known -= attempt.finished
        self.stats.written += len(items)
        return results, attempt.events

    def _failed(self, item: _Pending, exc: BaseException) -> None:
        self.stats.failed += 1
        message = _first_line(exc)
        self.stats.last_error = message
        log.error("could not write a call record: %s", message)
        if item.done is not None and not item.done.done():
            item.done.set_exception(exc)


_FAILED = object()

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (``SQLITE_BUSY``, after the busy
    timeout) or "database table is locked" (``SQLITE_LOCKED``): worth trying again."""
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(orig)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
