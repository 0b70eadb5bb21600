"""Writes call records and timelines in the background, and publishes call events.

Call handling never waits for the database: it queues operations here. One writer task
runs them in batches (one transaction per batch, falling back to one transaction per
operation when a batch fails), so a slow or broken database delays records, not callers.
Events (``call.started``, ``call.verdict``, ``call.outcome``) are published after the
write commits, with the payload builders shared with FastAGI and the web console.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screener import call_payloads
from screener.db import calls_repo
from screener.db.lists_repo import utcnow
from screener.db.models import Call, CallEvent
from screener.domain import CallFacts, Verdict
from screener.events import CALL_OUTCOME, CALL_STARTED, CALL_VERDICT, EventBus

log = logging.getLogger(__name__)

Published = list[tuple[str, dict[str, Any], str]]
Operation = Callable[[AsyncSession], Awaitable[Published]]

BATCH_SIZE = 100
BATCH_WINDOW_SECONDS = 0.05
"""After the first queued operation, wait this long for more to share its transaction."""


@dataclass
class RecorderStats:
    written: int = 0
    failed: int = 0
    queued: int = 0


class CallRecorder:
    """Background writer of call records; see the module docstring."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        site: str = "main",
        source: str = "ari",
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self.site = site
        self.source = source
        self._queue: asyncio.Queue[Operation | None] = asyncio.Queue()
        self.stats = RecorderStats()
        # Calls whose record is written (or written in the open transaction), so timeline
        # events need no lookup and events of calls that could not be recorded are skipped.
        self._known: set[str] = set()
        self._known_in_batch: set[str] = set()

    # What call handling queues ----------------------------------------------------------------

    def record_call(
        self,
        call_id: str,
        facts: CallFacts,
        verdict: Verdict,
        *,
        channel_id: str,
        started_at: datetime,
        decision_ms: float,
    ) -> None:
        async def op(session: AsyncSession) -> Published:
            call = await calls_repo.record_call(
                session,
                facts,
                verdict,
                call_id=call_id,
                site=self.site,
                source=self.source,
                channel_id=channel_id,
                started_at=started_at,
                decision_ms=decision_ms,
            )
            self._known_in_batch.add(call.id)
            return [
                (CALL_STARTED, call_payloads.started_payload(call), call.id),
                (CALL_VERDICT, call_payloads.verdict_payload(call), call.id),
            ]

        self._submit(op)

    def add_event(self, call_id: str, kind: str, detail: dict[str, Any] | None = None) -> None:
        """A timeline step, stamped now (when it happened, not when it is written).

        Unlike ``calls_repo.add_event`` this does not flush: the batch's events go to the
        database together, which is what keeps up with a hundred calls a second.
        """
        at = utcnow()

        async def op(session: AsyncSession) -> Published:
            if call_id in self._known or call_id in self._known_in_batch:
                session.add(CallEvent(call_id=call_id, at=at, kind=kind, detail=detail or {}))
            return []

        self._submit(op)

    def finish_call(self, call_id: str, **outcome: Any) -> None:
        async def op(session: AsyncSession) -> Published:
            self._known.discard(call_id)
            self._known_in_batch.discard(call_id)
            call = await calls_repo.finish_call(session, call_id, **outcome)
            if call is None or call.outcome != outcome.get("outcome"):
                return []
            return [(CALL_OUTCOME, call_payloads.outcome_payload(call), call.id)]

        self._submit(op)

    def note_lost_call(self, channel_id: str, detail: str) -> None:
        """A channel we lost track of was sent back to the dialplan: say so on its call."""

        async def op(session: AsyncSession) -> Published:
            call_id = (
                await session.execute(
                    select(Call.id)
                    .where(Call.channel_id == channel_id)
                    .order_by(Call.started_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if call_id is None:
                return []
            await calls_repo.add_event(session, call_id, "reconciled", {"detail": detail})
            call = await calls_repo.finish_call(
                session, call_id, outcome="fail-open", step="reconcile", detail=detail
            )
            if call is None or call.outcome_step != "reconcile":
                return []
            return [(CALL_OUTCOME, call_payloads.outcome_payload(call), call.id)]

        self._submit(op)

    def _submit(self, op: Operation) -> None:
        self.stats.queued += 1
        self._queue.put_nowait(op)

    # The writer -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._queue.qsize()

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

    async def _write(self, batch: list[Operation]) -> None:
        try:
            published = await self._run_in_transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                self._failed(exc)
                return
            published = []
            for op in batch:
                try:
                    published.extend(await self._run_in_transaction([op]))
                except Exception as single_exc:
                    self._failed(single_exc)
        for kind, payload, call_id in published:
            self._bus.publish(kind, payload, call_id)

    async def _run_in_transaction(self, ops: list[Operation]) -> Published:
        published: Published = []
        self._known_in_batch = set()
        async with self._sessions() as session, session.begin():
            for op in ops:
                published.extend(await op(session))
        self._known |= self._known_in_batch
        self._known_in_batch = set()
        self.stats.written += len(ops)
        return published

    def _failed(self, exc: BaseException) -> None:
        self.stats.failed += 1
        log.error("could not write a call record: %s", str(exc).splitlines()[0][:200])
