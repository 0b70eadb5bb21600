"""``screener users``: console users and their API tokens."""

from __future__ import annotations

import sys

import typer

from screener import auth
from screener.auth_audit import record
from screener.cli.common import fail, run, settings_of
from screener.db.lifecycle import open_database
from screener.settings import Settings

users_app = typer.Typer(no_args_is_help=True, help="Web console users and API tokens.")

ACTOR = "cli"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        auth.check_password(password)
    except auth.UserError as exc:
        fail(str(exc), 2)
    return password


@users_app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    role: str = typer.Option("reception", "--role", help="reception or admin"),
    display_name: str = typer.Option("", "--name", help="Name shown in the console."),
    can_edit_lists: bool = typer.Option(
        False, "--can-edit-lists", help="Let a reception user edit list entries."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a user (prompts for the password)."""
    settings = settings_of(ctx)
    try:
        auth.check_role(role)
        auth.check_username(username)
    except auth.UserError as exc:
        fail(str(exc), 2)
    password = _read_password(password_stdin)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                user = await auth.create_user(
                    session,
                    username,
                    password,
                    role,
                    display_name=display_name,
                    can_edit_lists=can_edit_lists,
                )
            except auth.UserError as exc:
                fail(str(exc))
            await record(session, ACTOR, "user.create", user.username, {"role": role, "via": "cli"})
        typer.echo(f"created {role} {username!r}")

    run(go(), settings)


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Every user with role, rights and state."""
    settings = settings_of(ctx)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions() as session:
            for user in await auth.all_users(session):
                rights = "lists" if user.can_edit_lists or user.role == "admin" else "-"
                state = "active" if user.active else "disabled"
                last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "-"
                typer.echo(f"{user.username}\t{user.role}\t{rights}\t{state}\t{last}")

    run(go(), settings)


async def _change(settings: Settings, username: str, action: str, change: str) -> None:
    async with open_database(settings.database) as db, db.sessions.begin() as session:
        try:
            user = await auth.require_user(session, username)
        except auth.UserError as exc:
            fail(str(exc))
        if change == "disable":
            user.active = False
        elif change == "enable":
            user.active = True
        await record(session, ACTOR, action, user.username, {"via": "cli"})


@users_app.command("disable")
def disable(ctx: typer.Context, username: str) -> None:
    """Stop a user signing in (their sessions and tokens stop working at once)."""
    settings = settings_of(ctx)
    run(_change(settings, username, "user.disable", "disable"), settings)
    typer.echo(f"disabled {username!r}")


@users_app.command("enable")
def enable(ctx: typer.Context, username: str) -> None:
    """Let a disabled user sign in again."""
    settings = settings_of(ctx)
    run(_change(settings, username, "user.enable", "enable"), settings)
    typer.echo(f"enabled {username!r}")


@users_app.command("passwd")
def passwd(
    ctx: typer.Context,
    username: str,
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """Set a user's password (their other sessions end)."""
    settings = settings_of(ctx)
    password = _read_password(password_stdin)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                user = await auth.require_user(session, username)
            except auth.UserError as exc:
                fail(str(exc))
            await auth.set_password(session, user, password)
            await record(session, ACTOR, "user.password", user.username, {"via": "cli"})

    run(go(), settings)
    typer.echo(f"password changed for {username!r}")


@users_app.command("token")
def token(
    ctx: typer.Context,
    username: str,
    name: str = typer.Option("cli", "--name", help="What the token is for."),
    revoke: int | None = typer.Option(None, "--revoke", help="Revoke the token with this id."),
    list_tokens: bool = typer.Option(False, "--list", help="List the user's tokens."),
) -> None:
    """Create an API token for a user (printed once), or list / revoke tokens."""
    settings = settings_of(ctx)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions.begin() as session:
            try:
                user = await auth.require_user(session, username)
                if list_tokens:
                    for t in await auth.user_tokens(session, user):
                        state = "revoked" if t.revoked else "active"
                        typer.echo(f"{t.id}\t{t.name}\t{state}\t{t.created_at:%Y-%m-%d}")
                    return
                if revoke is not None:
                    revoked = await auth.revoke_token(session, user, revoke)
                    await record(
                        session, ACTOR, "token.revoke", user.username, {"name": revoked.name}
                    )
                    typer.echo(f"revoked token {revoke}")
                    return
            except auth.UserError as exc:
                fail(str(exc))
            new = await auth.create_token(session, user, name)
            await record(session, ACTOR, "token.create", user.username, {"name": new.token.name})
            typer.echo(new.secret)

    run(go(), settings)
