"""The audit log: who changed what in lists, entries, policy and users, and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import AuditEntry


async def record(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor=actor[:100],
        action=action[:48],
        target=target[:200],
        detail=detail or {},
    )
    session.add(entry)
    await session.flush()
    return entry


def _escape_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(
    session: AsyncSession,
    *,
    text: str | None = None,
    actor: str | None = None,
    action: str | None = None,
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
        query = query.where(AuditEntry.action == action)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    query = query.order_by(AuditEntry.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()
