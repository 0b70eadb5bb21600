"""Writing and searching the audit log.

Every use case that changes something writes one record in its own transaction
(:class:`screener.application.unit_of_work.UnitOfWork` does it), and so do sign-ins,
failed ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import AuditEntry
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction

MAX_ACTOR = 100
MAX_TARGET = 200
MAX_ADDRESS = 64


def audit_entry(
    actor: Actor,
    action: AuditAction,
    target: str = "",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """An audit record (not yet added to a session)."""
    return AuditEntry(
        at=at or datetime.now(UTC),
        actor=actor.name[:MAX_ACTOR],
        via=actor.via.value,
        address=(actor.address or "")[:MAX_ADDRESS] or None,
        action=action.value,
        target=target[:MAX_TARGET],
        detail=detail or {},
    )


def _escape_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(
    session: AsyncSession,
    *,
    text: str | None = None,
    actor: str | None = None,
    action: AuditAction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[AuditEntry]:
    """Newest first; ``text`` matches actor, action or target."""
    query = select(AuditEntry)
    if text:
        pattern = _escape_like(text)
        query = query.where(
            or_(
                AuditEntry.actor.ilike(pattern, escape="\\"),
                AuditEntry.action.ilike(pattern, escape="\\"),
                AuditEntry.target.ilike(pattern, escape="\\"),
            )
        )
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action.value)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    query = query.order_by(AuditEntry.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()
