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
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screener.calls import store
from screener.domain.events import CallDecided, CallDelivered, CallFinished, CallStarted, Event
from screener.domain.model import CallEnding, NumberInfo
from screener.domain.vocabulary import Outcome, ReportedEnding, Step, TimelineKind
from screener.events import EventBus

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_SIZE = 250
BATCH_WINDOW_SECONDS = 0.05
"""After the first queued operation, wait this long for more to share its transaction."""
BUSY_BATCH_WINDOW_SECONDS = 0.25
"""The same wait while calls keep the writer busy: a transaction costs about as much CPU as
the rows of several calls, so under load fewer, larger transactions let one process carry
more calls (docs/performance.md). Rows keep the times things happened; only their
visibility is later."""
BUSY_OPERATIONS = 8
"""A batch at least this large means the writer is busy (from about 40 calls a second)."""
LOCK_RETRY_SECONDS = 120.0
"""How long a batch is written again while the database stays locked, before its records
are given up (counted in ``failed``)."""
MAX_SHED = 200_000
"""Undecided calls (overload) kept for writing at most: about 300 bytes each."""
MAX_AWAITING_DELIVERY = 20_000
"""Calls put through whose delivery is expected, remembered at most (beyond: looked up)."""
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
    connected: set[str] = field(default_factory=set)
    """Calls this transaction finished as put through (their delivery may follow)."""
    delivered: set[str] = field(default_factory=set)
    shed: list[tuple[CallStarted, NumberInfo, CallFinished]] = field(default_factory=list)
    """Undecided calls taken from the buffer (put back first if the transaction fails)."""
    rows: store.RecordBatch = field(default_factory=store.RecordBatch)
    """The common writes, gathered to be written together (see :class:`RecordBatch`)."""

    async def session_for(self, session: AsyncSession) -> AsyncSession:
        """``session``, once the gathered rows are written (for a write through the ORM)."""
        await self.rows.flush(session)
        return session


Operation = Callable[[AsyncSession, _Attempt], Awaitable[Any]]


