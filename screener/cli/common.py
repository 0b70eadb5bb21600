"""What every CLI command shares: settings, help text, tables, errors, running coroutines.

Only light modules are imported here and at the top of the command modules: each command
imports the database, the use cases and the screening service inside its function, so
``screener check`` does not pay for the web console or the migrations.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Context as ClickContext
    from typer._click import HelpFormatter

    from screener.domain.model import Actor
    from screener.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///screener.db"
"""``database.url`` when nothing sets it (a test checks it matches the settings)."""

USES_DATABASE = (
    f"Uses the database in database.url (default {DEFAULT_DATABASE_URL}, relative to the "
    "working directory; SCREENER_DATABASE__URL overrides it)."
)


@dataclass
class CliContext:
    settings: Settings


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext), "the root callback sets the context"
    return obj.settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def cli_actor(name: str | None = None) -> Actor:
    """Who a change from the command line is by: ``name`` if given (``--added-by``), else
    the operating system user."""
    from screener.domain.model import Actor

    return Actor.cli((name or "").strip() or os_user())


def os_user() -> str:
    import getpass

    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError, ImportError):
        return "cli"


# -- running a command's coroutine ---------------------------------------------------


def run(coro: Coroutine[Any, Any, T], settings: Settings) -> T:
    """Run a command's coroutine; a database failure becomes one line naming the database
    (never its password) and exit 1."""
    import asyncio

    try:
        return asyncio.run(coro)
    except (typer.Exit, typer.Abort):
        raise
    except BrokenPipeError:
        # The reader went away (``screener calls list | head``): stop quietly, and keep
        # Python from complaining when it flushes stdout at exit.
        _silence_stdout()
        raise typer.Exit(0) from None
    except Exception as exc:
        message = database_problem(exc, settings.database.url)
        if message is None:
            raise
        fail(message)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def database_problem(exc: BaseException, url: str) -> str | None:
    """The one line to show for a database failure (None: not a database failure)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from screener.db.lifecycle import DatabaseUnavailable, describe_db_error, safe_url

    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if not isinstance(exc, SQLAlchemyError | sqlite3.Error | OSError):
        return None
    cause = getattr(exc, "orig", None) or exc
    if not str(cause).strip():  # a bare TimeoutError, say: name it
        return f"database error at {safe_url(url)}: {type(cause).__name__}"
    message = describe_db_error(exc, url)
    lowered = message.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        message += " (is the schema up to date? 'screener db upgrade' brings it up to date)"
    return message


def parse_when(value: str | None, option: str) -> datetime | None:
    """ISO date or datetime from the command line, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)", 2)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- output --------------------------------------------------------------------------


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 entry``, ``2 entries``, ``0 calls``."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Lines of a table with a header, columns aligned (cells already made printable)."""
    body = [list(row) for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *body]
    ]


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    for line in table(headers, rows):
        typer.echo(line)


# -- help ------------------------------------------------------------------------------
#
# Typer shows every parameter's Python type in --help (``--withheld <bool>``,
# ``NAME <str>``). These classes print plain help instead: options with their metavar
# (FILE, DATE, N), flags alone, arguments by name.


def _argument_name(param: Any) -> str:
    name = str(param.metavar or (param.name or "").upper())
    return name if param.metavar or param.nargs == 1 else f"{name}..."


def _argument_usage(param: Any) -> str:
    name = _argument_name(param)
    return name if param.required else f"[{name}]"


def _value_metavar(param: Any) -> str:
    if param.metavar:
        return str(param.metavar)
    # Typer describes the value by its annotation; click by its ParamType.
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    type_name = str(getattr(getattr(param, "type", None), "name", "")).lower()
    if annotation is int or "integer" in type_name:
        return "N"
    if annotation is float or "float" in type_name:
        return "NUMBER"
    return "VALUE"


def _option_names(param: Any) -> str:
    def joined(opts: Sequence[str]) -> str:
        return ", ".join(sorted(opts, key=lambda opt: (opt.startswith("--"), opt)))

    names = joined(param.opts)
    if param.secondary_opts:
        names += " / " + joined(param.secondary_opts)
    if not param.is_flag and not param.count:
        names += " " + _value_metavar(param)
    return names


def _format_params(command: Any, ctx: ClickContext, formatter: HelpFormatter) -> None:
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append((_argument_name(param), record[1]))
        elif param.param_type_name == "option":
            options.append((_option_names(param), record[1]))
    for title, rows in (("Arguments", arguments), ("Options", options)):
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


class Command(TyperCommand):
    """A command whose ``--help`` shows no Python types."""

    def collect_usage_pieces(self, ctx: ClickContext) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        pieces += [
            _argument_usage(param)
            for param in self.get_params(ctx)
            if param.param_type_name == "argument"
        ]
        return pieces

    def format_options(self, ctx: ClickContext, formatter: HelpFormatter) -> None:
        _format_params(self, ctx, formatter)


class Group(TyperGroup):
    """A command group whose ``--help`` shows no Python types."""

    def format_options(self, ctx: ClickContext, formatter: HelpFormatter) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)


def command_group(help: str) -> typer.Typer:
    """A sub-command group (``screener lists``...) with plain help."""
    return typer.Typer(cls=Group, no_args_is_help=True, rich_markup_mode=None, help=help)


def command(app: typer.Typer, name: str, *, database: bool = True) -> Callable[[F], F]:
    """Register a command with plain help; ``database``: its help says which one it uses."""
    return app.command(name, cls=Command, epilog=USES_DATABASE if database else None)
