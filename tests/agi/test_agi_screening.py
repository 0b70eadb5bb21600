"""FastAGI screen and outcome requests against the real server and database."""

from __future__ import annotations

import asyncio
import re

import pytest

from screener.calls.queries import CallFilter, find_calls, get_call
from screener.domain.events import CallDecided, CallDelivered, CallFinished, CallStarted
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import ListKind
from screener.lists import repo as lists_repo
from tests.agi.conftest import RunningAgi, agi_call

CALL_ID = re.compile(r"^[0-9a-f]{32}$")


async def put_on_list(agi: RunningAgi, kind: ListKind, number: str) -> None:
    async with agi.database.sessions() as session:
        number_list = await lists_repo.create_list(session, f"{kind.value} list", kind)
        await lists_repo.add_entry(
            session,
            NumberAnalyser("GB"),
            number_list,
            lists_repo.EntryInput(value=number),
            added_by="test",
        )
        await session.commit()


def drain_kinds(agi: RunningAgi) -> list[type]:
    kinds: list[type] = []
    while not agi.events.queue.empty():
        kinds.append(type(agi.events.queue.get_nowait()))
    return kinds


async def test_contact_is_allowed_and_recorded_with_agi_facts(agi: RunningAgi) -> None:
    await put_on_list(agi, ListKind.CONTACTS, "020 7123 4567")
    result = await agi_call(
        agi.port, callerid="02071234567", calleridname="Acme Ltd", args=("01619999999",)
    )
    variables = result.variables
    assert variables["SCREENER_VERDICT"] == "allow"
    assert variables["SCREENER_REASONS"] == "allow_list"
    assert CALL_ID.match(variables["SCREENER_CALL_ID"])
    assert "SCREENER_DIGIT" not in variables
    assert result.closed_by_server
    await agi.written()
    async with agi.database.sessions() as session:
        call = await get_call(session, variables["SCREENER_CALL_ID"])
    assert call is not None
    assert call.source == "agi"
    assert call.site == "hq"
    assert call.caller_number == "+442071234567"
    assert call.caller_name == "Acme Ltd"
    assert call.did == "01619999999"  # the first argument wins over agi_dnid
    assert call.trunk == "carrier"
    assert call.channel_id == "1763800000.42"
    assert call.presentation == "allowed_not_screened"
    assert drain_kinds(agi) == [CallStarted, CallDecided]


@pytest.mark.parametrize(
    ("callerid", "callingpres", "reason"),
    [
        ("unknown", "0", "withheld"),
        ("+447911123456", "32", "withheld"),
        ("+447911123456", "67", "withheld"),
        ("09098790123", "0", "drama_range"),
        ("+4402079460123", "0", "malformed_cli"),
    ],
)
async def test_suspicious_callers_are_challenged_with_a_digit(
    agi: RunningAgi, callerid: str, callingpres: str, reason: str
) -> None:
    result = await agi_call(agi.port, callerid=callerid, callingpres=callingpres)
    variables = result.variables
    assert variables["SCREENER_VERDICT"] == "challenge"
    assert reason in variables["SCREENER_REASONS"].split(",")
    assert variables["SCREENER_DIGIT"] in set("123456789")
    await agi.written()
    async with agi.database.sessions() as session:
        call = await get_call(session, variables["SCREENER_CALL_ID"])
    assert call is not None
    assert call.challenge_digit == variables["SCREENER_DIGIT"]
    assert call.action == "challenge"


async def test_nuisance_caller_is_blocked(agi: RunningAgi) -> None:
    await put_on_list(agi, ListKind.NUISANCE, "+44 161 555 0100")
    result = await agi_call(agi.port, callerid="01615550100")
    assert result.variables["SCREENER_VERDICT"] == "block"
    assert result.variables["SCREENER_REASONS"] == "block_list"
    assert "SCREENER_DIGIT" not in result.variables


async def test_outcome_is_recorded_once_and_a_passed_challenge_lets_the_next_call_in(
    agi: RunningAgi,
) -> None:
    premium = "09012345678"
    first = await agi_call(agi.port, callerid=premium)
    assert first.variables["SCREENER_VERDICT"] == "challenge"
    call_id = first.variables["SCREENER_CALL_ID"]
    await agi.written()
    drain_kinds(agi)

    recorded = await agi_call(agi.port, "outcome", args=(call_id, "passed"))
    assert recorded.variables == {"SCREENER_OUTCOME": "recorded"}
    again = await agi_call(agi.port, "outcome", args=(call_id, "failed"))
    assert again.variables == {"SCREENER_OUTCOME": "already-recorded"}
    # The hangup handler then says how the call it put through ended.
    answered = await agi_call(agi.port, "outcome", args=(call_id, "answered"))
    assert answered.variables == {"SCREENER_OUTCOME": "recorded"}
    later = await agi_call(agi.port, "outcome", args=(call_id, "busy"))
    assert later.variables == {"SCREENER_OUTCOME": "already-recorded"}
    assert drain_kinds(agi) == [CallFinished, CallDelivered]

    async with agi.database.sessions() as session:
        call = await get_call(session, call_id)
    assert call is not None
    # The same words as a call over ARI: the decision stays, the result is written once.
    assert (call.action, call.verdict, call.outcome) == (
        "challenge",
        "challenge-passed",
        "connected",
    )
    assert call.challenge_result == "passed"
    assert call.delivery == "answered"
    assert [e.kind for e in call.events] == ["decided", "outcome", "delivery"]

    second = await agi_call(agi.port, callerid=premium)
    assert second.variables["SCREENER_VERDICT"] == "allow"
    assert "recent_challenge_passed" in second.variables["SCREENER_REASONS"]


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("0" * 32, "answered"), "unknown-call"),
        (("not-a-call-id", "answered"), "invalid"),
        (("a" * 32, "exploded"), "invalid"),
        (("a" * 32,), "invalid"),
        ((), "invalid"),
        (("'; DROP TABLE calls; --", "$(reboot)"), "invalid"),
    ],
)
async def test_bad_outcome_requests_are_refused(
    agi: RunningAgi, args: tuple[str, ...], status: str
) -> None:
    result = await agi_call(agi.port, "outcome", args=args)
    assert result.variables == {"SCREENER_OUTCOME": status}
    assert drain_kinds(agi) == []


async def test_concurrent_sessions_each_get_their_own_verdict(agi: RunningAgi) -> None:
    numbers = [f"+4479111{n:05d}" for n in range(40)]
    results = await asyncio.gather(
        *(agi_call(agi.port, callerid=n, uniqueid=f"1763800000.{i}") for i, n in enumerate(numbers))
    )
    ids = {r.variables["SCREENER_CALL_ID"] for r in results}
    assert len(ids) == len(numbers)
    assert all(r.variables["SCREENER_VERDICT"] == "allow" for r in results)
    await agi.written()
    async with agi.database.sessions() as session:
        calls, _ = await find_calls(session, CallFilter(), limit=100)
    assert sorted(c.caller_number or "" for c in calls) == sorted(numbers)
    assert {c.channel_id for c in calls} == {f"1763800000.{i}" for i in range(len(numbers))}
    assert agi.handler.active == 0
