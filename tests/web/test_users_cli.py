"""``screener users``: add, list, disable, enable, passwd, token."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from screener.cli import build_app
from screener.db.lifecycle import open_database
from screener.db.models import User
from screener.settings import DatabaseSettings
from screener.users import accounts
from screener.users.passwords import verify_password


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCREENER_DATABASE__URL", url)
    monkeypatch.delenv("SCREENER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return url


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), input=stdin)
    return result.exit_code, result.output


def _can_sign_in(url: str, username: str, password: str) -> bool:
    """An active user with this password (what the console's sign-in checks)."""

    async def go() -> bool:
        async with open_database(DatabaseSettings(url=url)) as db, db.sessions() as session:
            user = (
                await session.execute(select(User).where(User.username == username))
            ).scalar_one_or_none()
            return (
                user is not None and user.active and verify_password(password, user.password_hash)
            )

    return asyncio.run(go())


def _token_user(url: str, secret: str) -> str | None:
    async def go() -> str | None:
        async with open_database(DatabaseSettings(url=url)) as db, db.sessions.begin() as s:
            user = await accounts.user_for_token(s, secret)
            return user.username if user else None

    return asyncio.run(go())


def _rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def test_users_lifecycle(cli_db: str) -> None:
    code, out = _run(
        "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="first password\n"
    )
    assert code == 0, out
    assert "created admin 'boss'" in out
    assert _can_sign_in(cli_db, "boss", "first password")
    code, out = _run("users", "add", "desk", stdin="desk password\ndesk password\n")
    assert code == 0, out
    code, out = _run("users", "list")
    header, *rows = _rows(out)
    assert header == ["USERNAME", "ROLE", "LISTS", "STATE", "LAST SIGN-IN (UTC)", "NAME"]
    assert rows[0][:5] == ["boss", "admin", "edit", "active", "-"]
    assert rows[1][:5] == ["desk", "reception", "-", "active", "-"]
    code, out = _run("users", "add", "boss", "--password-stdin", stdin="another one\n")
    assert code == 1 and "already exists" in out
    code, out = _run("users", "add", "x", "--role", "root", "--password-stdin", stdin="pppppppp\n")
    assert code == 2 and "role must be one of" in out
    code, out = _run("users", "add", "y", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 8" in out
    code, out = _run("users", "passwd", "boss", "--password-stdin", stdin="second password\n")
    assert code == 0
    assert not _can_sign_in(cli_db, "boss", "first password")
    assert _can_sign_in(cli_db, "boss", "second password")
    code, out = _run("users", "token", "boss", "--name", "crm")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("scr_") and _token_user(cli_db, secret) == "boss"
    assert "shown only this once" in out
    code, out = _run("users", "token", "boss", "--list")
    header, *rows = _rows(out)
    assert header == ["ID", "NAME", "STATE", "CREATED", "LAST USED"]
    assert rows[0][1:3] == ["crm", "active"]
    code, out = _run("users", "token", "boss", "--revoke", rows[0][0])
    assert code == 0 and _token_user(cli_db, secret) is None
    code, out = _run("users", "token", "boss", "--revoke", "999")
    assert code == 1 and "no token 999" in out
    code, out = _run("users", "disable", "desk")
    assert code == 0 and not _can_sign_in(cli_db, "desk", "desk password")
    code, out = _run("users", "enable", "desk")
    assert code == 0 and _can_sign_in(cli_db, "desk", "desk password")
    code, out = _run("users", "disable", "nobody")
    assert code == 1 and "no user named 'nobody'" in out


def test_the_last_active_admin_cannot_be_disabled(cli_db: str) -> None:
    _run("users", "add", "boss", "--role", "admin", "--password-stdin", stdin="first password\n")
    code, out = _run("users", "disable", "boss")
    assert code == 1
    assert "'boss' is the only active admin: make another user an admin first" in out
    assert _can_sign_in(cli_db, "boss", "first password")
