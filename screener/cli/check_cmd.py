"""``screener check``: what Screener would do with a call from a number, and why.

It only reads: it never upgrades the schema, and a SQLite file that does not exist is
not created (the numbers are checked with no lists and no call history instead). It is
run from scripts, one number at a time, so it imports only what deciding needs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typer

from screener.cli.common import DEFAULT_DATABASE_URL, Command, fail, run, settings_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from screener.calls.lookup import HistoryWindow
    from screener.calls.screening import ScreeningService
    from screener.domain.model import CallerHistory, ListMatch
    from screener.settings import Settings

log = logging.getLogger(__name__)

MAX_LINE = 1024
"""A line longer than this is not a phone number; it is checked as given, truncated."""

CHECK_HELP = (
    f"Reads the database in database.url (default {DEFAULT_DATABASE_URL}, relative to the "
    "working directory; SCREENER_DATABASE__URL overrides it). It never upgrades the schema, "
    "and a SQLite file that does not exist is not created: the numbers are then checked with "
    "no lists and no call history."
)


def _bounded_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Lines of at most ``MAX_LINE`` bytes; the rest of a longer line is read and dropped,
    so one enormous line never sits in memory whole."""
    while True:
        line = stream.readline(MAX_LINE)
        if not line:
            return
        if not line.endswith(b"\n"):
            while True:
                rest = stream.readline(64 * 1024)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


def _numbers_from(path: str) -> Iterator[str]:
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    try:
        for raw in _bounded_lines(stream):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.strip() and not line.lstrip().startswith("#"):
                yield line.strip()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file ``url`` names when that file does not exist (or the
    database is in memory, so it holds nothing); None otherwise."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if not path or path == ":memory:" or "mode=memory" in url:
        return path or ":memory:"
    return None if Path(path).exists() else path


class _NoData:
    """What a database that does not exist knows about a caller: nothing."""

    async def read(
        self, e164: str, now: datetime, window: HistoryWindow | None
    ) -> tuple[list[ListMatch], CallerHistory]:
        from screener.domain.model import CallerHistory

        return [], CallerHistory()

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Request:
    """What to check: the numbers given and read, and the rest of the call's facts."""

    numbers: list[str]
    file: str | None
    name: str
    did: str | None
    withheld: bool
    trunk: str | None
    as_json: bool
    history: bool


def check(
    ctx: typer.Context,
    numbers: list[str] = typer.Argument(
        None, metavar="NUMBER...", help="Caller numbers as presented."
    ),
    name: str = typer.Option("", "--name", metavar="TEXT", help="Caller name as presented."),
    did: str | None = typer.Option(
        None, "--did", metavar="NUMBER", help="The number that was dialled."
    ),
    withheld: bool = typer.Option(False, "--withheld", help="Presentation was prohibited."),
    trunk: str | None = typer.Option(
        None, "--trunk", metavar="NAME", help="Trunk (endpoint) the call came in on."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per number (JSON Lines)."),
    file: str | None = typer.Option(
        None, "--file", "-f", metavar="FILE", help="Read numbers, one a line (- for stdin)."
    ),
    history: bool = typer.Option(
        True, "--history/--no-history", help="Take the caller's recent calls into account."
    ),
) -> None:
    """Show the normalised number, its type, list matches, the action and every reason."""
    settings = settings_of(ctx)
    if not numbers and file is None:
        fail("give numbers to check, or --file FILE (- for standard input)", 2)
    if file is not None and file != "-" and not Path(file).is_file():
        fail(f"--file: {file}: no such file", 2)
    request = _Request(numbers or [], file, name, did, withheld, trunk, as_json, history)
    run(_check_all(settings, request), settings)


def register(app: typer.Typer) -> None:
    app.command("check", cls=Command, epilog=CHECK_HELP)(check)


def _nothing_known(why: str) -> None:
    typer.echo(f"note: {why}: checking with no lists and no call history", err=True)


async def _check_all(settings: Settings, request: _Request) -> None:
    from screener.calls.screening import ScreeningService
    from screener.policy.store import build_policy, load_policy

    missing = missing_sqlite_file(settings.database.url)
    if missing is not None:
        _nothing_known(
            f"there is no database file {missing} (database.url {settings.database.url})"
        )
        await _decide_all(ScreeningService(settings, _NoData(), build_policy(settings)), request)
        return
    if settings.database.url.startswith("sqlite"):
        await _check_on_sqlite(settings, request)
        return
    # The engine itself, not open_database(): that module brings in Alembic for its
    # schema upgrade, which check never does, and importing Alembic costs a fifth of the
    # command's start-up.
    from screener.db.engine import create_engine, session_factory

    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            if await _has_schema(session):
                policy = await load_policy(settings, session)
                service = ScreeningService.in_session(settings, session, policy)
            else:
                shown = engine.url.render_as_string(hide_password=True)
                _nothing_known(
                    f"the database {shown} has no Screener tables yet "
                    "('screener db upgrade' creates them)"
                )
                service = ScreeningService(settings, _NoData(), build_policy(settings))
            await _decide_all(service, request)
    finally:
        await engine.dispose()


async def _check_on_sqlite(settings: Settings, request: _Request) -> None:
    """Read a SQLite file with the stdlib driver, as the service's per-call reads do: no
    SQLAlchemy to import, so a check answers in a fraction of the time."""
    import sqlite3

    from screener.calls.lookup import SqliteCallReader
    from screener.calls.screening import ScreeningService
    from screener.db.sqlite_files import open_sqlite_reader, sqlite_path
    from screener.policy.store import build_policy, sqlite_overrides

    url = settings.database.url
    try:
        connection = open_sqlite_reader(url)
        if connection is None:  # an in-memory database: nothing in it
            raise sqlite3.OperationalError("no database file")
        try:
            tables = connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('alembic_version', 'policy_settings')"
            ).fetchone()[0]
            overrides = sqlite_overrides(connection) if tables == 2 else None
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        fail(f"cannot read the database {sqlite_path(url)}: {exc}")
    if overrides is None:
        _nothing_known(
            f"the database {sqlite_path(url)} has no Screener tables yet "
            "('screener db upgrade' creates them)"
        )
        await _decide_all(ScreeningService(settings, _NoData(), build_policy(settings)), request)
        return
    reader = SqliteCallReader(url)
    try:
        await _decide_all(
            ScreeningService(settings, reader, build_policy(settings, overrides)), request
        )
    finally:
        await reader.close()


async def _has_schema(session: AsyncSession) -> bool:
    from sqlalchemy import inspect

    connection = await session.connection()
    return await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))


async def _decide_all(service: ScreeningService, request: _Request) -> None:
    from screener.domain.model import CallFacts
    from screener.report import decision_as_dict, decision_as_text

    sources: list[Iterator[str]] = [iter(request.numbers)]
    if request.file is not None:
        sources.append(_numbers_from(request.file))
    for source in sources:
        for given in source:
            facts = CallFacts(
                caller_number=given[:MAX_LINE],
                caller_name=request.name,
                presentation="prohib" if request.withheld else None,
                did=request.did,
                trunk=request.trunk,
            )
            screening = await service.decide(facts, use_history=request.history)
            if request.as_json:
                out = decision_as_dict(screening.decision, given[:MAX_LINE])
                sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(decision_as_text(screening.decision, given) + "\n")
            sys.stdout.flush()
