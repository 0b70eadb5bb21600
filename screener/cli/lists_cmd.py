"""``screener lists``: named allow/challenge/screen/block lists and their entries.

Every change is a use case of :mod:`screener.lists.service` (or the bulk importer) in
its own transaction, audited as from the command line.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer

from screener.cli.common import (
    cli_actor,
    command,
    command_group,
    echo_table,
    fail,
    parse_when,
    plural,
    run,
    settings_of,
)
from screener.domain.vocabulary import Action, ListKind
from screener.report import printable

if TYPE_CHECKING:
    from screener.db.lifecycle import Database
    from screener.domain.numbers import NumberAnalyser
    from screener.lists.import_reader import EntryReader, ImportStats, RejectionLog
    from screener.lists.service import EntryChange
    from screener.settings import Settings

log = logging.getLogger(__name__)

lists_app = command_group("Number lists: allow, challenge, screen, block.")

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


def _analyser(settings: Settings) -> NumberAnalyser:
    from screener.domain.numbers import NumberAnalyser

    return NumberAnalyser(settings.numbers.region)


def _check_values(analyser: NumberAnalyser, values: list[str], consequence: str) -> None:
    """Refuse before touching the database if any value is not a number or prefix."""
    from screener.domain.numbers import InvalidEntry

    for value in values:
        try:
            analyser.normalise_entry(value)
        except InvalidEntry as exc:
            fail(f"{printable(value)!r}: {exc}; {consequence}")


def _shown(name: str) -> str:
    return repr(printable(name, 100))


@contextmanager
def _refusals() -> Iterator[None]:
    """A list use case's refusal (no such list, a name taken...) as one line, exit 1."""
    from screener.lists.repo import ListError

    try:
        yield
    except ListError as exc:
        fail(str(exc))


@command(lists_app, "create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    kind: str = typer.Option(..., "--kind", metavar="KIND", help=KINDS),
    action: str | None = typer.Option(
        None, "--action", metavar="ACTION", help=f"{ACTIONS} (default: by kind)"
    ),
    description: str = typer.Option("", "--description", metavar="TEXT"),
) -> None:
    """Create a list."""
    settings = settings_of(ctx)
    list_kind, list_action = _kind(kind), _action(action)

    async def go() -> None:
        from screener.application.unit_of_work import UnitOfWork
        from screener.db.lifecycle import open_database
        from screener.lists import service

        async with open_database(settings.database) as db:
            created = await service.create_list(
                UnitOfWork(db, cli_actor(), None), name, list_kind, list_action, description
            )
        typer.echo(f"created list {_shown(created.name)} ({created.kind}, {created.action})")

    with _refusals():
        run(go(), settings)


@command(lists_app, "set")
def set_list(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    rename: str | None = typer.Option(None, "--rename", metavar="NEW_NAME"),
    kind: str | None = typer.Option(None, "--kind", metavar="KIND", help=KINDS),
    action: str | None = typer.Option(None, "--action", metavar="ACTION", help=ACTIONS),
    description: str | None = typer.Option(None, "--description", metavar="TEXT"),
) -> None:
    """Rename a list or change its kind, action or description."""
    settings = settings_of(ctx)
    if rename is None and kind is None and action is None and description is None:
        fail("nothing to change: give --rename, --kind, --action or --description", 2)
    list_kind = _kind(kind) if kind is not None else None
    list_action = _action(action)

    async def go() -> None:
        from screener.application.unit_of_work import UnitOfWork
        from screener.db.lifecycle import open_database
        from screener.lists import service

        async with open_database(settings.database) as db:
            changed = await service.update_list(
                UnitOfWork(db, cli_actor(), None),
                name,
                name=rename,
                kind=list_kind,
                action=list_action,
                description=description,
            )
        typer.echo(f"list {_shown(changed.name)} is {changed.kind}, {changed.action}")

    with _refusals():
        run(go(), settings)


@command(lists_app, "delete")
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
) -> None:
    """Delete a list and all its entries."""
    settings = settings_of(ctx)
    if not yes and not typer.confirm(f"Delete list {_shown(name)} and all its entries?"):
        typer.echo("nothing was deleted", err=True)
        raise typer.Exit(1)

    async def go() -> None:
        from screener.application.unit_of_work import UnitOfWork
        from screener.db.lifecycle import open_database
        from screener.lists import service

        async with open_database(settings.database) as db:
            deleted = await service.delete_list(UnitOfWork(db, cli_actor(), None), name)
        typer.echo(f"deleted list {_shown(deleted)}")

    with _refusals():
        run(go(), settings)


