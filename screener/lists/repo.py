"""Named number lists and their entries, in the database (the use cases are in ``service``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db.models import ListEntry, NumberList
from screener.domain.numbers import NumberAnalyser
from screener.domain.policy import DEFAULT_LIST_ACTIONS
from screener.domain.vocabulary import Action, ListKind


class ListError(ValueError):
    """A list operation that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class EntryInput:
    """A list entry as given by an admin, a CSV row or the API (not yet normalised)."""

    value: str
    label: str | None = None
    note: str | None = None
    source: str | None = None
    valid_from: datetime | None = None
    expires_at: datetime | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


async def create_list(
    session: AsyncSession,
    name: str,
    kind: ListKind,
    action: Action | None = None,
    description: str = "",
) -> NumberList:
    name = name.strip()
    if not name or len(name) > 100:
        raise ListError("a list name must be 1 to 100 characters")
    if await get_list(session, name) is not None:
        raise ListError(f"a list named {name!r} already exists")
    now = utcnow()
    number_list = NumberList(
        name=name,
        kind=kind.value,
        action=(action or DEFAULT_LIST_ACTIONS[kind]).value,
        description=description,
        created_at=now,
        updated_at=now,
    )
    session.add(number_list)
    await session.flush()
    return number_list


def touch(number_list: NumberList) -> None:
    """Mark the list changed (its entries or itself): other instances and caches see it."""
    number_list.updated_at = utcnow()


async def get_list(session: AsyncSession, name_or_id: str | int) -> NumberList | None:
    if isinstance(name_or_id, int):
        return await session.get(NumberList, name_or_id)
    return (
        await session.execute(select(NumberList).where(NumberList.name == name_or_id))
    ).scalar_one_or_none()


async def require_list(session: AsyncSession, name_or_id: str | int) -> NumberList:
    found = await get_list(session, name_or_id)
    if found is None:
        raise ListError(f"no list named {name_or_id!r}")
    return found


async def all_lists(session: AsyncSession) -> list[tuple[NumberList, int]]:
    """Every list with its entry count."""
    counts = (
        select(ListEntry.list_id, func.count().label("n")).group_by(ListEntry.list_id).subquery()
    )
    rows = await session.execute(
        select(NumberList, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.list_id == NumberList.id)
        .order_by(NumberList.name)
    )
    return [(row[0], int(row[1])) for row in rows]


async def update_list(
    session: AsyncSession,
    number_list: NumberList,
    *,
    name: str | None = None,
    action: Action | None = None,
    kind: ListKind | None = None,
    description: str | None = None,
) -> NumberList:
    if name is not None and name.strip() != number_list.name:
        name = name.strip()
        if not name or len(name) > 100:
            raise ListError("a list name must be 1 to 100 characters")
        if await get_list(session, name) is not None:
            raise ListError(f"a list named {name!r} already exists")
        number_list.name = name
    if action is not None:
        number_list.action = action.value
    if kind is not None:
        number_list.kind = kind.value
    if description is not None:
        number_list.description = description
    number_list.updated_at = utcnow()
    await session.flush()
    return number_list


async def delete_list(session: AsyncSession, number_list: NumberList) -> None:
    await session.execute(delete(ListEntry).where(ListEntry.list_id == number_list.id))
    await session.delete(number_list)
    await session.flush()


async def add_entry(
    session: AsyncSession,
    analyser: NumberAnalyser,
    number_list: NumberList,
    entry: EntryInput,
    added_by: str,
) -> tuple[ListEntry, bool]:
    """Add (or update) one entry. Returns ``(entry, created)``; raises InvalidEntry."""
    value, is_prefix = analyser.normalise_entry(entry.value)
    if entry.valid_from and entry.expires_at and entry.expires_at <= entry.valid_from:
        raise ListError("expires_at must be after valid_from")
    existing = (
        await session.execute(
            select(ListEntry).where(
                ListEntry.list_id == number_list.id,
                ListEntry.value == value,
                ListEntry.is_prefix == is_prefix,
            )
        )
    ).scalar_one_or_none()
    created = existing is None
    row = existing or ListEntry(
        list_id=number_list.id,
        value=value,
        is_prefix=is_prefix,
        created_at=utcnow(),
        added_by=added_by,
    )
    # Re-adding a number updates what was given and keeps the rest.
    for field_name in ("label", "note", "source", "valid_from", "expires_at"):
        given = getattr(entry, field_name)
        if created or given is not None:
            setattr(row, field_name, given)
    if created:
        session.add(row)
    touch(number_list)
    await session.flush()
    return row, created


async def remove_entry(
    session: AsyncSession, analyser: NumberAnalyser, number_list: NumberList, value: str
) -> bool:
    normalised, is_prefix = analyser.normalise_entry(value)
    result = await session.execute(
        delete(ListEntry).where(
            ListEntry.list_id == number_list.id,
            ListEntry.value == normalised,
            ListEntry.is_prefix == is_prefix,
        )
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        touch(number_list)
    await session.flush()
    return removed


async def entries_page(
    session: AsyncSession,
    number_list: NumberList,
    *,
    search: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> Sequence[ListEntry]:
    """Entries in insertion order, keyset-paginated; ``search`` matches value or label."""
    query = select(ListEntry).where(ListEntry.list_id == number_list.id, ListEntry.id > after_id)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        digits = "".join(ch for ch in search if ch.isdigit())
        conditions = [ListEntry.label.like(pattern, escape="\\")]
        if digits:
            conditions.append(ListEntry.value.like(f"%{digits}%"))
        from sqlalchemy import or_

        query = query.where(or_(*conditions))
    return (await session.execute(query.order_by(ListEntry.id).limit(limit))).scalars().all()
