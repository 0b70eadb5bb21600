"""What every CLI command shares: the settings, error reporting, running coroutines."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from screener.db.lifecycle import DatabaseUnavailable, describe_db_error
from screener.settings import Settings

T = TypeVar("T")


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


def run(coro: Coroutine[Any, Any, T], settings: Settings) -> T:
    """Run a command's coroutine; database failures become one clear line and exit 1."""
    try:
        return asyncio.run(coro)
    except DatabaseUnavailable as exc:
        fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            sys.stderr.close()
            raise typer.Exit(0) from None
        fail(describe_db_error(exc, settings.database.url))
    except SQLAlchemyError as exc:
        fail(describe_db_error(exc, settings.database.url))


def parse_when(value: str | None, option: str) -> datetime | None:
    """ISO date or datetime from the command line, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)", 2)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
