"""Bulk import of list entries from CSV or plain-text files, streaming and all-or-nothing.

Reading is separate from writing: :class:`EntryReader` turns a byte stream into
batches of normalised entries and a :class:`RejectionLog`, in bounded memory
whatever the file size. The writers stage every batch in a temporary table and
only touch ``list_entries`` once the whole file has been read, so a file with a
rejected line changes nothing unless the caller asked to skip invalid lines.

* SQLite: the stdlib ``sqlite3`` module on the database file, batches bound as
  one JSON parameter each (``json_each``), then one ``INSERT ... SELECT ... ORDER
  BY value ... ON CONFLICT DO NOTHING`` so the unique index is filled in order.
* PostgreSQL: ``COPY`` (asyncpg) into a temporary table, then the same
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.

Re-importing a file is idempotent: an entry already on the list is matched on
``(value, is_prefix)``, and an UPDATE before the insert sets its label, note,
source and dates to the file's, for the columns the file has (the file is the
source of truth for its rows; a column it lacks is left alone). When a number
appears twice in one file, the last line wins. Measurements behind these choices
are in docs/performance.md.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any, TypeVar

from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from screener.db import lists_repo
from screener.db.engine import is_sqlite, sqlite_path
from screener.db.lifecycle import open_database
from screener.numbers import InvalidEntry, NumberAnalyser
from screener.report import printable
from screener.settings import DatabaseSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_LINE_BYTES = 16 * 1024
"""A longer line is rejected unread (its bytes are skipped in chunks)."""

MAX_RECORD_LINES = 20
"""A CSV record with a quoted field may span this many lines at most."""

BATCH_ROWS = 50_000
MAX_LABEL = 200
MAX_SOURCE = 200
MAX_NOTE = 2000
CSV_DELIMITERS = ",;\t"
CSV_COLUMNS = ("number", "label", "note", "source", "valid_from", "expires_at")
UPDATABLE = CSV_COLUMNS[1:]
"""Fields of an existing entry that a re-import sets, when the file gives them."""
BLOCK_BYTES = 1 << 20
"""Plain-text files are read in blocks of this size."""
SHOWN_VALUE = 80
"""Rejected values are clipped to this many characters and made printable."""

PG_WORK_MEM = "128MB"
"""PostgreSQL's sort memory for the import transaction (the server's memory, not ours)."""

PG_ANALYZE_AFTER = 10_000
"""A PostgreSQL import that adds or removes this many entries refreshes the statistics."""

SQLITE_CACHE_KIB = 32 * 1024
"""Page cache per SQLite database (main and temp) during an import: bounds the RSS."""


class ImportFormat(StrEnum):
    AUTO = "auto"
    CSV = "csv"
    TEXT = "text"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (e.g. a CSV without a ``number`` column)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    value: str
    reason: str


class RejectionLog:
    """Every rejected line: counted, the first ``keep`` kept, all written to ``sink`` if given."""

    def __init__(self, keep: int = 100, sink: IO[str] | None = None) -> None:
        self.keep = keep
        self.total = 0
        self.kept: list[Rejection] = []
        self._writer = csv.writer(sink) if sink is not None else None
        if self._writer is not None:
            self._writer.writerow(("line", "value", "reason"))

    def add(self, line: int, value: str, reason: str) -> None:
        self.total += 1
        shown = printable(value, SHOWN_VALUE)
        if len(self.kept) < self.keep:
            self.kept.append(Rejection(line, shown, reason))
        if self._writer is not None:
            self._writer.writerow((line, shown, reason))


Entry = tuple[str, bool, str | None, str | None, str | None, datetime | None, datetime | None]
"""``(value, is_prefix, label, note, source, valid_from, expires_at)``, normalised."""


@dataclass(slots=True)
class Batch:
    """Entries in file order, or for plain files numbers and prefixes (E.164) only."""

    plain: bool
    values: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    rows: list[Entry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values) + len(self.prefixes) + len(self.rows)

    def entries(self, source: str | None) -> Iterator[Entry]:
        yield from self.rows
        for value in self.values:
            yield (value, False, None, None, source, None, None)
        for value in self.prefixes:
            yield (value, True, None, None, source, None, None)


@dataclass
class ImportStats:
    read: int = 0
    accepted: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    rejected: int = 0
    applied: bool = False
    seconds: float = 0.0

    @property
    def unchanged(self) -> int:
        """Accepted lines that changed nothing (already on the list, or repeated in the file)."""
        return max(self.accepted - self.added - self.updated, 0)


def parse_date(text: str) -> datetime:
    """``YYYY-MM-DD`` or an ISO datetime; naive means UTC."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _skip_rest_of_line(readline: Callable[[int], bytes], chunk: bytes) -> int:
    skipped = 0
    while chunk and not chunk.endswith(b"\n"):
        chunk = readline(MAX_LINE_BYTES)
        skipped += len(chunk)
    return skipped


