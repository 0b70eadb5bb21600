"""``screener calls``: the call records."""

from __future__ import annotations

import json

import typer

from screener.cli.common import fail, parse_when, run, settings_of
from screener.db import calls_repo
from screener.db.lifecycle import open_database
from screener.numbers import NumberAnalyser
from screener.report import printable

calls_app = typer.Typer(no_args_is_help=True, help="Call records: what happened and why.")


@calls_app.command("list")
def list_calls(
    ctx: typer.Context,
    flagged: bool = typer.Option(
        False, "--flagged", help="Only calls that were not plainly allowed."
    ),
    since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD[THH:MM]"),
    number: str | None = typer.Option(None, "--number", help="Only calls from this number."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List calls, newest first."""
    settings = settings_of(ctx)
    start = parse_when(since, "--since")
    e164 = NumberAnalyser(settings.numbers.region).normalise(number) if number else None
    if number and e164 is None:
        fail(f"--number: {number!r} is not a phone number", 2)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions() as session:
            calls = await calls_repo.list_calls(
                session, flagged=True if flagged else None, since=start, number=e164, limit=limit
            )
        for call in calls:
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "id": call.id,
                            "started_at": call.started_at.isoformat(),
                            "caller_number": call.caller_number,
                            "caller_number_raw": call.caller_number_raw,
                            "caller_name": call.caller_name,
                            "verdict": call.verdict,
                            "outcome": call.outcome,
                            "reasons": [r["code"] for r in call.reasons],
                            "review_state": call.review_state,
                        },
                        ensure_ascii=False,
                    )
                )
                continue
            who = call.caller_number or (
                "withheld" if call.withheld else printable(call.caller_number_raw, 24)
            )
            reasons = ",".join(r["code"] for r in call.reasons)
            typer.echo(
                f"{call.id}  {call.started_at:%Y-%m-%d %H:%M:%S}  {who:<16} "
                f"{call.verdict or '-':<17} {call.outcome or 'in progress':<12} {reasons}"
            )

    run(go(), settings)


@calls_app.command("show")
def show(ctx: typer.Context, call_id: str) -> None:
    """Everything recorded about one call."""
    settings = settings_of(ctx)

    async def go() -> None:
        async with open_database(settings.database) as db, db.sessions() as session:
            call = await calls_repo.get_call(session, call_id)
            if call is None:
                fail(f"no call with id {call_id!r}")
            typer.echo(f"call {call.id} ({call.source}, site {call.site})")
            typer.echo(f"  started      {call.started_at:%Y-%m-%d %H:%M:%S %Z}")
            typer.echo(
                f"  caller       {printable(call.caller_number_raw)!r} -> "
                f"{call.caller_number or '-'} ({call.number_type})"
            )
            typer.echo(f"  name         {printable(call.caller_name)!r}")
            typer.echo(f"  presentation {call.presentation or '-'}  withheld={call.withheld}")
            typer.echo(f"  dialled      {call.did or '-'}  trunk {call.trunk or '-'}")
            typer.echo(f"  verdict      {call.verdict}  (decided {call.action})")
            for reason in call.reasons:
                typer.echo(f"    - {reason['code']} [{reason['action']}]: {reason['explanation']}")
            if call.challenge_digit or call.challenge_result:
                typer.echo(
                    f"  challenge    digit {call.challenge_digit}, "
                    f"{call.challenge_attempts} attempt(s), {call.challenge_result}"
                )
            typer.echo(
                f"  outcome      {call.outcome or 'in progress'}"
                + (f" at {call.outcome_step}" if call.outcome_step else "")
            )
            if call.recording:
                typer.echo(f"  recording    {call.recording}")
            typer.echo(
                f"  review       {call.review_state}"
                + (
                    f" by {call.reviewed_by}: {printable(call.review_note or '')}"
                    if call.reviewed_by
                    else ""
                )
            )
            typer.echo("  timeline")
            for event in call.events:
                detail = json.dumps(event.detail, ensure_ascii=False) if event.detail else ""
                typer.echo(
                    f"    {event.at:%H:%M:%S.%f}"[:-3] + f"  {event.kind}  {printable(detail, 200)}"
                )

    run(go(), settings)
