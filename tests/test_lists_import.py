"""Bulk import: parsing and rejection of hostile files, and the writes on both backends."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from screener.db.lifecycle import Database, open_database
from screener.db.models import ListEntry
from screener.domain.model import Actor
from screener.domain.numbers import InvalidEntry, NumberAnalyser
from screener.domain.vocabulary import ListKind
from screener.lists import repo as lists_repo
from screener.lists.import_reader import (
    MAX_LINE_BYTES,
    EntryReader,
    ImportFileError,
    ImportFormat,
    ImportStats,
    RejectionLog,
    digit_entry_path,
)
from screener.lists.importer import import_entries
from screener.lists.matching import list_matches
from screener.lists.queries import EntrySearch, entries_page
from screener.settings import Settings

GB = NumberAnalyser("GB")


def read(
    data: bytes, format: ImportFormat = ImportFormat.AUTO, source: str | None = None
) -> tuple[list[tuple[object, ...]], EntryReader]:
    reader = EntryReader(io.BytesIO(data), GB, RejectionLog(), format, source, batch_rows=3)
    entries = [entry for batch in reader.batches() for entry in batch.entries(reader.source)]
    return entries, reader


def values(entries: list[tuple[object, ...]]) -> list[tuple[object, object]]:
    return sorted((e[0], e[1]) for e in entries)


def reasons(reader: EntryReader) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in reader.rejections.kept]


# -- plain text ----------------------------------------------------------------


def test_text_numbers_comments_blank_lines_and_prefixes() -> None:
    data = (
        b"# TPS extract\n\n020 7946 0018\n+44 161 496 0000\r\n0044 113 496 0999\n"
        b"01632960001\n   \n0161 496*\n# the end\n"
    )
    entries, reader = read(data)
    assert values(entries) == [
        ("+441134960999", False),
        ("+44161496", True),
        ("+441614960000", False),
        ("+441632960001", False),
        ("+442079460018", False),
    ]
    assert reader.read == 5 + 0 and reader.rejections.total == 0
    assert reader.accepted == 5


def test_text_bad_lines_are_rejected_with_line_numbers() -> None:
    data = b"020 7946 0018\nnot a number\n012\n07700900123\n"
    entries, reader = read(data)
    assert values(entries) == [("+442079460018", False), ("+447700900123", False)]
    assert [line for line, _ in reasons(reader)] == [2, 3]
    assert reader.read == 4


def test_utf8_bom_is_tolerated() -> None:
    entries, _ = read("\ufeff020 7946 0018\n07700900123\n".encode())
    assert len(entries) == 2
    entries, reader = read("\ufeffnumber,label\n020 7946 0018,Acme\n".encode())
    assert entries[0][:3] == ("+442079460018", False, "Acme")
    assert reader.rejections.total == 0


def test_bad_bytes_reject_the_line_not_the_file() -> None:
    data = b"020 7946 0018\n07700\xff\xfe900123\n\xc3(\n07700900124\n"
    entries, reader = read(data)
    assert values(entries) == [("+442079460018", False), ("+447700900124", False)]
    assert reasons(reader) == [(2, "not valid UTF-8"), (3, "not valid UTF-8")]
    assert all(r.value.isprintable() for r in reader.rejections.kept)


def test_nul_bytes_are_rejected() -> None:
    data = b"020 7946\x00 0018\n07700900123\n\x00\x00\x00\n"
    entries, reader = read(data)
    assert values(entries) == [("+447700900123", False)]
    assert reasons(reader) == [(1, "contains a NUL byte"), (3, "contains a NUL byte")]
    assert "\x00" not in reader.rejections.kept[0].value


def test_ten_megabyte_line_is_rejected_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    with path.open("wb") as f:
        f.write(b"020 7946 0018\n")
        f.write(b"7" * (10 * 1024 * 1024) + b"\n")
        f.write(b"07700900123\n")
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            reader = EntryReader(stream, GB, RejectionLog())
            entries = [e for b in reader.batches() for e in b.entries(None)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert values(entries) == [("+442079460018", False), ("+447700900123", False)]
    assert reasons(reader) == [(2, f"line longer than {MAX_LINE_BYTES} bytes")]
    assert len(reader.rejections.kept[0].value) <= 80
    assert peak < 5 * 1024 * 1024, f"peak {peak} bytes while reading a 10 MB line"


def test_ten_megabyte_line_without_newline_at_end_of_csv() -> None:
    data = b"number,label\n020 7946 0018,ok\n" + b"0," + b"x" * (10 * 1024 * 1024)
    entries, reader = read(data)
    assert values(entries) == [("+442079460018", False)]
    assert reasons(reader) == [(3, f"line longer than {MAX_LINE_BYTES} bytes")]


def test_empty_file_and_comment_only_file() -> None:
    for data in (b"", b"\n\n", b"# nothing here\n"):
        entries, reader = read(data)
        assert entries == [] and reader.read == 0 and reader.rejections.total == 0


def test_forced_text_format_rejects_csv_lines() -> None:
    entries, reader = read(b"01632960001,Acme\n", ImportFormat.TEXT)
    assert entries == [] or entries[0][0] == "+441632960001"
    assert reader.read == 1


def test_delimited_file_without_header_is_refused() -> None:
    with pytest.raises(ImportFileError, match="no header row"):
        read(b"01632960001,Acme\n01632960002,Other\n")


def test_csv_without_number_column_is_refused() -> None:
    with pytest.raises(ImportFileError, match="'number' column"):
        read(b"phone,label\n01632960001,Acme\n", ImportFormat.CSV)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_digit_path_matches_normalise_entry(line: str) -> None:
    fast = digit_entry_path(GB)(line)
    if fast is None:
        return
    assert (fast, False) == GB.normalise_entry(line)


def test_digit_path_takes_national_numbers_only() -> None:
    fast = digit_entry_path(GB)
    assert fast("07700900123") == "+447700900123"
    assert fast("00447700900123") is None  # international prefix: normalise_entry
    assert fast("7700900123") is None
    assert fast("0770090012\r") is None
    assert fast("\u0660\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0661\u0662\u0663") is None


@given(st.text(alphabet="0123456789 +-()#;xX*e,tT:@", min_size=1, max_size=20))
def test_digit_path_never_takes_what_normalise_entry_refuses(line: str) -> None:
    fast = digit_entry_path(GB)(line)
    if fast is None:
        return
    assert (fast, False) == GB.normalise_entry(line)


def test_numbers_with_anything_after_them_are_rejected_in_both_formats() -> None:
    junk = [
        "0207 946 0018; DROP TABLE",
        "020 7946 0018 ext 5",
        "+44 20 7946 0018 x12",
        "07700900123abc",
    ]
    text = ("\n".join(["020 7946 0019", *junk]) + "\n").encode()
    entries, reader = read(text)
    assert values(entries) == [("+442079460019", False)]
    got = reasons(reader)
    assert [line for line, _ in got] == [2, 3, 4, 5]
    assert got[0][1] == "not a phone number: unexpected text after the number ('; DROP TABLE')"
    assert got[1][1].startswith("extensions are not part of a caller ID ('ext 5')")
    assert got[2][1].startswith("extensions are not part of a caller ID ('x12')")
    csv_data = ("number,label\n" + "".join(f'"{j}",x\n' for j in junk)).encode()
    entries, reader = read(csv_data)
    assert entries == [] and reader.rejections.total == len(junk)


# -- CSV -----------------------------------------------------------------------


def test_csv_columns_in_any_order_with_sniffed_delimiters() -> None:
    for delimiter in (",", ";", "\t"):
        header = delimiter.join(["label", "Number", "expires_at", "valid_from", "source"])
        row = delimiter.join(["Acme; Ltd" if delimiter != ";" else "Acme", "020 7946 0018"])
        row += delimiter + delimiter.join(["2027-01-01", "2026-01-01T09:30", ""])
        entries, reader = read(f"{header}\n{row}\n".encode())
        assert reader.rejections.total == 0, reader.rejections.kept
        value, is_prefix, label, note, source, valid_from, expires_at = entries[0]
        assert (value, is_prefix, note, source) == ("+442079460018", False, None, None)
        assert label in ("Acme; Ltd", "Acme")
        assert valid_from == datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
        assert expires_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_csv_mixed_good_and_bad_rows() -> None:
    data = (
        "number,label,note,source,valid_from,expires_at\n"
        "020 7946 0018,Good one,,,,\n"
        "12,Too short,,,,\n"
        "07700900123,Bad date,,,2026-13-45,\n"
        "07700900124,Backwards,,,2027-01-01,2026-01-01\n"
        "07700900125,Too,many,columns,,,,extra\n"
        ",no number,,,,\n"
        f"07700900127,{'x' * 201},,,,\n"
        "0161 496*,Prefix range,a note,tps,,2030-01-01\n"
        '07700900126,"unclosed quote runs to the end of the file\n'
        "07700900128,swallowed by the open quote\n"
    ).encode()
    entries, reader = read(data)
    assert values(entries) == [("+44161496", True), ("+442079460018", False)]
    got = reasons(reader)
    assert [line for line, _ in got] == [3, 4, 5, 6, 7, 8, 10]
    assert "digits" in got[0][1]
    assert got[1][1].startswith("valid_from: '2026-13-45' is not a date")
    assert got[2][1] == "expires_at must be after valid_from"
    assert got[3][1] == "8 columns, the header has 6"
    assert got[4][1] == "no number"
    assert got[5][1] == "label longer than 200 characters"
    assert got[6][1].startswith("not valid CSV")
    prefix = next(e for e in entries if e[1])
    assert prefix[2:5] == ("Prefix range", "a note", "tps")


def test_csv_quoted_field_across_lines_and_quotes_inside() -> None:
    data = b'number,label\n020 7946 0018,"line one\nline two, ""quoted"""\n07700900123,O"Brien\n'
    entries, reader = read(data)
    assert reader.rejections.total == 0
    labels = {e[0]: e[2] for e in entries}
    assert labels == {"+442079460018": 'line one\nline two, "quoted"', "+447700900123": 'O"Brien'}


