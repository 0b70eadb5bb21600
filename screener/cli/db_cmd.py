"""``screener db``: schema migrations."""

from __future__ import annotations

import typer

from screener.cli.common import fail, settings_of
from screener.db import migrate
from screener.db.lifecycle import safe_url

db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic migrations).")


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Bring the database schema up to REVISION (default: the newest)."""
    url = settings_of(ctx).database.url
    try:
        migrate.upgrade(url, revision)
    except Exception as exc:
        fail(f"upgrade of {safe_url(url)} failed: {str(exc).splitlines()[0]}")
    typer.echo(f"database {safe_url(url)} is at {migrate.current(url)}")


@db_app.command("downgrade")
def downgrade(
    ctx: typer.Context, revision: str = typer.Argument(..., help="e.g. -1 or base")
) -> None:
    """Step the schema back to REVISION."""
    url = settings_of(ctx).database.url
    try:
        migrate.downgrade(url, revision)
    except Exception as exc:
        fail(f"downgrade of {safe_url(url)} failed: {str(exc).splitlines()[0]}")
    typer.echo(f"database {safe_url(url)} is at {migrate.current(url) or 'base'}")


@db_app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision."""
    url = settings_of(ctx).database.url
    try:
        typer.echo(migrate.current(url) or "base")
    except Exception as exc:
        fail(f"cannot read {safe_url(url)}: {str(exc).splitlines()[0]}")
