"""``screener lists``: named allow/challenge/block lists and their entries."""

from __future__ import annotations

import io
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import typer
from rich.console import Console

from screener.cli.common import fail, parse_when, run, settings_of
from screener.db import lists_repo
from screener.db.lifecycle import open_database
from screener.domain import Action, ListKind
from screener.lists_export import ExportFormat
from screener.lists_export import export_entries as export_list
from screener.lists_import import (
    EntryReader,
    ImportFileError,
    ImportFormat,
    ImportStats,
    RejectionLog,
    import_into_list,
)
from screener.numbers import InvalidEntry, NumberAnalyser
from screener.report import printable
from screener.settings import Settings

lists_app = typer.Typer(no_args_is_help=True, help="Number lists: allow, challenge, block.")

KINDS = ", ".join(k.value for k in ListKind)
ACTIONS = ", ".join(a.value for a in Action)


def _kind(value: str) -> ListKind:
    try:
        return ListKind(value)
    except ValueError:
        fail(f"--kind must be one of: {KINDS}", 2)


def _action(value: str | None) -> Action | None:
    if value is None:
        return None
    try:
        return Action(value)
    except ValueError:
        fail(f"--action must be one of: {ACTIONS}", 2)


@lists_app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    kind: str = typer.Option(..., "--kind", help=KINDS),
    action: str | None = typer.Option(None, "--action", help=f"{ACTIONS} (default by kind)"),
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a list."""
    settings = settings_of(ctx)
    list_kind, list_action = _kind(kind), _action(action)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                created = await lists_repo.create_list(
                    session, name, list_kind, list_action, description
                )
            except lists_repo.ListError as exc:
                fail(str(exc))
            typer.echo(f"created list {created.name!r} ({created.kind}, {created.action})")

    run(go(), settings)


@lists_app.command("set")
def set_list(
    ctx: typer.Context,
    name: str,
    rename: str | None = typer.Option(None, "--rename"),
    kind: str | None = typer.Option(None, "--kind", help=KINDS),
    action: str | None = typer.Option(None, "--action", help=ACTIONS),
    description: str | None = typer.Option(None, "--description"),
) -> None:
    """Rename a list or change its kind, action or description."""
    settings = settings_of(ctx)
    list_kind = _kind(kind) if kind else None
    list_action = _action(action)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                found = await lists_repo.require_list(session, name)
                await lists_repo.update_list(
                    session,
                    found,
                    name=rename,
                    action=list_action,
                    kind=list_kind,
                    description=description,
                )
            except lists_repo.ListError as exc:
                fail(str(exc))
            typer.echo(f"list {found.name!r} is {found.kind}, {found.action}")

    run(go(), settings)


@lists_app.command("delete")
def delete(
    ctx: typer.Context,
    name: str,
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
) -> None:
    """Delete a list and all its entries."""
    settings = settings_of(ctx)
    if not yes and not typer.confirm(f"Delete list {name!r} and all its entries?"):
        raise typer.Exit(1)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                found = await lists_repo.require_list(session, name)
            except lists_repo.ListError as exc:
                fail(str(exc))
            await lists_repo.delete_list(session, found)
            typer.echo(f"deleted list {name!r}")

    run(go(), settings)


@lists_app.command("show")
def show(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="A list to show entries of; none: all lists."),
    search: str | None = typer.Option(None, "--search", help="Match number digits or label."),
    limit: int = typer.Option(50, "--limit", min=1, max=100000),
) -> None:
    """Show all lists, or the entries of one."""
    settings = settings_of(ctx)
    run(_show(settings, name, search, limit), settings)


async def _show(settings: Settings, name: str | None, search: str | None, limit: int) -> None:
    async with open_database(settings.database) as db, db.sessions() as session:
        if name is None:
            rows = await lists_repo.all_lists(session)
            if not rows:
                typer.echo("no lists yet: create one with 'screener lists create NAME --kind KIND'")
            for found, count in rows:
                typer.echo(f"{found.name}\t{found.kind}\t{found.action}\t{count} entries")
            return
        try:
            found = await lists_repo.require_list(session, name)
        except lists_repo.ListError as exc:
            fail(str(exc))
        typer.echo(f"{found.name} ({found.kind}, {found.action}) {found.description}".rstrip())
        for entry in await lists_repo.entries_page(session, found, search=search, limit=limit):
            star = "*" if entry.is_prefix else ""
            dates = ""
            if entry.valid_from:
                dates += f" from {entry.valid_from:%Y-%m-%d}"
            if entry.expires_at:
                dates += f" until {entry.expires_at:%Y-%m-%d}"
            label = printable(entry.label or "", 60)
            typer.echo(f"  {entry.value}{star}\t{label}{dates}")


@lists_app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    values: list[str] = typer.Argument(..., help="Numbers in any format; end with * for a prefix."),
    label: str | None = typer.Option(None, "--label"),
    note: str | None = typer.Option(None, "--note"),
    source: str | None = typer.Option(None, "--source"),
    valid_from: str | None = typer.Option(None, "--valid-from", help="YYYY-MM-DD[THH:MM]"),
    expires: str | None = typer.Option(None, "--expires", help="YYYY-MM-DD[THH:MM]"),
    added_by: str = typer.Option("cli", "--added-by"),
) -> None:
    """Add numbers or prefix ranges to a list (all or none)."""
    settings = settings_of(ctx)
    start, end = parse_when(valid_from, "--valid-from"), parse_when(expires, "--expires")
    analyser = NumberAnalyser(settings.numbers.region)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                found = await lists_repo.require_list(session, name)
                for value in values:
                    entry = lists_repo.EntryInput(value, label, note, source, start, end)
                    try:
                        row, created = await lists_repo.add_entry(
                            session, analyser, found, entry, added_by
                        )
                    except InvalidEntry as exc:
                        fail(f"{printable(value)!r}: {exc}; nothing was added")
                    star = "*" if row.is_prefix else ""
                    verb = "added" if created else "updated"
                    typer.echo(f"{verb} {row.value}{star} on {found.name!r}")
            except lists_repo.ListError as exc:
                fail(str(exc))

    run(go(), settings)


@lists_app.command("remove")
def remove(
    ctx: typer.Context,
    name: str,
    values: list[str] = typer.Argument(..., help="Numbers or prefixes (with *) to remove."),
) -> None:
    """Remove numbers or prefix ranges from a list."""
    settings = settings_of(ctx)
    analyser = NumberAnalyser(settings.numbers.region)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            missing = 0
            try:
                found = await lists_repo.require_list(session, name)
            except lists_repo.ListError as exc:
                fail(str(exc))
            for value in values:
                try:
                    removed = await lists_repo.remove_entry(session, analyser, found, value)
                except InvalidEntry as exc:
                    fail(f"{printable(value)!r}: {exc}")
                if removed:
                    typer.echo(f"removed {value} from {found.name!r}")
                else:
                    missing += 1
                    typer.echo(f"{value} is not on {found.name!r}", err=True)
        if missing:
            raise typer.Exit(1)

    run(go(), settings)


# -- bulk import and export ------------------------------------------------------

SHOWN_REJECTIONS = 20
"""Rejected lines printed by ``lists import``; ``--rejects FILE`` gets all of them."""


def _import_format(value: str) -> ImportFormat:
    try:
        return ImportFormat(value)
    except ValueError:
        fail("--format must be one of: auto, csv, text", 2)


def _open_input(file: str) -> IO[bytes]:
    if file == "-":
        return sys.stdin.buffer
    path = Path(file)
    if not path.is_file():
        fail(f"{file}: no such file", 2)
    try:
        return path.open("rb")
    except OSError as exc:
        fail(f"{file}: {exc.strerror}", 2)


@contextmanager
def _progress(file: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal (bytes read of the file)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

    total = Path(file).stat().st_size if file != "-" else None
    with Progress(
        "importing",
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=total)
        yield lambda done: bar.update(task, completed=done)


@lists_app.command("import")
def import_entries(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The list to import into (it must exist)."),
    file: str = typer.Argument(..., help="CSV or text file; - for standard input."),
    format: str = typer.Option("auto", "--format", help="auto, csv or text."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the good lines even if some are rejected."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Make the list exactly the file: remove entries not in it."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Source recorded on entries that have none in the file."
    ),
    added_by: str = typer.Option("cli", "--added-by"),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Write every rejected line to this CSV file."
    ),
) -> None:
    """Import numbers in bulk (all or nothing unless --skip-invalid). See docs/list-imports.md."""
    settings = settings_of(ctx)
    import_format = _import_format(format)
    stream = _open_input(file)
    analyser = NumberAnalyser(settings.numbers.region)
    with ExitStack() as stack:
        if stream is not sys.stdin.buffer:
            stack.enter_context(stream)
        sink = (
            stack.enter_context(rejects.open("w", encoding="utf-8", newline=""))
            if rejects
            else None
        )
        log = RejectionLog(keep=SHOWN_REJECTIONS, sink=sink)
        reader = EntryReader(stream, analyser, log, import_format, source)
        progress = stack.enter_context(_progress(file))
        try:
            stats = run(
                import_into_list(
                    settings.database,
                    name,
                    reader,
                    added_by=added_by,
                    skip_invalid=skip_invalid,
                    replace=replace,
                    progress=progress,
                ),
                settings,
            )
        except lists_repo.ListError as exc:
            fail(str(exc))
        except ImportFileError as exc:
            fail(f"{printable(file)}: {exc}; nothing was imported")
        except sqlite3.Error as exc:
            fail(f"database error at {settings.database.url}: {exc}")
    _report_import(stats, log, reader, rejects, skip_invalid)


def _report_import(
    stats: ImportStats,
    log: RejectionLog,
    reader: EntryReader,
    rejects: Path | None,
    skip_invalid: bool,
) -> None:
    for rejection in log.kept:
        typer.echo(f"line {rejection.line}: {rejection.value!r}: {rejection.reason}", err=True)
    if log.total > len(log.kept):
        more = log.total - len(log.kept)
        hint = f"all of them are in {rejects}" if rejects else "--rejects FILE lists them all"
        typer.echo(f"... and {more} more rejected lines ({hint})", err=True)
    if reader.ignored_columns:
        ignored = ", ".join(printable(c, 40) for c in reader.ignored_columns)
        typer.echo(f"ignored columns: {ignored}", err=True)
    if stats.applied:
        summary = (
            f"read {stats.read} lines: {stats.added} added, {stats.updated} updated, "
            f"{stats.unchanged} unchanged, {stats.rejected} rejected"
        )
        if stats.removed:
            summary += f", {stats.removed} removed"
    else:
        summary = f"read {stats.read} lines: {stats.accepted} good, {stats.rejected} rejected"
    typer.echo(f"{summary} in {stats.seconds:.1f} s")
    if not stats.applied:
        fail(
            f"nothing was imported: {stats.rejected} line(s) rejected "
            "(fix them, or use --skip-invalid to import the rest)"
        )


@lists_app.command("export")
def export_entries(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The list to export."),
    file: str = typer.Argument("-", help="Output file; - (default) for standard output."),
    format: str = typer.Option("csv", "--format", help="csv (with a header) or text."),
) -> None:
    """Write a list's entries in a format 'lists import' reads back."""
    settings = settings_of(ctx)
    try:
        export_format = ExportFormat(format)
    except ValueError:
        fail("--format must be csv or text", 2)

    async def go(out: IO[str]) -> int:
        async with open_database(settings.database) as db, db.sessions() as session:
            try:
                found = await lists_repo.require_list(session, name)
            except lists_repo.ListError as exc:
                fail(str(exc))
            return await export_list(session, found, out, export_format)

    if file == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
        try:
            run(go(out), settings)
        finally:
            out.flush()
            out.detach()
        return
    # A temporary file beside the target, renamed when complete: no half-written exports.
    target = Path(file)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="", dir=target.parent, prefix=".export-", delete=False
    ) as handle:
        try:
            written = run(go(handle), settings)
        except BaseException:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
            raise
    os.replace(handle.name, target)
    typer.echo(f"wrote {written} entries to {file}", err=True)
