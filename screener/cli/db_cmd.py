"""``screener db``: schema migrations."""

from __future__ import annotations

import logging

import typer

from screener.cli.common import command, command_group, fail, settings_of

log = logging.getLogger(__name__)

db_app = command_group("Database schema (Alembic migrations).")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


@command(db_app, "upgrade")
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Argument(
        "head", metavar="REVISION", help="The revision to go to (default: the newest)."
    ),
) -> None:
    """Bring the database schema up to REVISION (default: the newest)."""
    from screener.db import migrate
    from screener.db.lifecycle import safe_url

    url = settings_of(ctx).database.url
    try:
        migrate.upgrade(url, revision)
        typer.echo(f"database {safe_url(url)} is at {migrate.current(url)}")
    except Exception as exc:
        fail(f"upgrade of {safe_url(url)} failed: {_first_line(exc)}")


@command(db_app, "downgrade")
def downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument(..., metavar="REVISION", help="e.g. -1 or base"),
) -> None:
    """Step the schema back to REVISION."""
    from screener.db import migrate
    from screener.db.lifecycle import safe_url

    url = settings_of(ctx).database.url
    try:
        migrate.downgrade(url, revision)
        typer.echo(f"database {safe_url(url)} is at {migrate.current(url) or 'base'}")
    except Exception as exc:
        fail(f"downgrade of {safe_url(url)} failed: {_first_line(exc)}")


@command(db_app, "current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision."""
    from screener.db import migrate
    from screener.db.lifecycle import safe_url

    url = settings_of(ctx).database.url
    try:
        typer.echo(migrate.current(url) or "base")
    except Exception as exc:
        fail(f"cannot read {safe_url(url)}: {_first_line(exc)}")
