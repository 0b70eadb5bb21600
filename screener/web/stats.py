"""Call statistics over the last days, cached briefly so a page view never rescans."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import Call, CallReason, Screening
from screener.domain.vocabulary import Action, Delivery, Outcome, ScreenDecision, Verdict
from screener.web.context import WebContext

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
TOP = 10


@dataclass
class Stats:
    """Calls of the last ``days`` days: per day by decision, and by every kind of result."""

    days: int
    start: date
    per_day: dict[date, Counter[Action]] = field(default_factory=dict)
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    deliveries: Counter[Delivery] = field(default_factory=Counter)
    screened_deliveries: Counter[Delivery | None] = field(default_factory=Counter)
    """Calls challenged or screened and then put through, by what happened next (None:
    not known: not followed, or still ringing)."""
    in_progress: int = 0
    top_blocked: list[tuple[str, int]] = field(default_factory=list)
    top_flagged: list[tuple[str, int]] = field(default_factory=list)
    reasons: list[tuple[str, int]] = field(default_factory=list)
    screened: Counter[ScreenDecision] = field(default_factory=Counter)
    """Screened calls decided in the period, by decision."""
    median_wait_seconds: float | None = None
    """Median time a screened caller waited on hold for the decision."""
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.per_day.values())

    @property
    def screened_answered(self) -> int:
        return self.screened_deliveries[Delivery.ANSWERED]

    @property
    def screened_unanswered(self) -> int:
        return sum(
            n for d, n in self.screened_deliveries.items() if d not in (Delivery.ANSWERED, None)
        )

    @property
    def passed(self) -> int:
        return self.verdicts[Verdict.CHALLENGE_PASSED]

    @property
    def failed(self) -> int:
        return self.verdicts[Verdict.CHALLENGE_FAILED]

    @property
    def pass_rate(self) -> float | None:
        tried = self.passed + self.failed
        return self.passed / tried if tried else None


E = TypeVar("E", bound=StrEnum)


def _member(kind: type[E], value: object) -> E | None:
    try:
        return kind(str(value)) if value is not None else None
    except ValueError:
        return None


def _day_expr(dialect: str) -> str:
    return (
        "date(started_at)"
        if dialect == "sqlite"
        else "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    )


async def compute(session: AsyncSession, days: int, now: datetime | None = None) -> Stats:
    now = now or datetime.now(UTC)
    start = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(start, datetime.min.time(), UTC)
    stats = Stats(days=days, start=start)
    for offset in range(days):
        stats.per_day[start + timedelta(days=offset)] = Counter()
    dialect = session.get_bind().dialect.name
    since_bind = since.replace(tzinfo=None) if dialect == "sqlite" else since
    rows = await session.execute(
        text(
            f"SELECT {_day_expr(dialect)} AS day, action, verdict, outcome, delivery, "  # noqa: S608
            "count(*) FROM calls WHERE started_at >= :since GROUP BY 1, 2, 3, 4, 5"
        ),
        {"since": since_bind},
    )
    for day_text, action, verdict, outcome, delivery, count in rows:
        n = int(count)
        day = date.fromisoformat(str(day_text)[:10])
        if (decided := _member(Action, action)) is not None:
            stats.per_day.setdefault(day, Counter())[decided] += n
        if (result := _member(Verdict, verdict)) is not None:
            stats.verdicts[result] += n
        if (ended := _member(Outcome, outcome)) is not None:
            stats.outcomes[ended] += n
        elif outcome is None:
            stats.in_progress += n
        delivered = _member(Delivery, delivery)
        if delivered is not None:
            stats.deliveries[delivered] += n
        if ended is Outcome.CONNECTED and decided not in (Action.ALLOW, None):
            stats.screened_deliveries[delivered] += n
    # Grouping on an expression keeps SQLite on the (started_at, ...) index for the range
    # instead of walking the caller_number index over the whole table.
    number = func.coalesce(Call.caller_number, "")
    for condition, target in (
        (Call.action == Action.BLOCK.value, "top_blocked"),
        (Call.flagged, "top_flagged"),
    ):
        top = await session.execute(
            select(number, func.count())
            .where(Call.started_at >= since, condition)
            .group_by(number)
            .order_by(func.count().desc())
            .limit(TOP + 1)
        )
        setattr(stats, target, [(str(n), int(c)) for n, c in top if n][:TOP])
    reason_rows = await session.execute(
        select(CallReason.code, func.count())
        .where(CallReason.flagged.is_(True), CallReason.started_at >= since)
        .group_by(CallReason.code)
        .order_by(func.count().desc())
    )
    stats.reasons = [(str(code), int(count)) for code, count in reason_rows if code]
    screened_rows = await session.execute(
        select(Screening.decision, func.count())
        .where(Screening.decided_at >= since)
        .group_by(Screening.decision)
    )
    for decision, count in screened_rows:
        if (screened := _member(ScreenDecision, decision)) is not None:
            stats.screened[screened] += int(count)
    waits = await session.execute(
        select(Screening.waited_ms).where(
            Screening.decided_at >= since, Screening.waited_ms.is_not(None)
        )
    )
    waited = [int(ms) for (ms,) in waits if ms is not None]
    stats.median_wait_seconds = statistics.median(waited) / 1000 if waited else None
    return stats


async def cached_stats(ctx: WebContext, days: int) -> Stats:
    """At most a minute old; a stale figure is served while a fresh one is computed."""
    key = f"stats:{days}"
    hit = ctx.cache.get(key)
    if hit is None:
        return await _refresh(ctx, days)
    age = time.monotonic() - hit[0]
    if age >= CACHE_SECONDS and f"stats-task:{days}" not in ctx.cache:
        task = asyncio.create_task(_refresh_in_background(ctx, days))
        ctx.cache[f"stats-task:{days}"] = (time.monotonic(), task)
    cached: Stats = hit[1]
    return cached


async def _refresh_in_background(ctx: WebContext, days: int) -> None:
    try:
        await _refresh(ctx, days)
    except Exception:
        log.exception("cannot compute the statistics")


async def _refresh(ctx: WebContext, days: int) -> Stats:
    try:
        async with ctx.database.sessions() as session:
            stats = await compute(session, days)
        ctx.cache[f"stats:{days}"] = (time.monotonic(), stats)
        return stats
    finally:
        ctx.cache.pop(f"stats-task:{days}", None)
