"""The command line starts fast and its help is plain.

``screener check`` runs from scripts, a number at a time: the CLI must not import the web
console, the service, the migrations or speech to text to answer it. Every command's
``--help`` is plain text (no Python types) and says which database it uses.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from screener.cli import LAZY_COMMANDS, build_app
from screener.cli.common import DEFAULT_DATABASE_URL
from screener.db import migrate
from screener.settings import DatabaseSettings

HEAVY = (
    "fastapi",
    "uvicorn",
    "starlette",
    "jinja2",
    "alembic",
    "httpx",
    "faster_whisper",
    "screener.web",
    "screener.composition",
    "screener.demo",
    "screener.speech",
    "screener.cli.run_cmd",
    "screener.cli.speech_cmd",
)

LOADED = """
import json, sys
{before}
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy
                        or any(m.startswith(h + ".") for h in heavy))))
"""


def loaded_after(code: str, tmp_path: Path, url: str) -> list[str]:
    """The heavy modules imported once ``code`` has run in a fresh interpreter."""
    script = LOADED.format(before=code, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"SCREENER_DATABASE__URL": url, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


CHECK = """
from screener.cli import build_app
try:
    build_app()(["check", "07911123456", "--no-history"], standalone_mode=False)
except SystemExit:
    pass
"""


def test_importing_the_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    code = "import screener.cli\nscreener.cli.build_app()"
    assert loaded_after(code, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}") == []


def test_check_imports_neither_the_console_nor_the_migrations(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    assert loaded_after(CHECK, tmp_path, missing) == []
    existing = f"sqlite+aiosqlite:///{tmp_path / 'screener.db'}"
    migrate.upgrade(existing)
    assert loaded_after(CHECK, tmp_path, existing) == []


def test_check_on_sqlite_reads_with_the_stdlib_driver(tmp_path: Path) -> None:
    """SQLAlchemy's import is most of a short command's start-up: a check on SQLite reads
    the file as the service's per-call reads do, with :mod:`sqlite3`."""
    existing = f"sqlite+aiosqlite:///{tmp_path / 'screener.db'}"
    migrate.upgrade(existing)
    code = CHECK.replace('"--no-history"', '"--json"')
    script = code + "\nimport sys\nprint(sorted(m for m in sys.modules if 'sqlalchemy' in m))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"SCREENER_DATABASE__URL": existing, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    decided, modules = result.stdout.strip().splitlines()
    assert json.loads(decided)["action"] == "allow"
    assert modules == "[]"


def test_check_on_a_database_with_no_schema_yet(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh PostgreSQL database (or an empty SQLite file) holds no lists: check says so,
    creates no tables, and decides on the number alone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCREENER_CONFIG", raising=False)
    if db_url.startswith("sqlite"):
        (tmp_path / "screener.db").touch()
    monkeypatch.setenv("SCREENER_DATABASE__URL", db_url)
    result = CliRunner().invoke(build_app(), ["check", "--json", "07911123456"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["action"] == "allow"
    assert "has no Screener tables yet" in result.stderr
    assert migrate.current(db_url) is None


def test_lazy_commands_are_listed_with_their_own_summary() -> None:
    app = build_app()
    runner = CliRunner()
    listing = " ".join(runner.invoke(app, ["--help"]).output.split())
    for name, lazy in LAZY_COMMANDS.items():
        assert f" {name} {lazy.summary}" in listing, name
        loaded = lazy.load(name)
        assert loaded.get_short_help_str(200) == lazy.summary, name
        assert runner.invoke(app, [name, "--help"]).exit_code == 0


def _commands(args: list[str], app_help: str) -> list[list[str]]:
    """Every command path below ``args``, from the ``Commands:`` section of its help."""
    if "Commands:" not in app_help:
        return [args]
    section = app_help.split("Commands:", 1)[1]
    names = re.findall(r"^  ([a-z][a-z-]*)\s", section, re.M)
    found: list[list[str]] = []
    for name in names:
        sub = [*args, name]
        help_text = CliRunner().invoke(build_app(), [*sub, "--help"]).output
        found += _commands(sub, help_text)
    return found


def test_help_is_plain_and_names_the_database() -> None:
    runner = CliRunner()
    top = runner.invoke(build_app(), ["--help"]).output
    commands = _commands([], top)
    assert ["check"] in commands and ["lists", "import"] in commands
    assert ["speech", "analyse"] in commands and ["demo"] in commands
    for command in commands:
        out = runner.invoke(build_app(), [*command, "--help"], env={"COLUMNS": "100"}).output
        assert not re.search(r"<\w", out), (command, out)
        assert "{" not in out.split("\n", 1)[0], (command, out)
        if command[0] in ("lists", "calls", "users", "check", "run"):
            text = " ".join(out.split())
            assert f"database in database.url (default {DEFAULT_DATABASE_URL}" in text, command


def test_the_default_database_in_the_help_is_the_settings_default() -> None:
    assert DatabaseSettings().url == DEFAULT_DATABASE_URL
