"""Writing an import into SQLite: staged, then applied in one transaction.

The stdlib ``sqlite3`` module on the database file; batches are bound as one JSON
parameter each (``json_each``) into a temporary table, then one ``INSERT ... SELECT ...
ORDER BY value ... ON CONFLICT DO NOTHING`` fills the unique index in order. Nothing
touches ``list_entries`` until the whole file has been read, so a file with a rejected
line changes nothing unless the caller asked to skip invalid lines.

Re-importing a file is idempotent: an entry already on the list is matched on ``(value,
is_prefix)``, and an UPDATE before the insert sets its label, note, source and dates to
the file's, for the columns the file has (a column it lacks is left alone). When a
number appears twice in one file, the last line wins. Measurements behind these choices
are in docs/performance.md.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from screener.lists.import_reader import (
    UPDATABLE,
    Entry,
    EntryReader,
    ImportOptions,
    ImportStats,
)

log = logging.getLogger(__name__)

SQLITE_CACHE_KIB = 32 * 1024
"""Page cache per SQLite database (main and temp) during an import: bounds the RSS."""


def sqlite_datetime(value: datetime | None) -> str | None:
    """The text SQLAlchemy stores for a UTC datetime on SQLite (naive, microseconds)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_SQLITE_STAGING = (
    "CREATE TEMP TABLE import_staging ("
    "value TEXT NOT NULL, is_prefix INTEGER NOT NULL, label TEXT, note TEXT, source TEXT, "
    "valid_from TEXT, expires_at TEXT)"
)
_SQLITE_STAGE_PLAIN = (
    "INSERT INTO temp.import_staging (value, is_prefix) "
    "SELECT j.value, :is_prefix FROM json_each(:data) AS j"
)
_SQLITE_STAGE_FULL = (
    "INSERT INTO temp.import_staging "
    "(value, is_prefix, label, note, source, valid_from, expires_at) "
    "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, "
    "j.value ->> 5, j.value ->> 6 FROM json_each(:data) AS j"
)
# Plain files: one sort key (SQLite's sorter is much faster on a single text key),
# and no "last line wins" to care about, since repeated lines are identical.
_SQLITE_INSERT_PLAIN = (
    "INSERT INTO list_entries (list_id, value, is_prefix, source, added_by, created_at) "
    "SELECT :list_id, value, is_prefix, :source, :added_by, :now "
    "FROM temp.import_staging WHERE true ORDER BY value "
    "ON CONFLICT (value, is_prefix, list_id) DO NOTHING"
)
# CSV: the last of repeated lines wins, so it must be the one inserted.
_SQLITE_INSERT_FULL = (
    "INSERT INTO list_entries "
    "(list_id, value, is_prefix, label, note, source, added_by, created_at, valid_from, "
    "expires_at) "
    "SELECT :list_id, value, is_prefix, label, note, source, :added_by, :now, valid_from, "
    "expires_at FROM temp.import_staging WHERE true ORDER BY value, rowid DESC "
    "ON CONFLICT (value, is_prefix, list_id) DO NOTHING"
)
_SQLITE_REPLACE = (
    "DELETE FROM list_entries WHERE list_id = :list_id AND NOT EXISTS ("
    "SELECT 1 FROM temp.import_staging AS s "
    "WHERE s.value = list_entries.value AND s.is_prefix = list_entries.is_prefix)"
)


def _sqlite_update(fields: frozenset[str], plain: bool) -> str | None:
    """UPDATE of existing entries for the columns the file gives (None: nothing to set).

    Column names come from the constant UPDATABLE, never from the file.
    """
    columns = [c for c in UPDATABLE if c in fields]
    if not columns:
        return None
    if plain:
        source = "(SELECT DISTINCT value, is_prefix, :source AS source FROM temp.import_staging)"
    else:
        names = ", ".join(columns)
        source = (
            f"(SELECT value, is_prefix, {names}, max(rowid) FROM temp.import_staging "  # noqa: S608
            "GROUP BY value, is_prefix)"
        )
    sets = ", ".join(f"{c} = s.{c}" for c in columns)
    changed = " OR ".join(f"e.{c} IS NOT s.{c}" for c in columns)
    return (
        f"UPDATE list_entries AS e SET {sets}, added_by = :added_by FROM {source} AS s "  # noqa: S608
        "WHERE e.list_id = :list_id AND e.value = s.value AND e.is_prefix = s.is_prefix "
        f"AND ({changed})"
    )


def _sqlite_row(entry: Entry) -> list[Any]:
    value, is_prefix, label, note, source, valid_from, expires_at = entry
    return [
        value,
        int(is_prefix),
        label,
        note,
        source,
        sqlite_datetime(valid_from),
        sqlite_datetime(expires_at),
    ]


WRITE_LOCK_TIMEOUT_SECONDS = 60.0
"""How long applying an import waits for another writer (a call record, a review) to finish."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """The import's audit record, written in the import's own transaction."""

    actor: str
    via: str
    address: str | None
    target_prefix: str
    detail: dict[str, Any]


def find_list(con: sqlite3.Connection, ref: int | str) -> tuple[int, str] | None:
    """A list's id and name, by id or name."""
    column = "id" if isinstance(ref, int) else "name"
    row = con.execute(f"SELECT id, name FROM lists WHERE {column} = ?", (ref,)).fetchone()  # noqa: S608
    return (int(row[0]), str(row[1])) if row else None


