"""Reading list files for a bulk import: CSV or plain text, streaming, every bad line reported.

:class:`EntryReader` turns a byte stream into batches of normalised entries and a
:class:`RejectionLog`, in bounded memory whatever the file size. Writing is elsewhere
(:mod:`screener.lists.import_sqlite`, :mod:`screener.lists.import_postgres`), and
:mod:`screener.lists.importer` puts the two together.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any, TypeVar

from screener.csv_safety import safe_row, unescape_cell
from screener.domain.numbers import InvalidEntry, NumberAnalyser
from screener.report import printable

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
    """Every rejected line: counted, the first ``keep`` kept, all written to ``sink`` if given.

    The report is a CSV file (``line,value,reason``) people open in a spreadsheet, and the
    values are whatever the file held: every cell is written through
    :func:`~screener.csv_safety.safe_cell`, so none runs as a formula.
    """

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
            self._writer.writerow(safe_row((line, shown, reason)))


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

    def as_detail(self) -> dict[str, Any]:
        """What the import did, for its audit record."""
        return {
            "applied": self.applied,
            "read": self.read,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "rejected": self.rejected,
        }


@dataclass(frozen=True, slots=True)
class ImportOptions:
    list_id: int
    added_by: str = "cli"
    skip_invalid: bool = False
    replace: bool = False


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
            value = unescape_cell(fields[index].strip())
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