def test_csv_unknown_columns_are_ignored_and_named() -> None:
    entries, reader = read(b"number,colour\n020 7946 0018,blue\n")
    assert len(entries) == 1 and reader.ignored_columns == ["colour"]


def test_source_option_fills_rows_without_a_source() -> None:
    entries, _ = read(b"number,source\n020 7946 0018,\n07700900123,ofcom\n", source="tps")
    assert {e[0]: e[4] for e in entries} == {"+442079460018": "tps", "+447700900123": "ofcom"}
    entries, _ = read(b"020 7946 0018\n", source="tps")
    assert entries[0][4] == "tps"


def test_rejection_log_keeps_some_counts_all_and_writes_all() -> None:
    sink = io.StringIO()
    log = RejectionLog(keep=2, sink=sink)
    reader = EntryReader(io.BytesIO(b"bad\n" * 5 + b"\x1b[31mred\n"), GB, log)
    assert list(reader.batches()) == []
    assert log.total == 6 and len(log.kept) == 2
    lines = sink.getvalue().splitlines()
    assert lines[0] == "line,value,reason" and len(lines) == 7
    assert "\x1b" not in sink.getvalue()


def test_rejection_report_cells_never_start_a_formula() -> None:
    sink = io.StringIO()
    log = RejectionLog(sink=sink)
    hostile = [
        '=HYPERLINK("http://example.com","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\t=1+1",
    ]
    data = "number,label\n" + "".join(f"{value.strip()},label\n" for value in hostile)
    reader = EntryReader(io.BytesIO(data.encode()), GB, log)
    assert list(reader.batches()) == []
    rows = list(csv.reader(io.StringIO(sink.getvalue())))
    assert rows[0] == ["line", "value", "reason"] and len(rows) == 1 + len(hostile)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert rows[1][1] == '\'=HYPERLINK("http://example.com","x"),label'


