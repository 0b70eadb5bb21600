"""Writing an import into PostgreSQL: ``COPY`` into a staging table, then applied.

Inside the caller's transaction: ``COPY`` (asyncpg) into a temporary table, then
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, with the same idempotent re-import
rules as on SQLite (:mod:`screener.lists.import_sqlite`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from screener.lists.import_reader import UPDATABLE, EntryReader, ImportOptions, ImportStats

PG_WORK_MEM = "128MB"
"""PostgreSQL's sort memory for the import transaction (the server's memory, not ours)."""

PG_ANALYZE_AFTER = 10_000
"""A PostgreSQL import that adds or removes this many entries refreshes the statistics."""


_PG_STAGING = (
    "CREATE TEMP TABLE import_staging ("
    "seq bigint NOT NULL, value varchar(20) NOT NULL, is_prefix boolean NOT NULL, "
    "label varchar(200), note text, source varchar(200), valid_from timestamptz, "
    "expires_at timestamptz) ON COMMIT DROP"
)
_PG_COLUMNS = (
    "seq",
    "value",
    "is_prefix",
    "label",
    "note",
    "source",
    "valid_from",
    "expires_at",
)
_PG_LATEST = (
    "SELECT DISTINCT ON (value, is_prefix) value, is_prefix, label, note, source, "
    "valid_from, expires_at FROM import_staging ORDER BY value, is_prefix, seq DESC"
)
# New entries: in number order, so the unique index fills in order; a number repeated in
# the file is inserted once (its last line: see _PG_LATEST; plain files repeat identical
# lines, so they need no DISTINCT ON and its sort by sequence).
_PG_INSERT = (
    "INSERT INTO list_entries (list_id, value, is_prefix, label, note, source, added_by, "
    "created_at, valid_from, expires_at) "
    "SELECT $1, value, is_prefix, label, note, source, $2, $3, valid_from, expires_at "
    "FROM ({rows}) AS s ON CONFLICT (value, is_prefix, list_id) DO NOTHING"
)
_PG_PLAIN_ROWS = "SELECT * FROM import_staging ORDER BY value"


def _pg_update(fields: frozenset[str]) -> str | None:
    """UPDATE of existing entries for the columns the file gives (None: nothing to set).

    Column names come from the constant UPDATABLE, never from the file.
    """
    columns = [c for c in UPDATABLE if c in fields]
    if not columns:
        return None
    sets = ", ".join(f"{c} = s.{c}" for c in columns)
    changed = " OR ".join(f"e.{c} IS DISTINCT FROM s.{c}" for c in columns)
    return (
        f"UPDATE list_entries AS e SET {sets}, added_by = $2 FROM ({_PG_LATEST}) AS s "  # noqa: S608
        "WHERE e.list_id = $1 AND e.value = s.value AND e.is_prefix = s.is_prefix "
        f"AND ({changed})"
    )


def _status_count(status: str) -> int:
    """The row count at the end of a command tag (``INSERT 0 12``, ``UPDATE 3``)."""
    return int(status.rsplit(" ", 1)[-1])


_PG_REPLACE = (
    "DELETE FROM list_entries AS e WHERE e.list_id = $1 AND NOT EXISTS ("
    "SELECT 1 FROM import_staging AS s WHERE s.value = e.value AND s.is_prefix = e.is_prefix)"
)


async def import_postgres(
    session: AsyncSession,
    reader: EntryReader,
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import inside ``session``'s transaction; the caller commits when ``stats.applied``."""
    started = time.perf_counter()
    stats = ImportStats()
    # Through SQLAlchemy first: that opens the session's transaction, which the raw
    # asyncpg connection then works inside (the staging table is dropped at commit).
    await session.execute(sql_text(_PG_STAGING))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    pg: Any = raw.driver_connection
    # Sorting millions of staged rows in memory rather than in temporary files.
    await pg.execute(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
    seq = 0
    plain = True
    for batch in reader.batches():
        plain = plain and batch.plain
        records = []
        for entry in batch.entries(reader.source):
            seq += 1
            records.append((seq, *entry))
        await pg.copy_records_to_table("import_staging", records=records, columns=_PG_COLUMNS)
        if progress is not None:
            progress(reader.bytes_read)
    stats.read, stats.accepted = reader.read, reader.accepted
    stats.rejected = reader.rejections.total
    if stats.rejected and not options.skip_invalid:
        stats.seconds = time.perf_counter() - started
        return stats
    if options.replace:
        await pg.execute("CREATE INDEX ON import_staging (value, is_prefix)")
        await pg.execute("ANALYZE import_staging")
        stats.removed = _status_count(await pg.execute(_PG_REPLACE, options.list_id))
    now = datetime.now(UTC)
    existing = await pg.fetchval(
        "SELECT 1 FROM list_entries WHERE list_id = $1 LIMIT 1", options.list_id
    )
    update = _pg_update(reader.fields_given) if existing else None
    if update is not None:
        stats.updated = _status_count(await pg.execute(update, options.list_id, options.added_by))
    rows = _PG_PLAIN_ROWS if plain else _PG_LATEST
    insert = _PG_INSERT.format(rows=rows)
    status = await pg.execute(insert, options.list_id, options.added_by, now)
    stats.added = _status_count(status)
    if stats.added or stats.updated or stats.removed:
        await pg.execute("UPDATE lists SET updated_at = $1 WHERE id = $2", now, options.list_id)
    stats.applied = True
    stats.seconds = time.perf_counter() - started
    return stats