def _date(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "-"


@command(lists_app, "show")
def show(
    ctx: typer.Context,
    name: str | None = typer.Argument(
        None, metavar="NAME", help="A list to show entries of; none: every list."
    ),
    search: str | None = typer.Option(
        None, "--search", metavar="TEXT", help="A number prefix (in any format) or label text."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=100000, metavar="N"),
) -> None:
    """Show every list, or the entries of one."""
    settings = settings_of(ctx)
    with _refusals():
        run(_show(settings, name, search, limit), settings)


async def _show(settings: Settings, name: str | None, search: str | None, limit: int) -> None:
    from screener.db.lifecycle import open_database, safe_url
    from screener.lists import queries, repo

    async with open_database(settings.database) as db, db.sessions() as session:
        if name is None:
            rows = await repo.all_lists(session)
            if not rows:
                typer.echo(
                    f"no lists yet in {safe_url(settings.database.url)}: "
                    "create one with 'screener lists create NAME --kind KIND'"
                )
                return
            echo_table(
                ("NAME", "KIND", "ACTION", "ENTRIES"),
                (
                    (printable(found.name, 100), found.kind, found.action, _entries(count))
                    for found, count in rows
                ),
            )
            return
        found = await repo.require_list(session, name)
        wanted = queries.EntrySearch.parse(_analyser(settings), search or "")
        entries, more = await queries.entries_page(session, found.id, wanted, None, limit)
    title = f"{printable(found.name, 100)} ({found.kind}, {found.action})"
    if found.description:
        title += f": {printable(found.description)}"
    typer.echo(title)
    if not entries:
        typer.echo(
            f"no entries match {printable(search)!r}"
            if search
            else "no entries yet: add some with 'screener lists add NAME NUMBER...'"
        )
        return
    echo_table(
        ("NUMBER", "LABEL", "FROM", "UNTIL", "ADDED BY"),
        (
            (
                entry.value + ("*" if entry.is_prefix else ""),
                printable(entry.label or "", 60) or "-",
                _date(entry.valid_from),
                _date(entry.expires_at),
                printable(entry.added_by or "", 30) or "-",
            )
            for entry in entries
        ),
    )
    if more is not None:
        typer.echo(
            f"(the first {plural(limit, 'entry', 'entries')}; --limit N shows more, "
            "--search narrows)",
            err=True,
        )


def _entries(count: int) -> str:
    return plural(count, "entry", "entries")


@command(lists_app, "add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    values: list[str] = typer.Argument(
        ..., metavar="NUMBER...", help="Numbers in any format; end with * for a prefix range."
    ),
    label: str | None = typer.Option(None, "--label", metavar="TEXT"),
    note: str | None = typer.Option(None, "--note", metavar="TEXT"),
    source: str | None = typer.Option(None, "--source", metavar="TEXT"),
    valid_from: str | None = typer.Option(
        None, "--valid-from", metavar="DATE", help="YYYY-MM-DD[THH:MM]"
    ),
    expires: str | None = typer.Option(
        None, "--expires", metavar="DATE", help="YYYY-MM-DD[THH:MM]"
    ),
    added_by: str | None = typer.Option(
        None, "--added-by", metavar="NAME", help="Who is adding them (default: your user name)."
    ),
    override_impersonation: bool = typer.Option(
        False,
        "--override-impersonation",
        help="Put a number that is on a do-not-originate or trusted-brand list on an allow "
        "list anyway (scammers spoof such numbers; the audit log records the override).",
    ),
) -> None:
    """Add numbers or prefix ranges to a list (all or none)."""
    settings = settings_of(ctx)
    start, end = parse_when(valid_from, "--valid-from"), parse_when(expires, "--expires")
    analyser = _analyser(settings)
    _check_values(analyser, values, "nothing was added")
    actor = cli_actor(added_by)

    async def go() -> None:
        from screener.application.unit_of_work import UnitOfWork
        from screener.db.lifecycle import open_database
        from screener.lists import service
        from screener.lists.repo import EntryInput

        entries = [EntryInput(value, label, note, source, start, end) for value in values]
        async with open_database(settings.database) as db:
            try:
                changes = await service.add_entries(
                    UnitOfWork(db, actor, None),
                    analyser,
                    name,
                    entries,
                    override_impersonation=override_impersonation,
                )
            except service.ImpersonatedNumber as exc:
                fail(f"{exc} Nothing was added; --override-impersonation adds it anyway.")
            overridden = await _overridden(db, name, changes) if override_impersonation else []
        for change in changes:
            verb = "added" if change.created else "updated"
            typer.echo(f"{verb} {change.shown} on {_shown(name)}")
        for value, lists in overridden:
            typer.echo(
                f"warning: {value} is on {lists}, a number scammers spoof; it was added "
                "anyway (--override-impersonation), and the audit log records that",
                err=True,
            )

    with _refusals():
        run(go(), settings)