# -- database writes (SQLite and PostgreSQL) ---------------------------------------


async def make_list(database: Database, name: str = "tps") -> int:
    async with database.sessions.begin() as session:
        created = await lists_repo.create_list(session, name, ListKind.REGISTRY)
        return created.id


async def run_import(
    settings: Settings,
    data: bytes,
    name: str = "tps",
    *,
    skip_invalid: bool = False,
    replace: bool = False,
    source: str | None = None,
) -> tuple[ImportStats, RejectionLog]:
    log = RejectionLog()
    reader = EntryReader(io.BytesIO(data), GB, log, source=source, batch_rows=2)
    async with open_database(settings.database, upgrade=False) as database:
        result = await import_entries(
            database, Actor.cli(), name, reader, skip_invalid=skip_invalid, replace=replace
        )
    return result.stats, log


async def entries(database: Database, list_id: int) -> list[tuple[object, ...]]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(
                ListEntry.value,
                ListEntry.is_prefix,
                ListEntry.label,
                ListEntry.note,
                ListEntry.source,
                ListEntry.valid_from,
                ListEntry.expires_at,
            )
            .where(ListEntry.list_id == list_id)
            .order_by(ListEntry.value)
        )
        return [tuple(row) for row in rows]


async def test_import_text_then_lookup(database: Database, settings: Settings) -> None:
    list_id = await make_list(database)
    data = b"020 7946 0018\n0161 496*\n07700900123\n07700900123\n+447700900124\n"
    stats, _ = await run_import(settings, data, source="tps")
    assert (stats.read, stats.added, stats.updated, stats.unchanged) == (5, 4, 0, 1)
    assert stats.applied
    rows = await entries(database, list_id)
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("+44161496", True, "tps"),
        ("+442079460018", False, "tps"),
        ("+447700900123", False, "tps"),
        ("+447700900124", False, "tps"),
    ]
    async with database.sessions() as session:
        exact = await list_matches(session, "+447700900123")
        prefix = await list_matches(session, "+441614960555")
        page, _ = await entries_page(session, list_id, EntrySearch(None, None))
    assert [(m.list_name, m.value) for m in exact] == [("tps", "+447700900123")]
    assert [(m.value, m.is_prefix) for m in prefix] == [("+44161496", True)]
    assert all(entry.created_at is not None and entry.added_by == "cli" for entry in page)