class EntryReader:
    """Reads a list file into batches of normalised entries; rejects bad lines.

    ``stream`` is a binary stream; ``format`` ``auto`` picks CSV when the first
    content line is a header naming a ``number`` column, and plain text (one
    number a line) when it holds no delimiter.
    """

    def __init__(
        self,
        stream: IO[bytes],
        analyser: NumberAnalyser,
        rejections: RejectionLog,
        format: ImportFormat = ImportFormat.AUTO,
        source: str | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._readline: Callable[[int], bytes] = stream.readline
        self._read: Callable[[int], bytes] = stream.read
        self._analyser = analyser
        self._normalise = analyser.normalise_entry
        self.rejections = rejections
        self.format = format
        self.source = source[:MAX_SOURCE] if source else None
        self.batch_rows = batch_rows
        self.accepted = 0
        self.bytes_read = 0
        self.lineno = 0
        self.ignored_columns: list[str] = []
        self.fields_given: frozenset[str] = frozenset({"source"} if self.source else ())

    @property
    def read(self) -> int:
        """Content lines read: every one is either accepted or rejected."""
        return self.accepted + self.rejections.total

    # -- lines -------------------------------------------------------------

    def _next_line(self) -> tuple[int, str | None, bytes] | None:
        """``(line number, text or None when rejected, raw bytes)``; None at the end."""
        raw = self._readline(MAX_LINE_BYTES)
        if not raw:
            return None
        self.lineno += 1
        self.bytes_read += len(raw)
        if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self.bytes_read += _skip_rest_of_line(self._readline, raw)
            self.rejections.add(
                self.lineno,
                raw[:SHOWN_VALUE].decode("utf-8", "replace"),
                f"line longer than {MAX_LINE_BYTES} bytes",
            )
            return self.lineno, None, raw
        try:
            text = raw.decode("utf-8-sig" if self.lineno == 1 else "utf-8")
        except UnicodeDecodeError:
            self.rejections.add(
                self.lineno, raw.decode("utf-8", "replace").strip(), "not valid UTF-8"
            )
            return self.lineno, None, raw
        return self.lineno, text, raw

    def _content_lines(self) -> Iterator[tuple[int, str]]:
        """Non-blank, non-comment lines without their line end; rejected lines count as read."""
        while True:
            item = self._next_line()
            if item is None:
                return
            lineno, text, _raw = item
            if text is None:
                continue
            stripped = text.strip()
            if stripped and not stripped.startswith("#"):
                yield lineno, text.rstrip("\r\n")

    # -- batches -----------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        lines = self._content_lines()
        first = next(lines, None)
        if first is None:
            return
        lineno, text = first
        delimiter, header = self._sniff(text)
        if self.format is ImportFormat.CSV or (
            self.format is ImportFormat.AUTO and header is not None
        ):
            if header is None or "number" not in header:
                raise ImportFileError(
                    f"line {lineno}: a CSV file needs a header row with a 'number' column "
                    f"(optional: {', '.join(CSV_COLUMNS[1:])})"
                )
            yield from self._csv_batches(lines, delimiter or ",", header)
            return
        if self.format is ImportFormat.AUTO and delimiter is not None:
            raise ImportFileError(
                f"line {lineno}: this looks like CSV ({delimiter!r}-separated) but has no "
                "header row with a 'number' column; add one, or use --format text"
            )
        yield from self._text_batches((lineno, text))

    @staticmethod
    def _sniff(text: str) -> tuple[str | None, list[str] | None]:
        counts = {d: text.count(d) for d in CSV_DELIMITERS}
        delimiter = max(counts, key=lambda d: counts[d])
        if counts[delimiter] == 0:
            return None, ["number"] if text.strip().lower() == "number" else None
        names = [name.strip().strip('"').strip().lower() for name in text.split(delimiter)]
        return delimiter, names if "number" in names else None

    def _text_batches(self, first: tuple[int, str]) -> Iterator[Batch]:
        """Plain text: whole lines are numbers. Reads in blocks; digit-only lines in the
        national format take :func:`digit_entry_path`, everything else ``normalise_entry``."""
        fast = digit_entry_path(self._analyser)
        normalise = self._normalise
        reject = self.rejections.add
        values: list[str] = []
        prefixes: list[str] = []
        append = values.append
        head: list[tuple[int, list[str | None]]] = [(first[0], [first[1]])]
        for lineno, lines in _chain(head, self._text_blocks()):
            for line in lines:
                if line is not None:
                    value = fast(line)
                    if value is not None:
                        append(value)
                    else:
                        text = line.strip()
                        if not text or text[0] == "#":
                            pass
                        elif "\x00" in text:
                            reject(lineno, text, "contains a NUL byte")
                        else:
                            try:
                                entry, is_prefix = normalise(text)
                            except InvalidEntry as exc:
                                reject(lineno, text, str(exc))
                            else:
                                (prefixes if is_prefix else values).append(entry)
                lineno += 1
            if len(values) + len(prefixes) >= self.batch_rows:
                yield self._plain(values, prefixes)
                values, prefixes = [], []
                append = values.append
        if values or prefixes:
            yield self._plain(values, prefixes)

    def _plain(self, values: list[str], prefixes: list[str]) -> Batch:
        self.accepted += len(values) + len(prefixes)
        return Batch(True, values, prefixes)

    def _text_blocks(self) -> Iterator[tuple[int, list[str | None]]]:
        """``(number of the first line, lines)`` for each block of complete lines.

        A line is None when it was rejected (not UTF-8, or longer than MAX_LINE_BYTES;
        an over-long line is skipped without keeping it in memory)."""
        tail = b""
        skipping = False
        while True:
            block = self._read(BLOCK_BYTES)
            if not block:
                break
            self.bytes_read += len(block)
            if skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    continue
                block = block[cut + 1 :]
                skipping = False
            data = tail + block if tail else block
            cut = data.rfind(b"\n")
            if cut < 0:
                tail = data
            else:
                tail = data[cut + 1 :]
                yield self._decode_block(data[:cut])
            if len(tail) > MAX_LINE_BYTES:
                self.lineno += 1
                self.rejections.add(
                    self.lineno,
                    tail[:SHOWN_VALUE].decode("utf-8", "replace"),
                    f"line longer than {MAX_LINE_BYTES} bytes",
                )
                yield self.lineno, [None]
                tail = b""
                skipping = True
        if tail:
            yield self._decode_block(tail)

    def _decode_block(self, data: bytes) -> tuple[int, list[str | None]]:
        start = self.lineno + 1
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            lines: list[str | None] = []
            for number, raw in enumerate(data.split(b"\n"), start):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self.rejections.add(
                        number, raw.decode("utf-8", "replace").strip(), "not valid UTF-8"
                    )
                    lines.append(None)
        else:
            if "\r" in text:
                text = text.replace("\r\n", "\n")
            lines = list(text.split("\n"))
        self.lineno += len(lines)
        return start, lines

    def _csv_batches(
        self, lines: Iterator[tuple[int, str]], delimiter: str, header: list[str]
    ) -> Iterator[Batch]:
        columns = {name: i for i, name in reversed(list(enumerate(header))) if name}
        self.ignored_columns = [name for name in columns if name not in CSV_COLUMNS]
        self.fields_given = frozenset(
            [name for name in columns if name in UPDATABLE] + (["source"] if self.source else [])
        )
        width = len(header)
        rows: list[Entry] = []
        for lineno, record, fields in self._csv_records(lines, delimiter):
            if fields is None:
                continue
            if len(fields) > width:
                self.rejections.add(
                    lineno, record, f"{len(fields)} columns, the header has {width}"
                )
                continue
            try:
                rows.append(self._csv_entry(fields, columns))
            except (InvalidEntry, ValueError) as exc:
                self.rejections.add(lineno, record, str(exc))
                continue
            if len(rows) >= self.batch_rows:
                self.accepted += len(rows)
                yield Batch(False, rows=rows)
                rows = []
        if rows:
            self.accepted += len(rows)
            yield Batch(False, rows=rows)

    def _csv_records(
        self, lines: Iterator[tuple[int, str]], delimiter: str
    ) -> Iterator[tuple[int, str, list[str] | None]]:
        """Parsed records; a quoted field with line breaks joins up to MAX_RECORD_LINES lines.

        ``fields`` is None for a record that was rejected as bad CSV.
        """
        for lineno, text in lines:
            record = text
            joined = 1
            while True:
                try:
                    fields = next(csv.reader((record,), delimiter=delimiter, strict=True))
                except csv.Error as exc:
                    item = None
                    if "end of data" in str(exc) and joined < MAX_RECORD_LINES:
                        item = self._next_line()
                    if item is not None and item[1] is not None:
                        record += "\n" + item[1].rstrip("\r\n")
                        joined += 1
                        continue
                    self.rejections.add(lineno, record, f"not valid CSV ({exc})")
                    yield lineno, record, None
                    break
                yield lineno, record, fields
                break

    def _csv_entry(self, fields: list[str], columns: dict[str, int]) -> Entry:
        def get(name: str) -> str | None:
            index = columns.get(name)
            if index is None or index >= len(fields):
                return None
            value = fields[index].strip()
            return value or None

        number = get("number")
        if number is None:
            raise InvalidEntry("no number")
        if any("\x00" in f for f in fields):
            raise InvalidEntry("contains a NUL byte")
        value, is_prefix = self._normalise(number)
        label, note, source = get("label"), get("note"), get("source") or self.source
        if label is not None and len(label) > MAX_LABEL:
            raise InvalidEntry(f"label longer than {MAX_LABEL} characters")
        if note is not None and len(note) > MAX_NOTE:
            raise InvalidEntry(f"note longer than {MAX_NOTE} characters")
        if source is not None and len(source) > MAX_SOURCE:
            raise InvalidEntry(f"source longer than {MAX_SOURCE} characters")
        valid_from = self._date(get("valid_from"), "valid_from")
        expires_at = self._date(get("expires_at"), "expires_at")
        if valid_from is not None and expires_at is not None and expires_at <= valid_from:
            raise InvalidEntry("expires_at must be after valid_from")
        return (value, is_prefix, label, note, source, valid_from, expires_at)

    @staticmethod
    def _date(text: str | None, column: str) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_date(text)
        except ValueError:
            raise InvalidEntry(
                f"{column}: {printable(text, 40)!r} is not a date (YYYY-MM-DD)"
            ) from None


def _chain(first: list[T], rest: Iterator[T]) -> Iterator[T]:
    yield from first
    yield from rest


def digit_entry_path(analyser: NumberAnalyser) -> Callable[[str], str | None]:
    """The E.164 form of an ASCII digit string in the national format, or None.

    This is ``NumberAnalyser.normalise_entry``'s own fast path (national prefix
    replaced by ``+`` and the country code, 7 to 15 digits), without a method call
    per line: it gives the same value for every line it accepts (tested), and
    returns None for everything else, which then goes through ``normalise_entry``.
    """
    national = analyser._national_prefix
    idd = analyser._idd_prefix
    home = analyser._home_plus
    if not national or not idd:
        return lambda line: None
    cut = len(national)
    low = 7 - (len(home) - 1) + cut
    high = 15 - (len(home) - 1) + cut

    def fast(line: str) -> str | None:
        if (
            low <= len(line) <= high
            and line.isdigit()
            and line.isascii()
            and line.startswith(national)
            and not line.startswith(idd)
        ):
            return home + line[cut:]
        return None

    return fast


# -- SQLite ------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class ImportOptions:
    list_id: int
    added_by: str = "cli"
    skip_invalid: bool = False
    replace: bool = False


def import_sqlite(
    path: str,
    reader: EntryReader,
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import into the SQLite file at ``path`` (schema already at head, list exists)."""
    started = time.perf_counter()
    stats = ImportStats()
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        journal = _sqlite_fast_journal(con)
        try:
            con.execute("PRAGMA synchronous=OFF")
            con.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            con.execute(f"PRAGMA temp.cache_size=-{SQLITE_CACHE_KIB}")
            con.execute("PRAGMA temp_store=FILE")
            con.execute("PRAGMA threads=2")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("BEGIN")
            try:
                _sqlite_apply(con, reader, options, stats, progress)
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT" if stats.applied else "ROLLBACK")
        finally:
            if journal == "delete":
                _back_to_wal(con)
    finally:
        con.close()
    stats.seconds = time.perf_counter() - started
    return stats


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


def _sqlite_apply(
    con: sqlite3.Connection,
    reader: EntryReader,
    options: ImportOptions,
    stats: ImportStats,
    progress: Callable[[int], None] | None,
) -> None:
    started = time.perf_counter()
    con.execute("DROP TABLE IF EXISTS temp.import_staging")
    con.execute(_SQLITE_STAGING)
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
    stats.read, stats.accepted = reader.read, reader.accepted
    stats.rejected = reader.rejections.total
    log.debug(
        "staged %d entries (%d rejected) in %.1f s", stats.accepted, stats.rejected, _since(started)
    )
    if stats.rejected and not options.skip_invalid:
        return
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
    con.execute("DROP TABLE temp.import_staging")
    stats.applied = True


# -- PostgreSQL ----------------------------------------------------------------

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


# -- orchestration ---------------------------------------------------------------


async def import_into_list(
    database: DatabaseSettings,
    list_name: str,
    reader: EntryReader,
    *,
    added_by: str = "cli",
    skip_invalid: bool = False,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Import ``reader``'s entries into the list named ``list_name`` (ListError if none)."""
    async with open_database(database) as db:
        async with db.sessions() as session:
            list_id = (await lists_repo.require_list(session, list_name)).id
        options = ImportOptions(list_id, added_by[:100], skip_invalid, replace)
        if not is_sqlite(db.url):
            async with db.sessions() as session:
                stats = await import_postgres(session, reader, options, progress)
                if stats.applied:
                    await session.commit()
                else:
                    await session.rollback()
                if stats.added + stats.removed >= PG_ANALYZE_AFTER:
                    # Fresh statistics now, not whenever autovacuum gets to it: the
                    # planner's view of the table decides how calls are looked up.
                    await session.execute(sql_text("ANALYZE list_entries"))
                    await session.commit()
                return stats
    # SQLite: the engine is closed, so the import has the file to itself if nothing
    # else has it open (and can use a rollback journal instead of WAL).
    return import_sqlite(sqlite_path(database.url), reader, options, progress)