@dataclass
class _Pending:
    op: Operation
    done: asyncio.Future[Any] | None
    urgent: bool = False


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
        # Calls this recorder finished as put through and whose delivery is not written
        # yet, oldest first (what the call flow learns after the hand-back needs no lookup).
        self._awaiting: dict[str, None] = {}
        self._shed: deque[tuple[CallStarted, NumberInfo, CallFinished]] = deque()
        self._shed_queued = False
        # Operations someone waits for (a caller on hold, a test): while any is queued,
        # the writer does not linger for more.
        self._urgent = 0
        self._hurry = asyncio.Event()
        self._busy = False
        self._closing = False

    def _is_open(self, call_id: str, attempt: _Attempt) -> bool:
        """Whether the call's record is written (or in this transaction) and not finished."""
        return (call_id in self._known or call_id in attempt.added) and (
            call_id not in attempt.finished
        )

    def _awaits_delivery(self, call_id: str, attempt: _Attempt) -> bool:
        return (call_id in self._awaiting or call_id in attempt.connected) and (
            call_id not in attempt.delivered
        )

    @property
    def pending(self) -> int:
        """Operations waiting to be written."""
        return self._queue.qsize()

    # What the call path hands over -------------------------------------------------------

    def call_taken(self, started: CallStarted, decided: CallDecided) -> None:
        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            attempt.rows.add_call(started, decided)
            attempt.added.add(started.call_id)
            attempt.events.extend((started, decided))

        self._submit(op)

    def step(
        self, call_id: str, kind: TimelineKind, at: datetime, detail: dict[str, Any] | None = None
    ) -> None:
        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            if self._is_open(call_id, attempt):
                attempt.rows.add_step(call_id, kind, at, detail)

        self._submit(op)

    def finish(self, finished: CallFinished) -> asyncio.Future[bool]:
        """Record the ending; the future says whether it was applied (the first one is)."""

        async def op(session: AsyncSession, attempt: _Attempt) -> bool:
            if self._is_open(finished.call_id, attempt):
                # Written by this recorder and not finished: no need to read it first.
                attempt.rows.finish(finished)
                applied = True
            else:
                applied = await store.finish_call(await attempt.session_for(session), finished)
            attempt.finished.add(finished.call_id)
            if applied:
                attempt.events.append(finished)
                if finished.ending.outcome is Outcome.CONNECTED:
                    attempt.connected.add(finished.call_id)
            return applied

        return self._submit_waiting(op, urgent=False)  # the call flow does not wait for it

    def deliver(self, delivered: CallDelivered) -> None:
        """What became of a call after the hand-back (written once; see ``deliver_call``)."""

        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            if self._awaits_delivery(delivered.call_id, attempt):
                attempt.rows.deliver(delivered)
                applied = True
            else:
                applied = await store.deliver_call(await attempt.session_for(session), delivered)
            if applied:
                attempt.delivered.add(delivered.call_id)
                attempt.events.append(delivered)

        self._submit(op)

    def shed(self, started: CallStarted, number: NumberInfo, finished: CallFinished) -> None:
        """A call sent straight back undecided because Screener is overloaded.

        Kept in a compact buffer (not an operation each) and written in bulk by one queued
        operation, so an overload adds little to the writer's backlog. Beyond
        :data:`MAX_SHED` unwritten, the oldest is given up (counted in ``failed``).
        """
        self._shed.append((started, number, finished))
        if len(self._shed) > MAX_SHED:
            self._shed.popleft()
            self.stats.failed += 1
            self.stats.last_error = "too many calls sent back while the database was behind"
        if not self._shed_queued:
            self._shed_queued = True
            self._submit(self._write_shed)

    async def _write_shed(self, session: AsyncSession, attempt: _Attempt) -> None:
        self._shed_queued = False
        while self._shed:
            started, number, finished = self._shed.popleft()
            attempt.rows.add_shed(started, number, finished)
            attempt.events.extend((started, finished))
            attempt.shed.append((started, number, finished))

    async def caught_up(self) -> None:
        """Until everything handed over before this call is written (or given up)."""

        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            return None

        await self._submit_waiting(op)

    @property
    def records_behind(self) -> int:
        """Operations and undecided calls waiting to be written."""
        return self._queue.qsize() + len(self._shed)

    def step_after_hand_back(
        self, call_id: str, kind: TimelineKind, at: datetime, detail: dict[str, Any]
    ) -> None:
        """A timeline step of a call this recorder put through, before its delivery."""

        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            if self._awaits_delivery(call_id, attempt):
                attempt.rows.add_step(call_id, kind, at, detail)

        self._submit(op)

    def report(
        self, call_id: str, report: ReportedEnding, at: datetime
    ) -> asyncio.Future[store.ReportApplied]:
        """A dialplan's report on a call (FastAGI ``/outcome``)."""

        async def op(session: AsyncSession, attempt: _Attempt) -> store.ReportApplied:
            applied = await store.apply_report(
                await attempt.session_for(session), call_id, report, at
            )
            if applied.finished is not None:
                attempt.finished.add(call_id)
                attempt.events.append(applied.finished)
            if applied.delivered is not None:
                attempt.events.append(applied.delivered)
            return applied

        return self._submit_waiting(op)

    def lost_channel(self, channel_id: str, site: str, detail: str, at: datetime) -> None:
        """A channel we lost track of was sent back to the dialplan: say so on its call."""

        async def op(session: AsyncSession, attempt: _Attempt) -> None:
            session = await attempt.session_for(session)
            call_id = await store.latest_call_on_channel(session, channel_id)
            if call_id is None:
                return
            store.add_step(session, call_id, TimelineKind.RECONCILED, at, {"detail": detail})
            ending = CallEnding(Outcome.FAIL_OPEN, Step.RECONCILE, detail=detail)
            finished = CallFinished(call_id, site, ending, at)
            if await store.finish_call(session, finished):
                attempt.finished.add(call_id)
                attempt.events.append(finished)

        self._submit(op)

    def write(
        self, write: Callable[[AsyncSession], Awaitable[tuple[T, list[Event]]]]
    ) -> asyncio.Future[T]:
        """A write of another part of the call path (live screening), queued after the
        call's own records: ``write(session)`` returns its result and the events to publish
        once its transaction has committed."""

        async def op(session: AsyncSession, attempt: _Attempt) -> T:
            result, events = await write(await attempt.session_for(session))
            attempt.events.extend(events)
            return result

        return self._submit_waiting(op)

    def _submit(self, op: Operation) -> None:
        self._queue.put_nowait(_Pending(op, None))

    def _submit_waiting(self, op: Operation, *, urgent: bool = True) -> asyncio.Future[Any]:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)  # callers that do not wait must not get warnings
        self._queue.put_nowait(_Pending(op, done, urgent))
        if urgent:
            self._urgent += 1
            self._hurry.set()
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
            if self._busy or self._queue.empty():
                window = BUSY_BATCH_WINDOW_SECONDS if self._busy else BATCH_WINDOW_SECONDS
                await self._linger(window)
            while len(batch) < BATCH_SIZE and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    closing = True
                    break
                batch.append(item)
            self._urgent -= sum(1 for item in batch if item.urgent)
            self._busy = len(batch) >= BUSY_OPERATIONS
            await self._write(batch)
            if closing:
                return

    async def _linger(self, seconds: float) -> None:
        """Wait ``seconds`` for more operations, or until one that someone waits for comes."""
        if self._urgent or self._closing:
            return
        self._hurry.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._hurry.wait()

    async def close(self) -> None:
        """Stop after everything queued so far is written."""
        self._closing = True
        self._hurry.set()
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
        try:
            async with self._sessions() as session, session.begin():
                for item in items:
                    results.append(await item.op(session, attempt))
                await attempt.rows.flush(session)
        except BaseException:
            self._shed.extendleft(reversed(attempt.shed))  # written again by the retry
            raise
        self._known |= attempt.added
        self._known -= attempt.finished
        for call_id in attempt.connected:
            self._awaiting[call_id] = None
        for call_id in attempt.delivered:
            self._awaiting.pop(call_id, None)
        while len(self._awaiting) > MAX_AWAITING_DELIVERY:
            del self._awaiting[next(iter(self._awaiting))]
        self.stats.written += len(items)
        return results, attempt.events

    def _failed(self, item: _Pending, exc: BaseException) -> None:
        if item.op == self._write_shed:  # the undecided calls it would have written
            self.stats.failed += len(self._shed) - 1
            self._shed.clear()
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