async def _overridden(
    db: Database, list_name: str, changes: list[EntryChange]
) -> list[tuple[str, str]]:
    """The numbers just put on the allow list ``list_name`` that are on a do-not-originate
    or trusted-brand list, each with those lists."""
    from screener.lists import repo
    from screener.lists.matching import list_matches
    from screener.lists.service import GUARDED_KINDS

    found: list[tuple[str, str]] = []
    now = datetime.now(UTC)
    async with db.sessions() as session:
        number_list = await repo.get_list(session, list_name)
        if number_list is None or number_list.action != Action.ALLOW.value:
            return found
        for change in changes:
            entry = change.entry
            if entry.is_prefix:
                continue
            matches = await list_matches(session, entry.value, now)
            guarded = [m for m in matches if m.kind in GUARDED_KINDS]
            if guarded:
                names = ", ".join(f"{_shown(m.list_name)} ({m.kind.value})" for m in guarded)
                found.append((entry.value, names))
    return found


@command(lists_app, "remove")
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    values: list[str] = typer.Argument(
        ..., metavar="NUMBER...", help="Numbers or prefixes (ending with *) to remove."
    ),
) -> None:
    """Remove numbers or prefix ranges from a list."""
    settings = settings_of(ctx)
    analyser = _analyser(settings)
    _check_values(analyser, values, "nothing was removed")

    async def go() -> tuple[list[str], list[str]]:
        from screener.application.unit_of_work import UnitOfWork
        from screener.db.lifecycle import open_database
        from screener.lists import service

        async with open_database(settings.database) as db:
            return await service.remove_values(
                UnitOfWork(db, cli_actor(), None), analyser, name, values
            )

    with _refusals():
        removed, missing = run(go(), settings)
    for value in removed:
        typer.echo(f"removed {printable(value)} from {_shown(name)}")
    for value in missing:
        typer.echo(f"{printable(value)} is not on {_shown(name)}", err=True)
    if missing:
        raise typer.Exit(1)


# -- bulk import and export ------------------------------------------------------

SHOWN_REJECTIONS = 20
"""Rejected lines printed by ``lists import``; ``--rejects FILE`` gets all of them."""

IMPORT_FORMATS = ("auto", "csv", "text")


def _open_input(file: str) -> IO[bytes]:
    if file == "-":
        return sys.stdin.buffer
    path = Path(file)
    if not path.is_file():
        fail(f"{printable(file)}: no such file", 2)
    try:
        return path.open("rb")
    except OSError as exc:
        fail(f"{printable(file)}: {exc.strerror}", 2)


def _open_output(path: Path) -> IO[str]:
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"{printable(str(path))}: {exc.strerror}", 2)


