"""One use case's transaction, with its audit record and its events.

The use cases of :mod:`screener.lists.service`, :mod:`screener.users.service`,
:mod:`screener.policy.service` and :mod:`screener.calls.service` each run in one
:class:`UnitOfWork`: the change, its audit record (who, from where) and the events it
emits commit together or not at all; the events go on the bus only after the commit.
The web pages, the JSON API and the CLI make the unit of work (with the actor of the
request) and call the use case; they never write to the database themselves::

    uow = UnitOfWork(database, Actor("alice", Via.WEB, "192.0.2.7"), bus)
    entry = await lists_service.add_entry(uow, analyser, list_id, EntryInput("0161 496 0000"))
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from screener.audit.log import audit_entry
from screener.db.lifecycle import Database
from screener.domain.events import Event
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction
from screener.events import EventBus

log = logging.getLogger(__name__)


class UnitOfWork:
    """Use as ``async with uow:``; the transaction commits when the block ends cleanly."""

    def __init__(self, database: Database, actor: Actor, bus: EventBus | None = None) -> None:
        self.database = database
        self.actor = actor
        self.bus = bus
        self.now = datetime.now(UTC)
        self._session: AsyncSession | None = None
        self._events: list[Event] = []
        self.audited: list[AuditAction] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use the unit of work inside 'async with'")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self.database.sessions()
        await self._session.begin()
        self.now = datetime.now(UTC)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if exc is None:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()
            self._session = None
        if exc is None and self.bus is not None:
            for event in self._events:
                self.bus.publish(event)
        self._events = []

    def audit(
        self, action: AuditAction, target: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        """The use case's audit record, in its transaction."""
        self.session.add(audit_entry(self.actor, action, target, detail, self.now))
        self.audited.append(action)

    def emit(self, event: Event) -> None:
        """An event to publish once the transaction has committed."""
        self._events.append(event)
