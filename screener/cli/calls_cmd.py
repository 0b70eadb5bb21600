"""``screener calls``: the call records (read only)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from screener.cli.common import (
    command,
    command_group,
    echo_table,
    fail,
    parse_when,
    run,
    settings_of,
)
from screener.domain.vocabulary import Action, Verdict
from screener.report import printable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from screener.db.models import Call
    from screener.settings import Settings

log = logging.getLogger(__name__)

E = TypeVar("E", bound=StrEnum)

calls_app = command_group("Call records: what happened and why.")

SHORT_ID = 12
"""Characters of a call id in ``calls list``; ``calls show`` takes any unique prefix."""

ID_ALPHABET = "0123456789abcdef"
SHOWN_MATCHES = 5


def _choice(kind: type[E], value: str | None, option: str) -> E | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        fail(f"{option} must be one of: {', '.join(member.value for member in kind)}", 2)


def _printable(text: str | None, limit: int = 80) -> str:
    return printable(text or "", limit)


def _caller(call: Call, limit: int = 24) -> str:
    if call.caller_number:
        return call.caller_number
    if call.withheld:
        return "withheld"
    return repr(_printable(call.caller_number_raw, limit))


@command(calls_app, "list")
def list_calls(
    ctx: typer.Context,
    flagged: bool = typer.Option(
        False, "--flagged", help="Only calls that were not plainly allowed."
    ),
    since: str | None = typer.Option(
        None, "--since", metavar="DATE", help="From this moment (YYYY-MM-DD[THH:MM], UTC)."
    ),
    number: str | None = typer.Option(
        None, "--number", metavar="NUMBER", help="Only calls from this number (any format)."
    ),
    action: str | None = typer.Option(
        None,
        "--action",
        metavar="ACTION",
        help=f"Only calls decided so: {', '.join(a.value for a in Action)}.",
    ),
    verdict: str | None = typer.Option(
        None,
        "--verdict",
        metavar="VERDICT",
        help=f"Only calls with this result: {', '.join(v.value for v in Verdict)}.",
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, metavar="N"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per call (JSON Lines)."),
) -> None:
    """List calls, newest first."""
    from screener.calls.queries import CallFilter
    from screener.domain.numbers import NumberAnalyser

    settings = settings_of(ctx)
    start = parse_when(since, "--since")
    e164 = NumberAnalyser(settings.numbers.region).normalise(number) if number else None
    if number and e164 is None:
        fail(f"--number: {_printable(number)!r} is not a phone number", 2)
    filters = CallFilter(
        flagged=True if flagged else None,
        action=_choice(Action, action, "--action"),
        verdict=_choice(Verdict, verdict, "--verdict"),
        number=e164,
        since=start,
    )

    async def go() -> Sequence[Call]:
        from screener.calls.queries import find_calls
        from screener.db.lifecycle import open_database

        async with open_database(settings.database) as db, db.sessions() as session:
            calls, _ = await find_calls(session, filters, None, limit)
        return calls

    calls = run(go(), settings)
    if as_json:
        for call in calls:
            typer.echo(json.dumps(_call_dict(call), ensure_ascii=False))
        return
    if not calls:
        from screener.db.lifecycle import safe_url

        typer.echo(f"no calls found in {safe_url(settings.database.url)}")
        return
    echo_table(
        (
            "ID",
            "STARTED (UTC)",
            "SOURCE",
            "CALLER",
            "NAME",
            "DECISION",
            "RESULT",
            "OUTCOME",
            "REASONS",
        ),
        (
            (
                call.id[:SHORT_ID],
                f"{call.started_at:%Y-%m-%d %H:%M:%S}",
                call.source,
                _caller(call),
                repr(_printable(call.caller_name, 20)) if call.caller_name else "-",
                call.action or "-",
                call.verdict or "-",
                call.outcome or "in progress",
                ",".join(str(r.get("code", "")) for r in call.reasons) or "-",
            )
            for call in calls
        ),
    )


def _call_dict(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "source": call.source,
        "site": call.site,
        "started_at": call.started_at.isoformat(),
        "caller_number": call.caller_number,
        "caller_number_raw": call.caller_number_raw,
        "caller_name": call.caller_name,
        "withheld": call.withheld,
        "action": call.action,
        "verdict": call.verdict,
        "outcome": call.outcome,
        "delivery": call.delivery,
        "flagged": call.flagged,
        "reasons": [r.get("code") for r in call.reasons],
        "review_state": call.review_state,
    }


@command(calls_app, "show")
def show(
    ctx: typer.Context,
    call_id: str = typer.Argument(
        ..., metavar="ID", help="A call id, or enough of its start to be unique."
    ),
) -> None:
    """Everything recorded about one call: facts, decision, result and timeline."""
    settings = settings_of(ctx)

    async def go() -> Call:
        from screener.db.lifecycle import open_database

        async with open_database(settings.database) as db, db.sessions() as session:
            return await _find(session, settings, call_id)

    for line in describe(run(go(), settings)):
        typer.echo(line)


def _next_id_char(char: str) -> str:
    return ID_ALPHABET[ID_ALPHABET.index(char) + 1] if char != "f" else "g"


async def _find(session: AsyncSession, settings: Settings, given: str) -> Call:
    """The call whose id is ``given``, or the only one whose id starts with it."""
    from sqlalchemy import func, select

    from screener.calls.queries import get_call
    from screener.db.lifecycle import safe_url
    from screener.db.models import Call

    where = safe_url(settings.database.url)
    prefix = given.strip().lower()
    if not prefix or len(prefix) > 32:
        fail(f"no call with id {_printable(given, 40)!r} in {where}")
    call = await get_call(session, prefix)
    if call is not None:
        return call
    if not set(prefix) <= set(ID_ALPHABET):
        fail(f"no call with id {_printable(given, 40)!r} in {where}")
    # A range on the primary key (not LIKE alone), so the lookup uses its index whatever
    # the database's collation.
    upper = prefix[:-1] + _next_id_char(prefix[-1])
    matching = (Call.id >= prefix, Call.id < upper, Call.id.startswith(prefix))
    ids = (
        (await session.execute(select(Call.id).where(*matching).order_by(Call.id).limit(2)))
        .scalars()
        .all()
    )
    if not ids:
        fail(f"no call with an id starting {prefix!r} in {where}")
    if len(ids) > 1:
        count = (await session.execute(select(func.count()).where(*matching))).scalar_one()
        shown = (
            (
                await session.execute(
                    select(Call.id).where(*matching).order_by(Call.id).limit(SHOWN_MATCHES)
                )
            )
            .scalars()
            .all()
        )
        more = ", ..." if count > len(shown) else ""
        fail(
            f"{count} calls have an id starting {prefix!r} ({', '.join(shown)}{more}): "
            "give more of the id"
        )
    found = await get_call(session, ids[0])
    assert found is not None
    return found


def _worded(kind: type[StrEnum], value: str | None, missing: str = "-") -> str:
    """``Put through (connected)``: the plain words and the stored code."""
    from screener.domain.labels import label

    if not value:
        return missing
    words = label(kind, value)
    return f"{words} ({value})" if words and words != value else value


def _at(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "-"


def describe(call: Call) -> list[str]:
    """What ``calls show`` prints: every recorded field in words, no empty placeholders."""
    from screener.domain import rules
    from screener.domain.labels import label
    from screener.domain.vocabulary import (
        CallSource,
        ChallengeResult,
        Delivery,
        Outcome,
        ReviewState,
        Step,
        TimelineKind,
        TranscriptStatus,
    )

    source = label(CallSource, call.source) or call.source
    lines = [f"call {call.id} ({source}, site {_printable(call.site, 64)})"]

    def field(name: str, value: str) -> None:
        lines.append(f"  {name:<13}{value}")

    field("started", _at(call.started_at))
    number = call.caller_number or ("withheld" if call.withheld else "not a number")
    field("caller", f"{_printable(call.caller_number_raw)!r} -> {number} ({call.number_type})")
    field("name", repr(_printable(call.caller_name)) if call.caller_name else "-")
    presentation = _printable(call.presentation, 64) if call.presentation else "-"
    field("presentation", presentation + (" (withheld)" if call.withheld else ""))
    field("dialled", _printable(call.did, 64) if call.did else "-")
    field("trunk", _printable(call.trunk, 128) if call.trunk else "-")
    field("decision", _worded(Action, call.action))
    for reason in call.reasons:
        code = str(reason.get("code", ""))
        lines.append(
            f"    - {rules.label(code)} ({_printable(code, 40)}) "
            f"[{_printable(str(reason.get('action', '-')), 20)}]: "
            f"{_printable(str(reason.get('explanation', '')), 500)}"
        )
        if reason.get("advice"):
            lines.append(f"      how to verify: {_printable(str(reason['advice']), 500)}")
    if call.challenge_digit or call.challenge_result or call.challenge_attempts:
        challenge = [f"digit {call.challenge_digit}"] if call.challenge_digit else []
        attempts = call.challenge_attempts
        challenge.append(f"{attempts} attempt{'' if attempts == 1 else 's'}")
        if call.challenge_result:
            challenge.append(_worded(ChallengeResult, call.challenge_result))
        field("challenge", ", ".join(challenge))
    field("result", _worded(Verdict, call.verdict, "not yet known"))
    outcome = _worded(Outcome, call.outcome, "in progress")
    if call.outcome_step:
        outcome += f", {label(Step, call.outcome_step)}"
    if call.outcome_detail:
        outcome += f": {_printable(call.outcome_detail, 200)}"
    field("outcome", outcome)
    if call.outcome:
        field("ended", _at(call.ended_at))
    if call.delivery:
        field("delivery", _worded(Delivery, call.delivery))
    if call.recording:
        field("recording", _printable(call.recording, 200))
    transcript = call.transcript
    if transcript is not None:
        said = _worded(TranscriptStatus, transcript.status)
        if transcript.text:
            said += f": {_printable(transcript.text, 500)!r}"
        elif transcript.detail:
            said += f": {_printable(transcript.detail, 200)}"
        field("said", said)
    review = _worded(ReviewState, call.review_state)
    if call.reviewed_by:
        review += f" by {_printable(call.reviewed_by, 100)}"
        if call.reviewed_at:
            review += f" at {_at(call.reviewed_at)}"
    if call.review_note:
        review += f": {_printable(call.review_note, 200)}"
    field("review", review)
    if call.decision_ms is not None:
        field("decided in", f"{call.decision_ms:.1f} ms")
    lines.append("  timeline (UTC)")
    for event in sorted(call.events, key=lambda e: (e.at, e.id)):
        detail = json.dumps(event.detail, ensure_ascii=False) if event.detail else ""
        step = _worded(TimelineKind, event.kind)
        at = f"{event.at:%H:%M:%S.%f}"[:-3]
        lines.append(f"    {at}  {step}" + (f"  {_printable(detail, 200)}" if detail else ""))
    return lines