async def test_one_bad_line_imports_nothing(database: Database, settings: Settings) -> None:
    list_id = await make_list(database)
    stats, log = await run_import(settings, b"020 7946 0018\nrubbish\n07700900123\n")
    assert not stats.applied and (stats.read, stats.rejected, stats.added) == (3, 1, 0)
    assert [(r.line, r.value) for r in log.kept] == [(2, "rubbish")]
    assert await entries(database, list_id) == []


async def test_skip_invalid_imports_the_good_lines(database: Database, settings: Settings) -> None:
    list_id = await make_list(database)
    data = b"number,label\n020 7946 0018,ok\nrubbish,bad\n07700900123,\x00\n07700900124,fine\n"
    stats, log = await run_import(settings, data, skip_invalid=True)
    assert stats.applied and (stats.read, stats.added, stats.rejected) == (4, 2, 2)
    assert [r.line for r in log.kept] == [3, 4]
    assert [r[0] for r in await entries(database, list_id)] == ["+442079460018", "+447700900124"]


async def test_only_bad_lines(database: Database, settings: Settings) -> None:
    list_id = await make_list(database)
    stats, log = await run_import(settings, b"x\ny\nz\n", skip_invalid=True)
    assert stats.applied and stats.added == 0 and log.total == 3
    stats, _ = await run_import(settings, b"x\ny\nz\n")
    assert not stats.applied
    assert await entries(database, list_id) == []


async def test_sql_metacharacters_are_stored_verbatim(
    database: Database, settings: Settings
) -> None:
    list_id = await make_list(database)
    evil = "Robert'); DROP TABLE list_entries;--"
    data = (
        f'number,label,note,source\n020 7946 0018,"{evil}","%_\\ ""quoted"" ; -- /* */",\'\n'
    ).encode()
    stats, log = await run_import(settings, data)
    assert stats.applied, log.kept
    rows = await entries(database, list_id)
    assert rows[0][2:5] == (evil, '%_\\ "quoted" ; -- /* */', "'")
    async with database.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(ListEntry))
        await session.execute(text("SELECT 1 FROM lists"))
    assert count == 1


