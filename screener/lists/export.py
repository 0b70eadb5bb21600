"""Export of a list's entries in the formats the importer reads, streaming.

CSV (default): a header ``number,label,note,source,valid_from,expires_at`` and one
row per entry, every cell written through :func:`~screener.csv_safety.safe_cell` so that
no label or note runs as a formula in a spreadsheet (the importer reads them back
unchanged). Text: one number a line. Prefix ranges end with ``*`` in both.
Entries come out in the order they were added, a page at a time (keyset on id),
so memory stays flat however long the list is.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screener.audit.log import audit_entry
from screener.csv_safety import safe_row
from screener.db.lifecycle import Database
from screener.db.models import ListEntry, NumberList
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction
from screener.lists.import_reader import CSV_COLUMNS
from screener.lists.repo import require_list

PAGE_ROWS = 10_000


class ExportFormat(StrEnum):
    CSV = "csv"
    TEXT = "text"


def date_text(value: datetime | None) -> str:
    """A date as the importer reads it: ``YYYY-MM-DD`` at midnight UTC, else full ISO."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.isoformat()


async def export_entries(
    session: AsyncSession,
    number_list: NumberList,
    out: IO[str],
    format: ExportFormat = ExportFormat.CSV,
    page_rows: int = PAGE_ROWS,
) -> int:
    """Write every entry of ``number_list`` to ``out``; returns how many."""
    writer = csv.writer(out, lineterminator="\n")
    if format is ExportFormat.CSV:
        writer.writerow(CSV_COLUMNS)
    else:
        out.write(
            f"# list {number_list.name}: {number_list.kind}, {number_list.action}; "
            f"exported {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        )
    query = select(
        ListEntry.id,
        ListEntry.value,
        ListEntry.is_prefix,
        ListEntry.label,
        ListEntry.note,
        ListEntry.source,
        ListEntry.valid_from,
        ListEntry.expires_at,
    ).where(ListEntry.list_id == number_list.id)
    written = 0
    after = 0
    while True:
        rows = (
            await session.execute(
                query.where(ListEntry.id > after).order_by(ListEntry.id).limit(page_rows)
            )
        ).all()
        if not rows:
            return written
        for _id, value, is_prefix, label, note, source, valid_from, expires_at in rows:
            number = value + "*" if is_prefix else value
            if format is ExportFormat.CSV:
                writer.writerow(
                    safe_row(
                        (
                            number,
                            label or "",
                            note or "",
                            source or "",
                            date_text(valid_from),
                            date_text(expires_at),
                        )
                    )
                )
            else:
                out.write(number + "\n")
        written += len(rows)
        after = rows[-1][0]


async def export_list(
    database: Database,
    actor: Actor,
    list_ref: int | str,
    out: IO[str],
    format: ExportFormat = ExportFormat.CSV,
) -> int:
    """The export use case: write the list to ``out`` and audit it (ListError if no list)."""
    async with database.sessions() as session:
        number_list = await require_list(session, list_ref)
        written = await export_entries(session, number_list, out, format)
        session.add(
            audit_entry(
                actor,
                AuditAction.LIST_EXPORT,
                number_list.name,
                {"format": format.value, "entries": written},
            )
        )
        await session.commit()
    return written
