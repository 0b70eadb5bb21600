"""The ``screener`` command line.

``screener check`` runs from scripts and should answer in well under a second, so this
package imports only typer and the vocabulary up front: each command imports the
database, the use cases and the screening service inside its function, and ``run``,
``demo`` and ``speech`` (the service, the web console, speech to text) are imported only
when one of them is invoked.
"""

from __future__ import annotations

import copy
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

from screener.cli import check_cmd
from screener.cli.calls_cmd import calls_app
from screener.cli.common import USES_DATABASE, CliContext, Command, Group, fail
from screener.cli.db_cmd import db_app
from screener.cli.lists_cmd import lists_app
from screener.cli.users_cmd import users_app

if TYPE_CHECKING:
    from typer._click import Command as ClickCommand
    from typer._click import Context as ClickContext
    from typer._click import HelpFormatter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command (or a group: a ``typer.Typer``) imported only when it is invoked."""

    module: str
    attribute: str
    summary: str
    """The line ``screener --help`` shows (a test checks it matches the command's)."""
    epilog: str | None = None

    def load(self, name: str) -> ClickCommand:
        target = getattr(importlib.import_module(self.module), self.attribute)
        holder = typer.Typer(rich_markup_mode=None, add_completion=False)
        if isinstance(target, typer.Typer):
            holder.add_typer(_plain(target), name=name)
            found = typer.main.get_group(holder).commands[name]
        else:
            holder.command(name, cls=Command, epilog=self.epilog)(target)
            found = typer.main.get_command(holder)
        return found


def _plain(app: typer.Typer) -> typer.Typer:
    """A copy of ``app`` whose commands have plain help (see :class:`Command`)."""
    plain = copy.copy(app)
    plain.info = copy.copy(app.info)
    plain.info.cls = Group
    plain.registered_commands = []
    for info in app.registered_commands:
        command_info = copy.copy(info)
        if command_info.cls in (None, TyperCommand):
            command_info.cls = Command
        plain.registered_commands.append(command_info)
    return plain


LAZY_COMMANDS = {
    "run": LazyCommand(
        "screener.cli.run_cmd",
        "run",
        "Run the service: screen live calls from Asterisk (ARI and/or FastAGI) until stopped.",
        USES_DATABASE,
    ),
    "demo": LazyCommand(
        "screener.cli.run_cmd",
        "demo",
        "Screen a realistic mix of calls from a built-in simulated Asterisk (no PBX needed).",
    ),
    "speech": LazyCommand(
        "screener.cli.speech_cmd", "speech_app", "Speech to text and claims of authority."
    ),
}


class ScreenerGroup(Group):
    """The root command: the commands of this package, and the lazily imported ones."""

    def list_commands(self, ctx: ClickContext) -> list[str]:
        names = super().list_commands(ctx)
        return names + [name for name in LAZY_COMMANDS if name not in names]

    def get_command(self, ctx: ClickContext, cmd_name: str) -> ClickCommand | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            found = LAZY_COMMANDS[cmd_name].load(cmd_name)
            self.commands[cmd_name] = found
        return found

    def format_commands(self, ctx: ClickContext, formatter: HelpFormatter) -> None:
        """The command list, without importing the lazy commands to read their help."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is None:
                rows.append((name, LAZY_COMMANDS[name].summary))
            elif not loaded.hidden:
                rows.append((name, loaded.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def build_app() -> typer.Typer:
    app = typer.Typer(
        cls=ScreenerGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
        help="Screener: call screening for Asterisk office phone systems.",
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        config: Path | None = typer.Option(
            None,
            "--config",
            "-c",
            metavar="FILE",
            help="Settings file (default: $SCREENER_CONFIG or ./screener.toml).",
        ),
    ) -> None:
        from screener.logging_setup import configure_logging
        from screener.settings import SettingsError, load_settings

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
    check_cmd.register(app)
    return app


def main() -> None:
    build_app()()
