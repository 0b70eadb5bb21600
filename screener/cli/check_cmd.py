"""``screener check``: what Screener would do with a call from a number, and why."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import typer

from screener.cli.common import fail, run, settings_of
from screener.db.lifecycle import open_database
from screener.domain import CallFacts
from screener.report import verdict_as_dict, verdict_as_text
from screener.screening import ScreeningService, build_policy, load_policy_overrides
from screener.settings import Settings

MAX_LINE = 1024
"""A line longer than this is not a phone number; it is checked as given, truncated."""


def _bounded_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Lines of at most ``MAX_LINE`` bytes; the rest of a longer line is read and dropped,
    so one enormous line never sits in memory whole."""
    while True:
        line = stream.readline(MAX_LINE)
        if not line:
            return
        if not line.endswith(b"\n"):
            while True:
                rest = stream.readline(64 * 1024)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


def _numbers_from(path: str) -> Iterator[str]:
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    try:
        for raw in _bounded_lines(stream):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.strip() and not line.lstrip().startswith("#"):
                yield line.strip()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def check(
    ctx: typer.Context,
    numbers: list[str] = typer.Argument(None, help="Caller numbers as presented."),
    name: str = typer.Option("", "--name", help="Caller name as presented."),
    did: str | None = typer.Option(None, "--did", help="The number that was dialled."),
    withheld: bool = typer.Option(False, "--withheld", help="Presentation was prohibited."),
    trunk: str | None = typer.Option(None, "--trunk", help="Trunk (endpoint) the call came in on."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per number (JSON Lines)."),
    file: str | None = typer.Option(
        None, "--file", "-f", help="Read numbers, one a line (- for stdin)."
    ),
    history: bool = typer.Option(True, "--history/--no-history", help="Include recent calls."),
) -> None:
    """Show the normalised number, its type, list matches, the action and every reason."""
    settings = settings_of(ctx)
    if not numbers and file is None:
        fail("give numbers to check, or --file FILE (- for standard input)", 2)
    if file is not None and file != "-" and not Path(file).is_file():
        fail(f"--file: {file}: no such file", 2)
    run(
        _check_all(settings, numbers or [], file, name, did, withheld, trunk, as_json, history),
        settings,
    )


async def _check_all(
    settings: Settings,
    numbers: list[str],
    file: str | None,
    name: str,
    did: str | None,
    withheld: bool,
    trunk: str | None,
    as_json: bool,
    history: bool,
) -> None:
    async with open_database(settings.database) as database:
        async with database.sessions() as session:
            policy = build_policy(settings, await load_policy_overrides(session))
        service = ScreeningService(settings, database.sessions, policy)
        sources: list[Iterator[str]] = [iter(numbers)]
        if file is not None:
            sources.append(_numbers_from(file))
        async with database.sessions() as session:
            for source in sources:
                for given in source:
                    facts = CallFacts(
                        caller_number=given[:MAX_LINE],
                        caller_name=name,
                        presentation="prohib" if withheld else None,
                        did=did,
                        trunk=trunk,
                    )
                    decision = await service.decide(facts, session, use_history=history)
                    if as_json:
                        out = verdict_as_dict(decision.verdict, given[:MAX_LINE])
                        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
                    else:
                        sys.stdout.write(verdict_as_text(decision.verdict, given) + "\n")
                    sys.stdout.flush()