def import_sqlite(
    path: str,
    reader: EntryReader,
    options: ImportOptions,
    audit: AuditRow,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import into the SQLite file at ``path`` (schema at head); ``ListError``-free: the
    caller checks the list exists (``options.list_id``).

    The file is read and staged in a temporary table first, with no lock on the
    database. Applying it takes the write lock up front (``BEGIN IMMEDIATE``, waiting
    for other writers), so a call record or a review written meanwhile never makes the
    import fail, and the import's audit record commits with it.
    """
    started = time.perf_counter()
    stats = ImportStats()
    con = sqlite3.connect(path, isolation_level=None, timeout=WRITE_LOCK_TIMEOUT_SECONDS)
    try:
        journal = _sqlite_fast_journal(con)
        try:
            con.execute("PRAGMA synchronous=OFF")
            con.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            con.execute(f"PRAGMA temp.cache_size=-{SQLITE_CACHE_KIB}")
            con.execute("PRAGMA temp_store=FILE")
            con.execute("PRAGMA threads=2")
            con.execute("PRAGMA foreign_keys=ON")
            plain = _sqlite_stage(con, reader, stats, progress)
            con.execute("BEGIN IMMEDIATE")
            try:
                if stats.rejected == 0 or options.skip_invalid:
                    _sqlite_apply(con, reader, options, stats, plain)
                _sqlite_audit(con, audit, options, stats)
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            con.execute("DROP TABLE IF EXISTS temp.import_staging")
        finally:
            if journal == "delete":
                _back_to_wal(con)
    finally:
        con.close()
    stats.seconds = time.perf_counter() - started
    return stats


def _sqlite_audit(
    con: sqlite3.Connection, audit: AuditRow, options: ImportOptions, stats: ImportStats
) -> None:
    name = con.execute("SELECT name FROM lists WHERE id = ?", (options.list_id,)).fetchone()
    detail = {**audit.detail, **stats.as_detail()}
    con.execute(
        "INSERT INTO audit_log (at, actor, via, address, action, target, detail) "
        "VALUES (?, ?, ?, ?, 'list.import', ?, ?)",
        (
            sqlite_datetime(datetime.now(UTC)),
            audit.actor[:100],
            audit.via,
            audit.address,
            f"{audit.target_prefix}{name[0] if name else options.list_id}"[:200],
            json.dumps(detail),
        ),
    )


def _back_to_wal(con: sqlite3.Connection) -> None:
    try:
        con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:  # someone opened it meanwhile: they set WAL
        log.warning("could not switch the database back to WAL after the import: %s", exc)


def _sqlite_fast_journal(con: sqlite3.Connection) -> str:
    """A rollback journal for the import: cheaper than WAL for pages appended to the file,
    and still atomic. Switching needs the database to itself; otherwise WAL stays."""
    mode = str(con.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode != "wal":
        return "delete-kept"
    try:
        switched = str(con.execute("PRAGMA journal_mode=DELETE").fetchone()[0]).lower()
    except sqlite3.OperationalError:
        return "wal"
    return "delete" if switched == "delete" else "wal"


def _since(started: float) -> float:
    return time.perf_counter() - started


def _sqlite_stage(
    con: sqlite3.Connection,
    reader: EntryReader,
    stats: ImportStats,
    progress: Callable[[int], None] | None,
) -> bool:
    """Read the whole file into ``temp.import_staging``; True if it was plain text."""
    started = time.perf_counter()
    con.execute("DROP TABLE IF EXISTS temp.import_staging")
    con.execute(_SQLITE_STAGING)
    con.execute("BEGIN")  # writes to the temporary database only: no lock on the file
    plain = True
    for batch in reader.batches():
        if batch.plain:
            for values, is_prefix in ((batch.values, 0), (batch.prefixes, 1)):
                if values:
                    params = {"data": json.dumps(values), "is_prefix": is_prefix}
                    con.execute(_SQLITE_STAGE_PLAIN, params)
        else:
            plain = False
            payload = json.dumps([_sqlite_row(entry) for entry in batch.rows])
            con.execute(_SQLITE_STAGE_FULL, {"data": payload})
        if progress is not None:
            progress(reader.bytes_read)
    con.execute("COMMIT")
    stats.read, stats.accepted = reader.read, reader.accepted
    stats.rejected = reader.rejections.total
    log.debug(
        "staged %d entries (%d rejected) in %.1f s", stats.accepted, stats.rejected, _since(started)
    )
    return plain


def _sqlite_apply(
    con: sqlite3.Connection,
    reader: EntryReader,
    options: ImportOptions,
    stats: ImportStats,
    plain: bool,
) -> None:
    started = time.perf_counter()
    fixed = {"list_id": options.list_id, "added_by": options.added_by, "source": reader.source}
    existing = con.execute(
        "SELECT 1 FROM list_entries WHERE list_id = ? LIMIT 1", (options.list_id,)
    ).fetchone()
    update = _sqlite_update(reader.fields_given, plain) if existing is not None else None
    if options.replace and existing is not None:
        con.execute("CREATE INDEX temp.ix_import_staging ON import_staging (value, is_prefix)")
        stats.removed = con.execute(_SQLITE_REPLACE, {"list_id": options.list_id}).rowcount
    if update is not None:
        stats.updated = con.execute(update, fixed).rowcount
    now = sqlite_datetime(datetime.now(UTC))
    insert = _SQLITE_INSERT_PLAIN if plain else _SQLITE_INSERT_FULL
    stats.added = con.execute(insert, {**fixed, "now": now}).rowcount
    log.debug(
        "added %d, updated %d, removed %d by %.1f s",
        stats.added,
        stats.updated,
        stats.removed,
        _since(started),
    )
    if stats.added or stats.updated or stats.removed:
        con.execute("UPDATE lists SET updated_at = ? WHERE id = ?", (now, options.list_id))
    stats.applied = True
