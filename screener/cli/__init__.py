"""The ``screener`` command line."""

from __future__ import annotations

from pathlib import Path

import typer

from screener.cli.calls_cmd import calls_app
from screener.cli.check_cmd import check
from screener.cli.common import CliContext, fail
from screener.cli.db_cmd import db_app
from screener.cli.lists_cmd import lists_app
from screener.cli.run_cmd import register as register_run_commands
from screener.cli.users_cmd import users_app
from screener.logging_setup import configure_logging
from screener.settings import SettingsError, load_settings


def build_app() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        help="Screener: call screening for Asterisk office phone systems.",
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        config: Path | None = typer.Option(
            None,
            "--config",
            "-c",
            help="Settings file (default: $SCREENER_CONFIG or ./screener.toml).",
        ),
    ) -> None:
        try:
            settings = load_settings(config)
        except SettingsError as exc:
            fail(str(exc), 2)
        configure_logging(settings.logging)
        ctx.obj = CliContext(settings)

    app.add_typer(db_app, name="db")
    app.add_typer(lists_app, name="lists")
    app.add_typer(calls_app, name="calls")
    app.add_typer(users_app, name="users")
    app.command()(check)
    register_run_commands(app)
    return app


def main() -> None:
    build_app()()
