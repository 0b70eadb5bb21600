"""Every change made from the command line is a use case: one transaction, one audit record
from ``cli`` by the operating system user (or ``--added-by``), and the use cases' rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from screener.cli import build_app
from screener.db.lifecycle import open_database
from screener.db.models import AuditEntry, ListEntry, User
from screener.settings import DatabaseSettings

OS_USER = "opsadmin"


@dataclass(frozen=True)
class Audited:
    actor: str
    via: str
    action: str
    target: str
    detail: dict[str, Any]


Cli = Callable[..., str]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCREENER_CONFIG", raising=False)
    monkeypatch.setenv("SCREENER_DATABASE__URL", db_url)
    # getpass.getuser() reads these first: the OS user the CLI audits changes under.
    monkeypatch.setenv("LOGNAME", OS_USER)
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str, input: str | None = None, code: int = 0) -> str:
        result = runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return invoke


def read(url: str, statement: Any) -> list[Any]:
    """The rows ``statement`` selects, straight from the database."""

    async def go() -> list[Any]:
        async with (
            open_database(DatabaseSettings(url=url), upgrade=False) as db,
            db.sessions() as session,
        ):
            return list((await session.execute(statement)).scalars().all())

    return asyncio.run(go())


def audit_log(url: str) -> list[Audited]:
    rows = read(url, select(AuditEntry).order_by(AuditEntry.id))
    return [Audited(r.actor, r.via, r.action, r.target, dict(r.detail)) for r in rows]


def entries(url: str) -> list[str]:
    return [str(value) for value in read(url, select(ListEntry.value).order_by(ListEntry.value))]


def user_active(url: str, username: str) -> bool:
    (user,) = read(url, select(User).where(User.username == username))
    return bool(user.active)


def audited_by(cli: Cli, url: str, *args: str, input: str | None = None) -> Audited:
    """Run a command that changes something: it leaves exactly one audit record."""
    before = len(audit_log(url)) if _has_schema(url) else 0
    cli(*args, input=input)
    after = audit_log(url)
    assert len(after) == before + 1, (args, after[before:])
    return after[-1]


def _has_schema(url: str) -> bool:
    try:
        audit_log(url)
    except Exception:
        return False
    return True


def test_every_list_change_is_audited_as_from_the_command_line(
    cli: Cli, db_url: str, tmp_path: Path
) -> None:
    created = audited_by(cli, db_url, "lists", "create", "nuisance", "--kind", "nuisance")
    assert (created.via, created.actor, created.action, created.target) == (
        "cli",
        OS_USER,
        "list.create",
        "nuisance",
    )
    added = audited_by(
        cli,
        db_url,
        "lists",
        "add",
        "nuisance",
        "020 7946 0018",
        "07700 900123",
        "--added-by",
        "bob",
    )
    assert (added.via, added.actor, added.action) == ("cli", "bob", "entry.add")
    assert added.detail["values"] == ["+442079460018", "+447700900123"]
    changed = audited_by(cli, db_url, "lists", "set", "nuisance", "--action", "block")
    assert (changed.via, changed.action) == ("cli", "list.update")
    assert changed.detail["after"]["action"] == "block"
    removed = audited_by(cli, db_url, "lists", "remove", "nuisance", "07700900123")
    assert (removed.via, removed.actor, removed.action) == ("cli", OS_USER, "entry.remove")
    assert removed.detail["values"] == ["07700900123"]

    numbers = tmp_path / "numbers.txt"
    numbers.write_text("0161 496 0000\n0161 496 0001\n")
    imported = audited_by(
        cli, db_url, "lists", "import", "nuisance", str(numbers), "--added-by", "carol"
    )
    assert (imported.via, imported.actor, imported.action) == ("cli", "carol", "list.import")
    assert imported.target == "nuisance" and imported.detail["added"] == 2
    exported = audited_by(cli, db_url, "lists", "export", "nuisance", str(tmp_path / "out.csv"))
    assert (exported.via, exported.action, exported.detail["entries"]) == ("cli", "list.export", 3)
    deleted = audited_by(cli, db_url, "lists", "delete", "nuisance", "--yes")
    assert (deleted.via, deleted.actor, deleted.action) == ("cli", OS_USER, "list.delete")
    assert entries(db_url) == []


def test_a_refused_change_changes_nothing_and_is_not_audited(cli: Cli, db_url: str) -> None:
    cli("lists", "create", "nuisance", "--kind", "nuisance")
    before = audit_log(db_url)
    assert "already exists" in cli("lists", "create", "nuisance", "--kind", "nuisance", code=1)
    assert "no list named 'nope'" in cli("lists", "add", "nope", "020 7946 0018", code=1)
    assert "nothing was added" in cli("lists", "add", "nuisance", "020 7946 0018", "x", code=1)
    assert audit_log(db_url) == before
    assert entries(db_url) == []


def test_allowing_an_impersonated_number_needs_the_override(cli: Cli, db_url: str) -> None:
    cli("lists", "create", "hmrc", "--kind", "do-not-originate")
    cli("lists", "add", "hmrc", "0300 200 3300", "--label", "HMRC helpline")
    cli("lists", "create", "contacts", "--kind", "contacts")
    before = audit_log(db_url)

    refused = cli("lists", "add", "contacts", "0300 200 3300", "020 7946 0018", code=1)
    assert "+443002003300 is on \u201chmrc\u201d (do-not-originate)" in refused
    # A do-not-originate number: an allow entry would change nothing but hide the warning.
    assert "would change nothing" in refused and "--override-impersonation" in refused
    assert audit_log(db_url) == before
    assert entries(db_url) == ["+443002003300"]  # only the do-not-originate entry

    overridden = audited_by(
        cli,
        db_url,
        "lists",
        "add",
        "contacts",
        "0300 200 3300",
        "020 7946 0018",
        "--override-impersonation",
    )
    assert (overridden.via, overridden.action) == ("cli", "entry.add")
    assert overridden.detail["impersonation_override"] == ["+443002003300"]
    assert entries(db_url) == ["+442079460018", "+443002003300", "+443002003300"]


def test_the_override_is_shown(cli: Cli, db_url: str) -> None:
    cli("lists", "create", "brands", "--kind", "trusted-brand")
    cli("lists", "add", "brands", "0345 734 5345")
    cli("lists", "create", "contacts", "--kind", "contacts")
    out = cli("lists", "add", "contacts", "0345 734 5345", "--override-impersonation")
    assert "added +443457345345 on 'contacts'" in out
    assert "warning: +443457345345 is on 'brands' (trusted-brand)" in out
    assert "the audit log records that" in out


def test_user_changes_are_audited_and_the_last_admin_stays(cli: Cli, db_url: str) -> None:
    created = audited_by(
        cli, db_url, "users", "add", "boss", "--role", "admin", "--password-stdin",
        input="first password\n",
    )  # fmt: skip
    assert (created.via, created.actor, created.action, created.target) == (
        "cli",
        OS_USER,
        "user.create",
        "boss",
    )
    before = audit_log(db_url)
    refused = cli("users", "disable", "boss", code=1)
    assert "error: 'boss' is the only active admin: make another user an admin first" in refused
    assert user_active(db_url, "boss")
    assert audit_log(db_url) == before

    cli("users", "add", "deputy", "--role", "admin", "--password-stdin", input="second pass\n")
    disabled = audited_by(cli, db_url, "users", "disable", "boss")
    assert (disabled.via, disabled.action) == ("cli", "user.update")
    assert (disabled.detail["before"]["active"], disabled.detail["after"]["active"]) == (
        True,
        False,
    )
    assert not user_active(db_url, "boss")
    assert "disabled" in cli("users", "list")
    enabled = audited_by(cli, db_url, "users", "enable", "boss")
    assert enabled.action == "user.update" and user_active(db_url, "boss")
    password = audited_by(
        cli, db_url, "users", "passwd", "boss", "--password-stdin", input="third password\n"
    )
    assert (password.via, password.action) == ("cli", "user.password")
    token = audited_by(cli, db_url, "users", "token", "boss", "--name", "crm")
    assert (token.via, token.action, token.detail) == ("cli", "token.create", {"name": "crm"})
    revoked = audited_by(cli, db_url, "users", "token", "boss", "--revoke", "1")
    assert (revoked.via, revoked.action) == ("cli", "token.revoke")
