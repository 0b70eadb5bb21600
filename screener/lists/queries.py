"""List entry search that stays fast on lists of millions of entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import ListEntry
from screener.domain.numbers import InvalidEntry, NumberAnalyser

PAGE_SIZE = 50
LABEL_SCAN_WINDOW = 50_000
"""A label search looks at this many of a list's newest entries (a number search, all)."""


@dataclass(frozen=True, slots=True)
class EntrySearch:
    """How a search box value is used: a number prefix (indexed) or label text (scanned)."""

    prefix: str | None
    text: str | None

    @classmethod
    def parse(cls, analyser: NumberAnalyser, search: str) -> EntrySearch:
        search = search.strip()
        if not search:
            return cls(None, None)
        if any(ch.isdigit() for ch in search) and not any(ch.isalpha() for ch in search):
            try:
                prefix, _ = analyser.normalise_entry(search.rstrip("*").strip() + "*")
                return cls(prefix, None)
            except InvalidEntry:
                pass
        return cls(None, search[:200])


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def entries_page(
    session: AsyncSession,
    list_id: int,
    search: EntrySearch,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[Sequence[ListEntry], str | None]:
    """A page of entries and the ``after`` value of the next page (None at the end).

    A number search walks the ``(value, is_prefix, list_id)`` index from the prefix;
    otherwise entries come in insertion order by the ``(list_id, id)`` index.
    """
    query = select(ListEntry).where(ListEntry.list_id == list_id)
    if search.prefix is not None:
        query = query.where(ListEntry.value >= search.prefix, ListEntry.value < search.prefix + "~")
        if after:
            query = query.where(ListEntry.value > after)
        query = query.order_by(ListEntry.value)
    elif search.text:
        # Substring search has no index: bound it to the newest entries, newest first.
        floor = (
            select(ListEntry.id)
            .where(ListEntry.list_id == list_id)
            .order_by(ListEntry.id.desc())
            .offset(LABEL_SCAN_WINDOW)
            .limit(1)
            .scalar_subquery()
        )
        query = query.where(
            ListEntry.label.ilike(_like(search.text), escape="\\"),
            ListEntry.id > func.coalesce(floor, 0),
        )
        if after and after.isdigit():
            query = query.where(ListEntry.id < int(after))
        query = query.order_by(ListEntry.id.desc())
    else:
        if after and after.isdigit():
            query = query.where(ListEntry.id > int(after))
        query = query.order_by(ListEntry.id)
    rows = (await session.execute(query.limit(limit + 1))).scalars().all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (last.value if search.prefix is not None else str(last.id))
