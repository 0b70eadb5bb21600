"""``screener users``: console users and their API tokens.

Every change is a use case of :mod:`screener.users.service` in its own transaction,
audited as from the command line (by the operating system user).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from screener.cli.common import (
    cli_actor,
    command,
    command_group,
    echo_table,
    fail,
    run,
    settings_of,
)
from screener.report import printable

if TYPE_CHECKING:
    from screener.application.unit_of_work import UnitOfWork
    from screener.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

users_app = command_group("Web console users and API tokens.")

ROLES = "reception or admin"


def _read_password(from_stdin: bool) -> str:
    from screener.users.accounts import UserError, check_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
    except UserError as exc:
        fail(str(exc), 2)
    return password


def _printable(text: str, limit: int = 100) -> str:
    return printable(text, limit)


@contextmanager
def _refusals() -> Iterator[None]:
    """A user use case's refusal (no such user, the last admin...) as one line, exit 1."""
    from screener.users.accounts import UserError

    try:
        yield
    except UserError as exc:
        fail(str(exc))


def _in_unit_of_work(
    settings: Settings, use: Callable[[UnitOfWork], Awaitable[T]]
) -> Coroutine[Any, Any, T]:
    """``use(uow)`` on the configured database, audited as the operating system user."""

    async def go() -> T:
        from screener.application.unit_of_work import UnitOfWork
        from screener.db.lifecycle import open_database

        async with open_database(settings.database) as db:
            return await use(UnitOfWork(db, cli_actor(), None))

    return go()


@command(users_app, "add")
def add(
    ctx: typer.Context,
    username: str = typer.Argument(..., metavar="USERNAME"),
    role: str = typer.Option("reception", "--role", metavar="ROLE", help=ROLES),
    display_name: str = typer.Option(
        "", "--name", metavar="TEXT", help="Name shown in the console."
    ),
    can_edit_lists: bool = typer.Option(
        False, "--can-edit-lists", help="Let a reception user edit list entries."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a user (asks for the password)."""
    from screener.users.accounts import UserError, check_role, check_username

    settings = settings_of(ctx)
    try:
        checked_role = check_role(role)
        checked_name = check_username(username)
    except UserError as exc:
        fail(str(exc), 2)
    password = _read_password(password_stdin)

    async def use(uow: UnitOfWork) -> None:
        from screener.users import service

        await service.create_user(
            uow,
            checked_name,
            password,
            checked_role.value,
            display_name=display_name,
            can_edit_lists=can_edit_lists,
        )

    with _refusals():
        run(_in_unit_of_work(settings, use), settings)
    typer.echo(f"created {checked_role.value} {checked_name!r}")


@command(users_app, "list")
def list_users(ctx: typer.Context) -> None:
    """Every user with role, rights and state."""
    settings = settings_of(ctx)

    async def go() -> None:
        from screener.db.lifecycle import open_database, safe_url
        from screener.users.accounts import Role, all_users

        async with open_database(settings.database) as db, db.sessions() as session:
            users = await all_users(session)
        if not users:
            typer.echo(
                f"no users yet in {safe_url(settings.database.url)}: "
                "add one with 'screener users add NAME --role admin'"
            )
            return
        echo_table(
            ("USERNAME", "ROLE", "LISTS", "STATE", "LAST SIGN-IN (UTC)", "NAME"),
            (
                (
                    _printable(user.username),
                    user.role,
                    "edit" if user.can_edit_lists or user.role == Role.ADMIN.value else "-",
                    "active" if user.active else "disabled",
                    f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "-",
                    _printable(user.display_name or "", 40) or "-",
                )
                for user in users
            ),
        )

    run(go(), settings)


def _set_active(ctx: typer.Context, username: str, active: bool) -> None:
    settings = settings_of(ctx)

    async def use(uow: UnitOfWork) -> None:
        from screener.users import service

        await service.update_user(uow, username, active=active)

    with _refusals():
        run(_in_unit_of_work(settings, use), settings)
    typer.echo(f"{'enabled' if active else 'disabled'} {_printable(username)!r}")


@command(users_app, "disable")
def disable(ctx: typer.Context, username: str = typer.Argument(..., metavar="USERNAME")) -> None:
    """Stop a user signing in (their sessions and tokens stop working at once).

    The last active admin cannot be disabled: make another user an admin first.
    """
    _set_active(ctx, username, False)


@command(users_app, "enable")
def enable(ctx: typer.Context, username: str = typer.Argument(..., metavar="USERNAME")) -> None:
    """Let a disabled user sign in again."""
    _set_active(ctx, username, True)


@command(users_app, "passwd")
def passwd(
    ctx: typer.Context,
    username: str = typer.Argument(..., metavar="USERNAME"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Set a user's password (their other sessions end)."""
    settings = settings_of(ctx)
    password = _read_password(password_stdin)

    async def use(uow: UnitOfWork) -> None:
        from screener.users import service

        await service.set_password(uow, username, password)

    with _refusals():
        run(_in_unit_of_work(settings, use), settings)
    typer.echo(f"password changed for {_printable(username)!r}")


@command(users_app, "token")
def token(
    ctx: typer.Context,
    username: str = typer.Argument(..., metavar="USERNAME"),
    name: str = typer.Option("cli", "--name", metavar="TEXT", help="What the token is for."),
    revoke: int | None = typer.Option(
        None, "--revoke", metavar="ID", help="Revoke the token with this id."
    ),
    list_tokens: bool = typer.Option(False, "--list", help="List the user's tokens."),
) -> None:
    """Create an API token for a user (printed once), or list or revoke tokens."""
    settings = settings_of(ctx)
    if list_tokens:
        with _refusals():
            run(_show_tokens(settings, username), settings)
        return
    if revoke is not None:
        token_id = revoke

        async def revoking(uow: UnitOfWork) -> None:
            from screener.users import service

            await service.revoke_token(uow, username, token_id)

        with _refusals():
            run(_in_unit_of_work(settings, revoking), settings)
        typer.echo(f"revoked token {token_id} of {_printable(username)!r}")
        return

    async def creating(uow: UnitOfWork) -> tuple[int, str]:
        from screener.users import service

        new = await service.create_token(uow, username, name)
        return new.token.id, new.secret

    with _refusals():
        token_id, secret = run(_in_unit_of_work(settings, creating), settings)
    typer.echo(
        f"token {token_id} for {_printable(username)!r}; it is shown only this once:", err=True
    )
    typer.echo(secret)


async def _show_tokens(settings: Settings, username: str) -> None:
    from screener.db.lifecycle import open_database
    from screener.users.accounts import require_user, user_tokens

    async with open_database(settings.database) as db, db.sessions() as session:
        tokens = await user_tokens(session, await require_user(session, username))
    if not tokens:
        typer.echo(f"{_printable(username)!r} has no tokens")
        return
    echo_table(
        ("ID", "NAME", "STATE", "CREATED", "LAST USED"),
        (
            (
                str(t.id),
                _printable(t.name, 60),
                "revoked" if t.revoked else "active",
                f"{t.created_at:%Y-%m-%d}",
                f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
            )
            for t in tokens
        ),
    )
