"""``screener users``: add, list, disable, passwd, token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from screener import auth
from screener.cli import build_app
from screener.db.lifecycle import open_database
from screener.settings import DatabaseSettings


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCREENER_DATABASE__URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), input=stdin)
    return result.exit_code, result.output


def _authenticates(url: str, username: str, password: str) -> bool:
    async def go() -> bool:
        async with open_database(DatabaseSettings(url=url)) as db, db.sessions.begin() as s:
            return await auth.authenticate(s, username, password) is not None

    return asyncio.run(go())


def _token_user(url: str, secret: str) -> str | None:
    async def go() -> str | None:
        async with open_database(DatabaseSettings(url=url)) as db, db.sessions.begin() as s:
            user = await auth.user_for_token(s, secret)
            return user.username if user else None

    return asyncio.run(go())


def test_users_lifecycle(cli_db: str) -> None:
    code, out = _run(
        "users", "add", "boss", "--role", "admin", "--password-stdin", stdin="first password\n"
    )
    assert code == 0, out
    assert _authenticates(cli_db, "boss", "first password")
    code, out = _run("users", "add", "desk", stdin="desk password\ndesk password\n")
    assert code == 0, out
    code, out = _run("users", "list")
    assert "boss\tadmin\tlists\tactive" in out and "desk\treception\t-\tactive" in out
    code, out = _run("users", "add", "boss", "--password-stdin", stdin="another one\n")
    assert code == 1 and "already exists" in out
    code, out = _run("users", "add", "x", "--role", "root", "--password-stdin", stdin="pppppppp\n")
    assert code == 2
    code, out = _run("users", "add", "y", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 8" in out
    code, out = _run("users", "passwd", "boss", "--password-stdin", stdin="second password\n")
    assert code == 0
    assert not _authenticates(cli_db, "boss", "first password")
    assert _authenticates(cli_db, "boss", "second password")
    code, out = _run("users", "token", "boss", "--name", "crm")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("scr_") and _token_user(cli_db, secret) == "boss"
    code, out = _run("users", "token", "boss", "--list")
    assert "crm\tactive" in out
    token_id = out.split("\t", 1)[0]
    code, out = _run("users", "token", "boss", "--revoke", token_id)
    assert code == 0 and _token_user(cli_db, secret) is None
    code, out = _run("users", "disable", "desk")
    assert code == 0 and not _authenticates(cli_db, "desk", "desk password")
    code, out = _run("users", "disable", "nobody")
    assert code == 1 and "no user" in out
