"""The bulk import use case: read a file into a list, all or nothing, with one audit record.

The web console's upload and ``screener lists import`` both call :func:`import_entries`;
the reading is :mod:`screener.lists.import_reader`, the writing
:mod:`screener.lists.import_sqlite` or :mod:`screener.lists.import_postgres`. The
import's audit record (with what it added, updated, removed and rejected) commits in the
import's own transaction.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text as sql_text

from screener.audit.log import audit_entry
from screener.db.lifecycle import Database
from screener.db.sqlite_files import is_sqlite, sqlite_path
from screener.domain.events import ListChanged
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction
from screener.events import EventBus
from screener.lists.import_postgres import PG_ANALYZE_AFTER, import_postgres
from screener.lists.import_reader import EntryReader, ImportOptions, ImportStats
from screener.lists.import_sqlite import AuditRow, find_list, import_sqlite
from screener.lists.repo import ListError, require_list

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportResult:
    list_id: int
    list_name: str
    stats: ImportStats


async def import_entries(
    database: Database,
    actor: Actor,
    list_ref: int | str,
    reader: EntryReader,
    *,
    skip_invalid: bool = False,
    replace: bool = False,
    file_name: str | None = None,
    progress: Callable[[int], None] | None = None,
    bus: EventBus | None = None,
) -> ImportResult:
    """Import ``reader``'s entries into the list ``list_ref`` (id or name; ListError if none).

    Nothing changes unless every line is good or ``skip_invalid`` is set; either way the
    attempt is audited.
    """
    detail = {"file": (file_name or "")[:200]}
    if is_sqlite(database.url):
        result = await asyncio.to_thread(
            _import_sqlite,
            database,
            actor,
            list_ref,
            reader,
            skip_invalid,
            replace,
            detail,
            progress,
        )
    else:
        result = await _import_postgres(
            database, actor, list_ref, reader, skip_invalid, replace, detail, progress
        )
    if bus is not None and result.stats.applied:
        bus.publish(
            ListChanged(AuditAction.LIST_IMPORT, result.list_name, actor, datetime.now(UTC))
        )
    return result


def _import_sqlite(
    database: Database,
    actor: Actor,
    list_ref: int | str,
    reader: EntryReader,
    skip_invalid: bool,
    replace: bool,
    detail: Mapping[str, object],
    progress: Callable[[int], None] | None,
) -> ImportResult:
    path = sqlite_path(database.url)
    connection = sqlite3.connect(path, timeout=5)
    try:
        found = find_list(connection, list_ref)
    finally:
        connection.close()
    if found is None:
        raise ListError(f"no list named {list_ref!r}")
    list_id, list_name = found
    options = ImportOptions(list_id, actor.name[:100], skip_invalid, replace)
    audit = AuditRow(actor.name, actor.via.value, actor.address, "", dict(detail))
    stats = import_sqlite(path, reader, options, audit, progress)
    return ImportResult(list_id, list_name, stats)


async def _import_postgres(
    database: Database,
    actor: Actor,
    list_ref: int | str,
    reader: EntryReader,
    skip_invalid: bool,
    replace: bool,
    detail: Mapping[str, object],
    progress: Callable[[int], None] | None,
) -> ImportResult:
    async with database.sessions() as session:
        number_list = await require_list(session, list_ref)
        list_id, list_name = number_list.id, number_list.name
        await session.rollback()
        options = ImportOptions(list_id, actor.name[:100], skip_invalid, replace)
        stats = await import_postgres(session, reader, options, progress)
        session.add(
            audit_entry(actor, AuditAction.LIST_IMPORT, list_name, {**detail, **stats.as_detail()})
        )
        await session.commit()
        if stats.added + stats.removed >= PG_ANALYZE_AFTER:
            # Fresh statistics now, not whenever autovacuum gets to it: the planner's view
            # of the table decides how calls are looked up.
            await session.execute(sql_text("ANALYZE list_entries"))
            await session.commit()
    return ImportResult(list_id, list_name, stats)
