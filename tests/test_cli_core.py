"""The command line an admin uses: lists, check, calls, db."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from screener.cli import build_app
from screener.settings import DatabaseSettings

Cli = Callable[..., str]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCREENER_CONFIG", raising=False)
    monkeypatch.setenv("SCREENER_DATABASE__URL", db_url)
    runner = CliRunner()
    app = build_app()

    def invoke(
        *args: str,
        input: str | None = None,
        code: int = 0,
        stdout: bool = False,
        stderr: bool = False,
    ) -> str:
        result = runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (args, result.output, result.exception)
        if stdout:
            return result.stdout
        return result.stderr if stderr else result.output

    return invoke


def columns(line: str) -> list[str]:
    """The cells of a table line (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def test_lists_lifecycle(cli: Cli) -> None:
    assert "created list 'police'" in cli("lists", "create", "police", "--kind", "trusted-brand")
    assert "added +441134960000" in cli(
        "lists", "add", "police", "0113 496 0000", "--label", "West Yorks (test)"
    )
    assert "updated +441134960000" in cli("lists", "add", "police", "+44 113 496 0000")
    out = cli("lists", "show", stdout=True).splitlines()
    assert columns(out[0]) == ["NAME", "KIND", "ACTION", "ENTRIES"]
    assert columns(out[1]) == ["police", "trusted-brand", "challenge", "1 entry"]
    shown = cli("lists", "show", "police", stdout=True).splitlines()
    assert shown[0] == "police (trusted-brand, challenge)"
    assert columns(shown[1]) == ["NUMBER", "LABEL", "FROM", "UNTIL", "ADDED BY"]
    assert columns(shown[2])[:4] == ["+441134960000", "West Yorks (test)", "-", "-"]
    cli("lists", "add", "police", "0113 496 0001")
    assert columns(cli("lists", "show", stdout=True).splitlines()[1])[3] == "2 entries"
    cli("lists", "set", "police", "--rename", "brands", "--action", "block")
    assert columns(cli("lists", "show", stdout=True).splitlines()[1])[:3] == [
        "brands",
        "trusted-brand",
        "block",
    ]
    assert "removed 01134960000 from 'brands'" in cli("lists", "remove", "brands", "01134960000")
    assert "is not on 'brands'" in cli("lists", "remove", "brands", "01134960000", code=1)
    assert "deleted list 'brands'" in cli("lists", "delete", "brands", "--yes")
    assert "no lists yet in " in cli("lists", "show")


def test_lists_show_search_uses_the_prefix_or_the_label(cli: Cli) -> None:
    cli("lists", "create", "nuisance", "--kind", "nuisance")
    cli("lists", "add", "nuisance", "0161 496 0000", "--label", "Double glazing")
    cli("lists", "add", "nuisance", "020 7946 0018", "--label", "Energy survey")
    by_number = cli("lists", "show", "nuisance", "--search", "0161 496", stdout=True)
    assert "+441614960000" in by_number and "+442079460018" not in by_number
    by_label = cli("lists", "show", "nuisance", "--search", "energy", stdout=True)
    assert "+442079460018" in by_label and "+441614960000" not in by_label
    assert "no entries match 'nothing'" in cli("lists", "show", "nuisance", "--search", "nothing")
    limited = cli("lists", "show", "nuisance", "--limit", "1")
    assert "(the first 1 entry; --limit N shows more" in limited


def test_list_errors_are_clear(cli: Cli) -> None:
    assert "--kind must be one of" in cli("lists", "create", "x", "--kind", "bogus", code=2)
    assert "--action must be one of" in cli(
        "lists", "create", "x", "--kind", "nuisance", "--action", "maybe", code=2
    )
    cli("lists", "create", "x", "--kind", "nuisance")
    assert "already exists" in cli("lists", "create", "x", "--kind", "nuisance", code=1)
    assert "no list named 'nope'" in cli("lists", "add", "nope", "020 7946 0018", code=1)
    out = cli("lists", "add", "x", "020 7123 4567", "not-a-number", code=1)
    assert "'not-a-number':" in out and "nothing was added" in out
    # All or none: the good number before the bad one was not kept.
    assert columns(cli("lists", "show", stdout=True).splitlines()[1])[3] == "0 entries"
    assert "not a date" in cli("lists", "add", "x", "07911123456", "--expires", "soon", code=2)
    assert "no list named 'nope'" in cli("lists", "show", "nope", code=1)
    assert "no list named 'nope'" in cli("lists", "delete", "nope", "--yes", code=1)


def test_sql_metacharacters_are_just_text(cli: Cli) -> None:
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


def test_check_explains_the_verdict(cli: Cli) -> None:
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


def test_check_reads_numbers_from_stdin(cli: Cli) -> None:
    out = cli(
        "check", "--json", "--file", "-", input="07911123456\n# comment\n\nanonymous\n", stdout=True
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == ["07911123456", "anonymous"]
    assert [r["action"] for r in rows] == ["allow", "challenge"]


def test_check_terminal_output_neutralises_control_characters(cli: Cli) -> None:
    out = cli("check", "\x1b[31m0207\x07")
    assert "\x1b" not in out and "\x07" not in out


def test_check_without_a_database_file_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nothing-here.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCREENER_CONFIG", raising=False)
    monkeypatch.setenv("SCREENER_DATABASE__URL", f"sqlite+aiosqlite:///{missing}")
    result = CliRunner().invoke(build_app(), ["check", "--json", "07911123456", "anonymous"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["allow", "challenge"]
    assert result.stderr.count("no lists and no call history") == 1
    assert str(missing) in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- calls ---------------------------------------------------------------------------------


async def _record(
    url: str,
    call_id: str,
    number: str,
    name: str = "",
    *,
    outcome: str | None = None,
    step: str = "decision",
    late_step_before: bool = False,
) -> None:
    """A call as the service records it: its facts and decision, its ending, its steps."""
    from screener.calls import store
    from screener.calls.screening import ScreeningService
    from screener.db.lifecycle import open_database
    from screener.domain.events import CallDecided, CallFinished, CallStarted
    from screener.domain.model import CallEnding, CallFacts
    from screener.domain.vocabulary import CallSource, Outcome, Step, TimelineKind, Verdict
    from screener.settings import Settings

    settings = Settings(database=DatabaseSettings(url=url))
    now = datetime.now(UTC)
    facts = CallFacts(number, name, "prohib" if number == "anonymous" else None, "441234", "t1")
    async with open_database(settings.database, upgrade=True) as db:
        async with db.sessions() as session:
            screening = await ScreeningService.in_session(settings, session).decide(facts)
        decision = screening.decision
        started = CallStarted(call_id, "main", CallSource.AGI, None, facts, None, now)
        async with db.sessions.begin() as session:
            store.add_call(session, started, CallDecided(call_id, "main", decision, 1.5, now))
        if outcome is not None:
            ending = CallEnding(
                Outcome(outcome), Step(step), verdict=Verdict.of(decision.action, None)
            )
            async with db.sessions.begin() as session:
                finished = CallFinished(call_id, "main", ending, now + timedelta(seconds=2))
                assert await store.finish_call(session, finished)
        if late_step_before:
            # Written last, but it happened first: the timeline is in time order.
            async with db.sessions.begin() as session:
                store.add_step(
                    session, call_id, TimelineKind.ANSWERED, now - timedelta(milliseconds=500)
                )


def test_calls_list_and_show(cli: Cli, db_url: str) -> None:
    withheld = "abcd1234" + "0" * 24
    allowed = "abcd5678" + "0" * 24
    asyncio.run(
        _record(
            db_url,
            withheld,
            "anonymous",
            "Mr <b>X</b>",
            outcome="abandoned",
            step="prompt",
            late_step_before=True,
        )
    )
    asyncio.run(_record(db_url, allowed, "07911123456", outcome="connected"))

    listing = cli("calls", "list", "--flagged", stdout=True).splitlines()
    assert columns(listing[0])[:4] == ["ID", "STARTED (UTC)", "SOURCE", "CALLER"]
    assert len(listing) == 2
    row = columns(listing[1])
    assert row[0] == withheld[:12] and row[2] == "agi" and row[3] == "withheld"
    assert "'Mr <b>X</b>'" in row and "challenge" in row and "abandoned" in row
    everything = cli("calls", "list", stdout=True)
    assert allowed[:12] in everything and withheld[:12] in everything
    decided_allow = cli("calls", "list", "--action", "allow", stdout=True)
    assert allowed[:12] in decided_allow and withheld[:12] not in decided_allow
    unfinished = cli("calls", "list", "--verdict", "challenge", stdout=True)
    assert withheld[:12] in unfinished and allowed[:12] not in unfinished
    first = json.loads(cli("calls", "list", "--json", "--flagged", stdout=True).splitlines()[0])
    assert first["id"] == withheld and first["action"] == "challenge"
    assert "--action must be one of: allow, challenge, screen, block" in cli(
        "calls", "list", "--action", "bogus", code=2
    )
    assert "--verdict must be one of" in cli("calls", "list", "--verdict", "maybe", code=2)
    assert "not a date" in cli("calls", "list", "--since", "yesterday", code=2)

    shown = cli("calls", "show", withheld[:8], stdout=True)
    assert shown == cli("calls", "show", withheld, stdout=True)
    assert f"call {withheld} (FastAGI, site main)" in shown
    assert "'Mr <b>X</b>'" in shown
    assert "decision     Challenge (challenge)" in shown
    assert "Number withheld (withheld) [challenge]" in shown
    assert "result       Challenge not finished (challenge)" in shown
    assert "outcome      Caller hung up (abandoned), during the prompt" in shown
    assert "None" not in shown
    timeline = shown.split("timeline", 1)[1]
    steps = [columns(line)[1] for line in timeline.splitlines()[1:]]
    assert steps == [
        "Answered by Screener (answered)",
        "Decided (decided)",
        "Left Screener (outcome)",
    ]

    ambiguous = cli("calls", "show", "abcd", code=1)
    assert "2 calls have an id starting 'abcd'" in ambiguous
    assert withheld in ambiguous and allowed in ambiguous
    assert "no call with id 'nope'" in cli("calls", "show", "nope", code=1)
    assert "no call with an id starting 'ffff'" in cli("calls", "show", "ffff", code=1)


def test_calls_list_with_no_calls_says_where_it_looked(cli: Cli, db_url: str) -> None:
    out = cli("calls", "list", stdout=True)
    assert out == f"no calls found in {db_url}\n"


def test_db_commands(cli: Cli) -> None:
    assert " is at 000" in cli("db", "upgrade")
    assert cli("db", "current").strip()
    assert "is at base" in cli("db", "downgrade", "base")
    assert cli("db", "current").strip() == "base"


def test_dead_database_gives_one_clear_line(tmp_path: Path) -> None:
    env = {
        "SCREENER_DATABASE__URL": "postgresql+asyncpg://screener:s3cret@127.0.0.1:1/none",
        "PATH": "/usr/bin:/bin",
    }
    for command in (["check", "07911123456"], ["lists", "show"], ["calls", "list"]):
        result = subprocess.run(
            [sys.executable, "-m", "screener", *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        assert "postgresql+asyncpg://screener:***@127.0.0.1:1/none" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
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


def test_check_decides_with_the_policy_an_admin_changed(cli: Cli, db_url: str) -> None:
    """An action changed in the console (stored in the database) is what check uses."""
    import asyncio

    from screener.application.unit_of_work import UnitOfWork
    from screener.db.lifecycle import open_database
    from screener.domain.model import Actor
    from screener.policy.service import change_actions
    from screener.settings import Settings

    async def withheld_blocked() -> None:
        settings = Settings(database=DatabaseSettings(url=db_url))
        async with open_database(settings.database, upgrade=True) as db:
            await change_actions(
                UnitOfWork(db, Actor.cli("admin")), settings, {"withheld": "block"}
            )

    assert json.loads(cli("check", "--json", "anonymous", stdout=True))["action"] == "challenge"
    asyncio.run(withheld_blocked())
    assert json.loads(cli("check", "--json", "anonymous", stdout=True))["action"] == "block"
