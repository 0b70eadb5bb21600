"""``screener lists import/export`` and ``screener check --file`` with hostile files."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from screener.cli import build_app

Invoke = Callable[..., Result]


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Invoke:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCREENER_CONFIG", raising=False)
    monkeypatch.setenv("SCREENER_DATABASE__URL", db_url)
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str, input: bytes | str | None = None, code: int = 0) -> Result:
        result = runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    invoke("lists", "create", "tps", "--kind", "registry")
    return invoke


def count(cli: Invoke, name: str = "tps") -> int:
    """The number of entries ``lists show`` gives for the list ``name``."""
    header, *rows = cli("lists", "show").stdout.splitlines()
    assert re.split(r"\s{2,}", header) == ["NAME", "KIND", "ACTION", "ENTRIES"]
    for line in rows:
        fields = re.split(r"\s{2,}", line)
        if fields[0] == name:
            return int(fields[3].split()[0])
    raise AssertionError(f"no list {name}")


def entry(cli: Invoke, number: str, name: str = "tps") -> list[str]:
    """The cells of the row of ``number`` in ``lists show NAME``."""
    for line in cli("lists", "show", name).stdout.splitlines()[2:]:
        fields = re.split(r"\s{2,}", line)
        if fields[0] == number:
            return fields
    raise AssertionError(f"{number} is not shown on {name}")


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_import_text_file_and_reimport_is_idempotent(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "tps.txt", b"# TPS\n020 7946 0018\n07700900123\n0161 496*\n\n")
    result = cli("lists", "import", "tps", path, "--source", "tps-2026-11")
    assert "read 3 lines: 3 added, 0 updated, 0 unchanged, 0 rejected in" in result.stdout
    assert count(cli) == 3
    result = cli("lists", "import", "tps", path, "--source", "tps-2026-11")
    assert "read 3 lines: 0 added, 0 updated, 3 unchanged, 0 rejected" in result.stdout
    assert count(cli) == 3
    shown = cli("lists", "show", "tps").stdout
    assert "+44161496*" in shown and "+447700900123" in shown


def test_import_from_stdin(cli: Invoke) -> None:
    result = cli("lists", "import", "tps", "-", input=b"number;label\n020 7946 0018;Acme\n")
    assert "1 added" in result.stdout
    assert entry(cli, "+442079460018")[1] == "Acme"


def test_one_bad_line_imports_nothing_and_says_why(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "tps.txt", b"020 7946 0018\nrubbish\n07700900123\n")
    result = cli("lists", "import", "tps", path, code=1)
    assert "line 2: 'rubbish': " in result.stderr
    assert "nothing was imported: 1 line rejected" in result.stderr
    assert "read 3 lines: 2 good, 1 rejected in" in result.stdout
    assert count(cli) == 0


def test_skip_invalid_imports_the_rest_and_reports_every_bad_line(
    cli: Invoke, tmp_path: Path
) -> None:
    lines = [b"020 7946 0018"] + [f"bad number {i}".encode() for i in range(30)]
    lines.append(b"07700900123")
    path = write(tmp_path, "tps.txt", b"\n".join(lines) + b"\n")
    rejects = tmp_path / "rejects.csv"
    result = cli("lists", "import", "tps", path, "--skip-invalid", "--rejects", str(rejects))
    assert "read 32 lines: 2 added, 0 updated, 0 unchanged, 30 rejected" in result.stdout
    printed = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert len(printed) == 20 and printed[0].startswith("line 2: 'bad number 0'")
    assert f"... and 10 more rejected lines (all of them are in {rejects})" in result.stderr
    with rejects.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["line", "value", "reason"] and len(rows) == 31
    assert rows[-1][:2] == ["31", "bad number 29"]
    assert count(cli) == 2


def test_hostile_file(cli: Invoke, tmp_path: Path) -> None:
    """A 10 MB line, NUL bytes, bad UTF-8, SQL in labels, bad dates: rejected, not a crash."""
    evil = "x'); DROP TABLE list_entries; --"
    data = b"".join(
        [
            b"number,label,valid_from,expires_at\n",
            b"020 7946 0018," + evil.encode() + b",,\n",
            b"0" * (10 * 1024 * 1024) + b",huge,,\n",
            b"07700\x00900123,nul,,\n",
            b"07700900124,caf\xe9,,\n",
            b"07700900125,bad date,2026-02-30,\n",
            b"07700900126,backwards,2027-01-01,2026-01-01\n",
            b"07700900127,too,many,columns,here\n",
            b"07700900128,\x1b[2Jclear screen,,\n",
        ]
    )
    path = write(tmp_path, "hostile.csv", data)
    result = cli("lists", "import", "tps", path, code=1)
    assert count(cli) == 0
    result = cli("lists", "import", "tps", path, "--skip-invalid")
    assert "read 8 lines: 2 added, 0 updated, 0 unchanged, 6 rejected" in result.stdout
    assert "line 3: " in result.stderr and "line longer than" in result.stderr
    assert "line 4: " in result.stderr and "NUL" in result.stderr
    assert "line 5: " in result.stderr and "not valid UTF-8" in result.stderr
    assert "\x00" not in result.output and "\x1b" not in result.output
    assert len(result.stderr) < 10_000
    shown = cli("lists", "show", "tps").stdout
    assert evil in shown
    assert "\x1b" not in shown


def test_non_utf8_file(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.txt", "020 7946 0018 caf\u00e9\n".encode("latin-1"))
    result = cli("lists", "import", "tps", path, code=1)
    assert "line 1: " in result.stderr and "not valid UTF-8" in result.stderr


def test_empty_file_and_only_bad_rows(cli: Invoke, tmp_path: Path) -> None:
    result = cli("lists", "import", "tps", write(tmp_path, "empty.txt", b""))
    assert "read 0 lines: 0 added" in result.stdout
    one = cli("lists", "import", "tps", write(tmp_path, "one.txt", b"020 7946 0018\n"))
    assert "read 1 line: 1 added" in one.stdout
    bad = write(tmp_path, "bad.txt", b"one\ntwo\n")
    assert (
        "nothing was imported: 2 lines rejected"
        in cli("lists", "import", "tps", bad, code=1).stderr
    )
    result = cli("lists", "import", "tps", bad, "--skip-invalid")
    assert "read 2 lines: 0 added, 0 updated, 0 unchanged, 2 rejected" in result.stdout
    assert count(cli) == 1


def test_replace(cli: Invoke, tmp_path: Path) -> None:
    cli("lists", "import", "tps", write(tmp_path, "a.txt", b"020 7946 0018\n07700900123\n"))
    result = cli("lists", "import", "tps", write(tmp_path, "b.txt", b"07700900999\n"), "--replace")
    assert "1 added" in result.stdout and "2 removed" in result.stdout
    assert count(cli) == 1


def test_usage_errors(cli: Invoke, tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"020 7946 0018\n")
    assert "no such file" in cli("lists", "import", "tps", "missing.txt", code=2).stderr
    assert (
        "--format must be" in cli("lists", "import", "tps", path, "--format", "xls", code=2).stderr
    )
    assert "no list named 'nope'" in cli("lists", "import", "nope", path, code=1).stderr
    headerless = write(tmp_path, "h.csv", b"020 7946 0018,Acme\n")
    assert "'number' column" in cli("lists", "import", "tps", headerless, code=1).stderr
    assert (
        "--format must be csv or text"
        in cli("lists", "export", "tps", "--format", "x", code=2).stderr
    )


def test_export_round_trip_through_the_cli(cli: Invoke, tmp_path: Path) -> None:
    data = (
        b"number,label,note,source,valid_from,expires_at\n"
        b'020 7946 0018,"Acme, ""Ltd""",note,ofcom,2026-01-01,2027-01-01T12:30:00+00:00\n'
        b"0161 496*,Range,,,,\n"
    )
    cli("lists", "import", "tps", write(tmp_path, "in.csv", data))
    exported = cli("lists", "export", "tps").stdout
    # A bulk import adds entries in number order; export follows the order of adding.
    assert exported.splitlines()[1:] == [
        "+44161496*,Range,,,,",
        '+442079460018,"Acme, ""Ltd""",note,ofcom,2026-01-01,2027-01-01T12:30:00+00:00',
    ]
    out = tmp_path / "out.csv"
    result = cli("lists", "export", "tps", str(out))
    assert "wrote 2 entries" in result.stderr
    assert out.read_text(encoding="utf-8") == exported
    cli("lists", "create", "copy", "--kind", "registry")
    cli("lists", "import", "copy", str(out))
    assert cli("lists", "export", "copy").stdout == exported
    text = cli("lists", "export", "tps", "-", "--format", "text").stdout
    assert text.splitlines()[1:] == ["+44161496*", "+442079460018"]
    assert (
        "no list named 'nope'" in cli("lists", "export", "nope", str(tmp_path / "x"), code=1).stderr
    )
    assert not (tmp_path / "x").exists()


def test_check_file_with_hostile_lines(cli: Invoke, tmp_path: Path) -> None:
    data = (
        b"020 7946 0018\n"
        + b"7" * (10 * 1024 * 1024)
        + b"\n0770\x00900123\n\xff\xfe\n07700900123\n"
    )
    path = write(tmp_path, "numbers.txt", data)
    result = cli("check", "--file", path, "--json", "--no-history")
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert '"number": "+442079460018"' in lines[0]
    assert '"number": null' in lines[1] and len(lines[1]) < 20_000
    assert '"number": null' in lines[2]
    assert '"number": "+447700900123"' in lines[4]
