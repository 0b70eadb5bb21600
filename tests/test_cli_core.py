"""The command line an admin uses: lists, check, calls, db."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from screener.cli import build_app


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCREENER_DATABASE__URL", db_url)
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str, input: str | None = None, code: int = 0, stdout: bool = False) -> str:
        result = runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.stdout if stdout else result.output

    return invoke


def test_lists_lifecycle(cli) -> None:  # type: ignore[no-untyped-def]
    assert "created list 'police'" in cli("lists", "create", "police", "--kind", "trusted-brand")
    assert "added +441134960000" in cli(
        "lists", "add", "police", "0113 496 0000", "--label", "West Yorks (test)"
    )
    assert "updated +441134960000" in cli("lists", "add", "police", "+44 113 496 0000")
    out = cli("lists", "show")
    assert "police\ttrusted-brand\tchallenge\t1 entries" in out
    assert "+441134960000\tWest Yorks (test)" in cli("lists", "show", "police")
    cli("lists", "set", "police", "--rename", "brands", "--action", "block")
    assert "brands\ttrusted-brand\tblock" in cli("lists", "show")
    assert "removed" in cli("lists", "remove", "brands", "01134960000")
    assert "is not on" in cli("lists", "remove", "brands", "01134960000", code=1)
    cli("lists", "delete", "brands", "--yes")
    assert "no lists yet" in cli("lists", "show")


def test_list_errors_are_clear(cli) -> None:  # type: ignore[no-untyped-def]
    assert "--kind must be one of" in cli("lists", "create", "x", "--kind", "bogus", code=2)
    cli("lists", "create", "x", "--kind", "nuisance")
    assert "already exists" in cli("lists", "create", "x", "--kind", "nuisance", code=1)
    assert "no list named 'nope'" in cli("lists", "add", "nope", "0207", code=1)
    out = cli("lists", "add", "x", "020 7123 4567", "not-a-number", code=1)
    assert "nothing was added" in out
    # All or none: the good number before the bad one was not kept.
    assert "0 entries" in cli("lists", "show")
    assert "not a date" in cli("lists", "add", "x", "07911123456", "--expires", "soon", code=2)


def test_sql_metacharacters_are_just_text(cli) -> None:  # type: ignore[no-untyped-def]
    cli("lists", "create", "x'; DROP TABLE lists;--", "--kind", "nuisance")
    cli(
        "lists",
        "add",
        "x'; DROP TABLE lists;--",
        "07911123456",
        "--label",
        "'); DELETE FROM calls;--",
    )
    out = cli("lists", "show", "x'; DROP TABLE lists;--")
    assert "'); DELETE FROM calls;--" in out


def test_check_explains_the_verdict(cli) -> None:  # type: ignore[no-untyped-def]
    cli("lists", "create", "dno", "--kind", "do-not-originate")
    cli("lists", "add", "dno", "0300 200 3300", "--label", "HMRC helpline")
    out = cli("check", "03002003300", "anonymous")
    assert "-> +443002003300" in out
    assert "action: BLOCK" in out
    assert "do_not_originate [block]" in out and "how to verify" in out
    assert "anonymous -> withheld (withheld)" in out
    lines = cli(
        "check",
        "--json",
        "--withheld",
        "--trunk",
        "t1",
        "--did",
        "441234",
        "02071234567",
        stdout=True,
    )
    data = json.loads(lines)
    assert data["number"] == "+442071234567" and data["withheld"] is True
    assert data["action"] == "challenge"
    assert [r["code"] for r in data["reasons"]] == ["withheld"]


def test_check_reads_numbers_from_stdin(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli(
        "check", "--json", "--file", "-", input="07911123456\n# comment\n\nanonymous\n", stdout=True
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == ["07911123456", "anonymous"]
    assert [r["action"] for r in rows] == ["allow", "challenge"]


def test_check_terminal_output_neutralises_control_characters(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("check", "\x1b[31m0207\x07")
    assert "\x1b" not in out and "\x07" not in out


def test_calls_list_and_show(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from screener.db import calls_repo
    from screener.db.lifecycle import open_database
    from screener.domain import CallFacts
    from screener.screening import ScreeningService
    from screener.settings import DatabaseSettings, Settings

    settings = Settings(database=DatabaseSettings(url=db_url))

    async def seed() -> str:
        async with open_database(settings.database) as db:
            service = ScreeningService(settings, db.sessions)
            facts = CallFacts("anonymous", "Mr <b>X</b>", "prohib", "441234", "trunk")
            decision = await service.decide(facts)
            async with db.sessions.begin() as session:
                call = await calls_repo.record_call(session, facts, decision.verdict)
                await calls_repo.finish_call(session, call.id, outcome="abandoned", step="prompt")
            return call.id

    call_id = asyncio.run(seed())
    listing = cli("calls", "list", "--flagged")
    assert call_id in listing and "withheld" in listing and "abandoned" in listing
    assert call_id in json.loads(cli("calls", "list", "--json", stdout=True).splitlines()[0])["id"]
    shown = cli("calls", "show", call_id)
    assert "Mr <b>X</b>" in shown and "outcome      abandoned at prompt" in shown
    assert "decided" in shown and "withheld [challenge]" in shown
    assert "no call with id" in cli("calls", "show", "nope", code=1)
    assert "not a date" in cli("calls", "list", "--since", "yesterday", code=2)


def test_db_commands(cli) -> None:  # type: ignore[no-untyped-def]
    assert "is at 0001" in cli("db", "upgrade") or "is at 000" in cli("db", "upgrade")
    assert cli("db", "current").strip()
    assert "is at base" in cli("db", "downgrade", "base")
    assert cli("db", "current").strip() == "base"


def test_dead_database_gives_one_clear_line(tmp_path: Path) -> None:
    env = {
        "SCREENER_DATABASE__URL": "postgresql+asyncpg://screener:s3cret@127.0.0.1:1/none",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "screener", "check", "07911123456"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot open the database at postgresql+asyncpg://screener:***@"
    )
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[numbers]\nregion = "ZZ"\n')
    result = subprocess.run(
        [sys.executable, "-m", "screener", "--config", str(config), "check", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "numbers.region" in result.stderr


def test_check_file_reads_an_enormous_line_in_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    from screener.cli.check_cmd import _numbers_from

    path = tmp_path / "numbers.txt"
    with path.open("wb") as handle:
        handle.write(b"07911123456\n")
        handle.write(b"9" * 50_000_000 + b"\n")
        handle.write(b"anonymous\n")
    tracemalloc.start()
    try:
        numbers = list(_numbers_from(str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert numbers[0] == "07911123456" and numbers[2] == "anonymous"
    assert len(numbers) == 3 and len(numbers[1]) == 1024
    assert peak < 2_000_000