async def test_reimport_is_idempotent_and_updates_from_the_file(
    database: Database, settings: Settings
) -> None:
    list_id = await make_list(database)
    first = b"number,label,expires_at\n020 7946 0018,Acme,2030-01-01\n07700900123,Old,\n"
    stats, _ = await run_import(settings, first)
    assert (stats.added, stats.updated) == (2, 0)
    before = await entries(database, list_id)
    stats, _ = await run_import(settings, first)
    assert (stats.added, stats.updated, stats.unchanged) == (0, 0, 2)
    assert await entries(database, list_id) == before
    second = b"number,label,expires_at\n020 7946 0018,Acme,2030-01-01\n07700900123,New,2031-06-01\n"
    stats, _ = await run_import(settings, second)
    assert (stats.added, stats.updated, stats.unchanged) == (0, 1, 1)
    rows = await entries(database, list_id)
    assert rows[1][2] == "New" and rows[1][6] == datetime(2031, 6, 1, tzinfo=UTC)
    async with database.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(ListEntry).where(ListEntry.list_id == list_id)
        )
    assert count == 2


async def test_text_reimport_keeps_labels_it_does_not_have(
    database: Database, settings: Settings
) -> None:
    list_id = await make_list(database)
    await run_import(settings, b"number,label\n020 7946 0018,Acme\n")
    stats, _ = await run_import(settings, b"020 7946 0018\n07700900123\n")
    assert (stats.added, stats.updated) == (1, 0)
    rows = await entries(database, list_id)
    assert rows[0][2] == "Acme"
    stats, _ = await run_import(settings, b"020 7946 0018\n", source="tps")
    assert stats.updated == 1
    assert (await entries(database, list_id))[0][2:5] == ("Acme", None, "tps")


async def test_last_of_repeated_csv_lines_wins(database: Database, settings: Settings) -> None:
    list_id = await make_list(database)
    data = b"number,label\n020 7946 0018,first\n07700900123,x\n+442079460018,last\n"
    stats, _ = await run_import(settings, data)
    assert stats.added == 2
    assert (await entries(database, list_id))[0][2] == "last"


async def test_replace_makes_the_list_the_file(database: Database, settings: Settings) -> None:
    list_id = await make_list(database)
    other = await make_list(database, "other")
    await run_import(settings, b"020 7946 0018\n07700900123\n0161 496*\n")
    await run_import(settings, b"07700900123\n", name="other")
    stats, _ = await run_import(settings, b"07700900123\n07700900999\n", replace=True)
    assert (stats.added, stats.removed) == (1, 2)
    assert [r[0] for r in await entries(database, list_id)] == ["+447700900123", "+447700900999"]
    assert [r[0] for r in await entries(database, other)] == ["+447700900123"]


async def test_dates_are_honoured_by_lookup(database: Database, settings: Settings) -> None:
    await make_list(database)
    data = (
        b"number,valid_from,expires_at\n"
        b"020 7946 0018,,2020-01-01\n"
        b"07700900123,2099-01-01,\n"
        b"07700900124,2020-01-01,2099-01-01T12:00:00+01:00\n"
    )
    stats, log = await run_import(settings, data)
    assert stats.applied, log.kept
    async with database.sessions() as session:
        expired = await list_matches(session, "+442079460018")
        future = await list_matches(session, "+447700900123")
        current = await list_matches(session, "+447700900124")
        entry = (
            await session.execute(select(ListEntry).where(ListEntry.value == "+447700900124"))
        ).scalar_one()
    assert expired == [] and future == []
    assert [m.value for m in current] == ["+447700900124"]
    assert entry.expires_at == datetime(2099, 1, 1, 11, 0, tzinfo=UTC)


async def test_unknown_list(database: Database, settings: Settings) -> None:
    with pytest.raises(lists_repo.ListError, match="no list named"):
        await run_import(settings, b"020 7946 0018\n", name="missing")


def test_invalid_entry_messages_are_plain() -> None:
    with pytest.raises(InvalidEntry):
        GB.normalise_entry("12")