@contextmanager
def _progress(file: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal (bytes read of the file)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
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


@command(lists_app, "import")
def import_entries(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., metavar="NAME", help="The list to import into (it must exist)."
    ),
    file: str = typer.Argument(..., metavar="FILE", help="CSV or text file; - for standard input."),
    format: str = typer.Option("auto", "--format", metavar="FORMAT", help="auto, csv or text."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the good lines even if some are rejected."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Make the list exactly the file: remove entries not in it."
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        metavar="TEXT",
        help="Source recorded on entries that have none in the file.",
    ),
    added_by: str | None = typer.Option(
        None, "--added-by", metavar="NAME", help="Who is importing (default: your user name)."
    ),
    rejects: Path | None = typer.Option(
        None, "--rejects", metavar="FILE", help="Write every rejected line to this CSV file."
    ),
) -> None:
    """Import numbers in bulk (all or nothing unless --skip-invalid). See docs/list-imports.md."""
    from screener.lists.import_reader import (
        EntryReader,
        ImportFileError,
        ImportFormat,
        RejectionLog,
    )

    settings = settings_of(ctx)
    if format not in IMPORT_FORMATS:
        fail(f"--format must be one of: {', '.join(IMPORT_FORMATS)}", 2)
    import_format = ImportFormat(format)
    stream = _open_input(file)
    analyser = _analyser(settings)
    actor = cli_actor(added_by)
    with ExitStack() as stack:
        if stream is not sys.stdin.buffer:
            stack.enter_context(stream)
        sink = stack.enter_context(_open_output(rejects)) if rejects else None
        rejections = RejectionLog(keep=SHOWN_REJECTIONS, sink=sink)
        reader = EntryReader(stream, analyser, rejections, import_format, source)
        progress = stack.enter_context(_progress(file))

        async def go() -> ImportStats:
            from screener.db.lifecycle import open_database
            from screener.lists.importer import import_entries as import_file

            async with open_database(settings.database) as db:
                result = await import_file(
                    db,
                    actor,
                    name,
                    reader,
                    skip_invalid=skip_invalid,
                    replace=replace,
                    file_name="(standard input)" if file == "-" else file,
                    progress=progress,
                )
            return result.stats

        with _refusals():
            try:
                stats = run(go(), settings)
            except ImportFileError as exc:
                fail(f"{printable(file)}: {exc}; nothing was imported")
    _report_import(stats, rejections, reader, rejects)


def _report_import(
    stats: ImportStats, rejections: RejectionLog, reader: EntryReader, rejects: Path | None
) -> None:
    for rejection in rejections.kept:
        typer.echo(
            f"line {rejection.line}: {printable(rejection.value)!r}: {rejection.reason}", err=True
        )
    if rejections.total > len(rejections.kept):
        more = rejections.total - len(rejections.kept)
        hint = f"all of them are in {rejects}" if rejects else "--rejects FILE lists them all"
        typer.echo(f"... and {more} more rejected lines ({hint})", err=True)
    if reader.ignored_columns:
        ignored = ", ".join(printable(c, 40) for c in reader.ignored_columns)
        typer.echo(f"ignored columns: {ignored}", err=True)
    read = plural(stats.read, "line")
    if stats.applied:
        summary = (
            f"read {read}: {stats.added} added, {stats.updated} updated, "
            f"{stats.unchanged} unchanged, {stats.rejected} rejected"
        )
        if stats.removed:
            summary += f", {stats.removed} removed"
    else:
        summary = f"read {read}: {stats.accepted} good, {stats.rejected} rejected"
    typer.echo(f"{summary} in {stats.seconds:.1f} s")
    if not stats.applied:
        fail(
            f"nothing was imported: {plural(stats.rejected, 'line')} rejected "
            "(fix them, or use --skip-invalid to import the rest)"
        )


EXPORT_FORMATS = ("csv", "text")


@command(lists_app, "export")
def export_entries(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The list to export."),
    file: str = typer.Argument(
        "-", metavar="FILE", help="Output file; - (the default) for standard output."
    ),
    format: str = typer.Option(
        "csv", "--format", metavar="FORMAT", help="csv (with a header) or text."
    ),
) -> None:
    """Write a list's entries in a format 'lists import' reads back."""
    settings = settings_of(ctx)
    if format not in EXPORT_FORMATS:
        fail("--format must be csv or text", 2)
    actor = cli_actor()

    async def go(out: IO[str]) -> int:
        from screener.db.lifecycle import open_database
        from screener.lists.export import ExportFormat, export_list

        async with open_database(settings.database) as db:
            return await export_list(db, actor, name, out, ExportFormat(format))

    if file == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
        try:
            with _refusals():
                run(go(out), settings)
        finally:
            out.flush()
            out.detach()
        return
    # A temporary file beside the target, renamed when complete: no half-written exports.
    target = Path(file)
    try:
        temporary = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by the with below
            "w", encoding="utf-8", newline="", dir=target.parent, prefix=".export-", delete=False
        )
    except OSError as exc:
        fail(f"{printable(file)}: cannot write there: {exc.strerror}", 2)
    with temporary as handle:
        try:
            with _refusals():
                written = run(go(handle), settings)
        except BaseException:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
            raise
    os.replace(handle.name, target)
    typer.echo(f"wrote {_entries(written)} to {printable(file)}", err=True)
