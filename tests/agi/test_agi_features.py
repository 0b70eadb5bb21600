"""The desk phone's feature codes against the real FastAGI server and database.

Every call here is screened and reported the way a PBX does it: ``/screen`` when it
arrives, ``/outcome,CALL_ID,answered,EXTENSION`` from the hangup handler; then the
receptionist's feature code is a real AGI session with the handset's caller ID number.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select, text

from screener.audit.log import search as audit_search
from screener.calls.queries import get_call
from screener.db.models import Call, ListEntry, NumberList
from screener.domain.events import CallReviewed, ListChanged
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import (
    AuditAction,
    FeatureReason,
    FeatureResult,
    ListKind,
    PhoneFeature,
    Via,
)
from screener.lists import repo as lists_repo
from tests.agi.conftest import AgiTranscript, RunningAgi, agi_call

CALLER = "+441134960123"
SPOKEN = "01134960123"  # how the office dials it back


async def answered_call(
    agi: RunningAgi,
    callerid: str = CALLER,
    *,
    extension: str | None = "101",
    callingpres: str = "0",
    did: str | None = None,
    word: str = "answered",
) -> str:
    """A call screened over FastAGI and reported by the hangup handler (answered at
    ``extension``); its call id."""
    screened = await agi_call(
        agi.port, callerid=callerid, callingpres=callingpres, args=(did,) if did else ()
    )
    call_id = screened.variables["SCREENER_CALL_ID"]
    report = (call_id, word) if extension is None else (call_id, word, extension)
    reply = await agi_call(agi.port, "outcome", args=report)
    assert reply.variables == {"SCREENER_OUTCOME": "recorded"}
    return call_id


async def dial_feature(
    agi: RunningAgi, feature: PhoneFeature, args: Sequence[str], callerid: str = "101"
) -> dict[str, str]:
    """The receptionist dials the feature code: a session from the handset's channel."""
    result: AgiTranscript = await agi_call(
        agi.port,
        feature.value,
        args=tuple(args),
        callerid=callerid,
        channel="PJSIP/reception-00000031",
        uniqueid="1763800100.7",
    )
    assert result.closed_by_server
    variables = result.variables
    assert set(variables) == {
        "SCREENER_FEATURE_RESULT",
        "SCREENER_FEATURE_REASON",
        "SCREENER_FEATURE_NUMBER",
        "SCREENER_FEATURE_CALL_ID",
    }
    return variables


async def entries(agi: RunningAgi, list_name: str) -> list[ListEntry]:
    async with agi.database.sessions() as session:
        rows = await session.execute(
            select(ListEntry).join(NumberList).where(NumberList.name == list_name)
        )
        return list(rows.scalars())


async def phone_audit(agi: RunningAgi, actor: str = "extension 101") -> list[object]:
    async with agi.database.sessions() as session:
        return list(await audit_search(session, actor=actor))


def published(agi: RunningAgi, kind: type) -> list[object]:
    found = []
    while not agi.events.queue.empty():
        event = agi.events.queue.get_nowait()
        if isinstance(event, kind):
            found.append(event)
    return found


async def test_block_last_caller_puts_the_number_on_the_block_list_as_the_extension(
    agi: RunningAgi,
) -> None:
    call_id = await answered_call(agi)
    await agi.written()
    published(agi, ListChanged)

    variables = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])

    assert variables == {
        "SCREENER_FEATURE_RESULT": "ok",
        "SCREENER_FEATURE_REASON": "",
        "SCREENER_FEATURE_NUMBER": SPOKEN,
        "SCREENER_FEATURE_CALL_ID": call_id,
    }
    [entry] = await entries(agi, "Blocked from console")
    assert (entry.value, entry.added_by, entry.source) == (
        CALLER,
        "extension 101",
        f"call {call_id}",
    )
    [audit] = await phone_audit(agi)
    assert (audit.actor, audit.via, audit.address, audit.action) == (  # type: ignore[attr-defined]
        "extension 101",
        Via.PHONE.value,
        "127.0.0.1",
        AuditAction.ENTRY_ADD.value,
    )
    assert audit.detail["call_id"] == call_id  # type: ignore[attr-defined]
    [event] = published(agi, ListChanged)
    assert event.actor.via is Via.PHONE  # type: ignore[attr-defined]
    async with agi.database.sessions() as session:
        call = await get_call(session, call_id)
    assert call is not None
    assert call.delivered_to == "101"
    steps = [(e.kind, e.detail) for e in call.events]
    assert ("delivery", {"delivery": "answered", "to": "101"}) in steps
    assert ("blocked", {"list": "Blocked from console", "by": "extension 101"}) in steps

    # The next call from that number is blocked by the entry.
    again = await agi_call(agi.port, callerid=CALLER, uniqueid="1763800200.1")
    assert again.variables["SCREENER_VERDICT"] == "block"
    assert "block_list" in again.variables["SCREENER_REASONS"].split(",")


async def test_allow_last_caller_lets_their_next_call_straight_through(agi: RunningAgi) -> None:
    mobile = "+447700900123"
    first = await answered_call(agi, mobile, callingpres="32")  # withheld, number known
    await agi.written()

    variables = await dial_feature(agi, PhoneFeature.ALLOW_LAST, ["101"])

    assert variables["SCREENER_FEATURE_RESULT"] == "ok"
    assert variables["SCREENER_FEATURE_CALL_ID"] == first
    assert variables["SCREENER_FEATURE_NUMBER"] == ""  # a withheld number is never read out
    [entry] = await entries(agi, "Allowed from console")
    assert entry.value == mobile
    [audit] = await phone_audit(agi)
    assert audit.action == AuditAction.ENTRY_ADD.value  # type: ignore[attr-defined]
    after = await agi_call(agi.port, callerid=mobile, callingpres="32", uniqueid="1.9")
    assert after.variables["SCREENER_VERDICT"] == "allow"
    assert "allow_list" in after.variables["SCREENER_REASONS"].split(",")


async def test_report_last_call_marks_it_scam_and_keeps_the_reviewers_note(
    agi: RunningAgi,
) -> None:
    call_id = await answered_call(agi)
    await agi.written()
    async with agi.database.sessions.begin() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        call.review_note = "said they were from the bank"
    published(agi, CallReviewed)

    variables = await dial_feature(agi, PhoneFeature.REPORT_LAST, ["101"])

    assert variables["SCREENER_FEATURE_RESULT"] == "ok"
    assert variables["SCREENER_FEATURE_NUMBER"] == SPOKEN
    async with agi.database.sessions() as session:
        reviewed = await get_call(session, call_id)
    assert reviewed is not None
    assert (reviewed.review_state, reviewed.reviewed_by, reviewed.review_note) == (
        "scam",
        "extension 101",
        "said they were from the bank",
    )
    [audit] = await phone_audit(agi)
    assert (audit.action, audit.target, audit.via) == (  # type: ignore[attr-defined]
        AuditAction.CALL_REVIEW.value,
        call_id,
        "phone",
    )
    assert audit.detail == {"state": "scam"}  # type: ignore[attr-defined]
    [event] = published(agi, CallReviewed)
    assert event.call_id == call_id  # type: ignore[attr-defined]
    assert await entries(agi, "Blocked from console") == []  # reporting does not block


async def test_the_last_caller_is_the_newest_call_answered_at_that_extension(
    agi: RunningAgi,
) -> None:
    await answered_call(agi, "+441134960001")
    newest_101 = await answered_call(agi, "+441134960002")
    at_102 = await answered_call(agi, "+441134960003", extension="102")
    await answered_call(agi, "+441134960004", word="no_answer")  # rang 101, nobody answered
    await agi.written()

    blocked = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])
    reported = await dial_feature(agi, PhoneFeature.REPORT_LAST, ["102"], callerid="102")

    assert blocked["SCREENER_FEATURE_CALL_ID"] == newest_101
    assert [e.value for e in await entries(agi, "Blocked from console")] == ["+441134960002"]
    assert reported["SCREENER_FEATURE_CALL_ID"] == at_102
    assert len(await phone_audit(agi, "extension 102")) == 1


async def test_a_did_finds_the_last_call_put_through_on_that_number(agi: RunningAgi) -> None:
    to_sales = await answered_call(agi, "+441134960050", extension=None, did="441134960000")
    await answered_call(agi, "+441134960051", extension=None, did="441134960999")
    await agi.written()

    for did in ("01134960000", "+441134960000", "441134960000"):
        variables = await dial_feature(agi, PhoneFeature.REPORT_LAST, ["101", did])
        assert variables["SCREENER_FEATURE_RESULT"] == "ok", did
        assert variables["SCREENER_FEATURE_CALL_ID"] == to_sales, did
    nothing = await dial_feature(agi, PhoneFeature.REPORT_LAST, ["101", "01134960777"])
    assert nothing["SCREENER_FEATURE_RESULT"] == "nothing"


async def test_no_last_call_is_nothing_and_changes_nothing(agi: RunningAgi) -> None:
    await answered_call(agi, extension="101")
    await agi.written()

    for feature in PhoneFeature:
        variables = await dial_feature(agi, feature, ["103"], callerid="103")
        assert variables == {
            "SCREENER_FEATURE_RESULT": FeatureResult.NOTHING.value,
            "SCREENER_FEATURE_REASON": FeatureReason.NO_CALL.value,
            "SCREENER_FEATURE_NUMBER": "",
            "SCREENER_FEATURE_CALL_ID": "",
        }
    assert await phone_audit(agi, "extension 103") == []


async def test_calls_of_another_site_on_the_same_database_are_not_the_last_caller(
    agi: RunningAgi,
) -> None:
    call_id = await answered_call(agi)
    await agi.written()
    async with agi.database.sessions.begin() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        call.site = "branch"

    variables = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])
    assert variables["SCREENER_FEATURE_RESULT"] == "nothing"


async def test_a_withheld_caller_cannot_be_listed_but_can_be_reported(agi: RunningAgi) -> None:
    call_id = await answered_call(agi, "anonymous", callingpres="35")
    await agi.written()

    for feature in (PhoneFeature.BLOCK_LAST, PhoneFeature.ALLOW_LAST):
        variables = await dial_feature(agi, feature, ["101"])
        assert variables == {
            "SCREENER_FEATURE_RESULT": "refused",
            "SCREENER_FEATURE_REASON": "withheld",
            "SCREENER_FEATURE_NUMBER": "",
            "SCREENER_FEATURE_CALL_ID": call_id,
        }
    assert await phone_audit(agi) == []
    reported = await dial_feature(agi, PhoneFeature.REPORT_LAST, ["101"])
    assert reported["SCREENER_FEATURE_RESULT"] == "ok"
    assert [a.action for a in await phone_audit(agi)] == ["call.review"]  # type: ignore[attr-defined]


async def test_a_number_that_is_not_a_phone_number_is_refused(agi: RunningAgi) -> None:
    call_id = await answered_call(agi, "Robert'); DROP TABLE calls;--")
    await agi.written()

    variables = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])

    assert variables["SCREENER_FEATURE_RESULT"] == "refused"
    assert variables["SCREENER_FEATURE_REASON"] == "no-number"
    assert variables["SCREENER_FEATURE_CALL_ID"] == call_id


async def test_allowing_an_impersonated_number_is_refused_with_the_reason(
    agi: RunningAgi,
) -> None:
    bank = "+443457404404"
    async with agi.database.sessions.begin() as session:
        brands = await lists_repo.create_list(session, "Banks", ListKind.TRUSTED_BRAND)
        await lists_repo.add_entry(
            session, NumberAnalyser("GB"), brands, lists_repo.EntryInput(value=bank), "test"
        )
    call_id = await answered_call(agi, bank)
    await agi.written()

    refused = await dial_feature(agi, PhoneFeature.ALLOW_LAST, ["101"])

    assert refused == {
        "SCREENER_FEATURE_RESULT": "refused",
        "SCREENER_FEATURE_REASON": "impersonation",
        "SCREENER_FEATURE_NUMBER": "03457404404",
        "SCREENER_FEATURE_CALL_ID": call_id,
    }
    assert await entries(agi, "Allowed from console") == []
    assert await phone_audit(agi) == []
    # Blocking it is the console's choice too: allowed, and audited.
    blocked = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])
    assert blocked["SCREENER_FEATURE_RESULT"] == "ok"
    assert [e.value for e in await entries(agi, "Blocked from console")] == [bank]


async def test_without_an_argument_the_handsets_own_caller_id_is_the_extension(
    agi: RunningAgi,
) -> None:
    call_id = await answered_call(agi)
    await agi.written()

    variables = await dial_feature(agi, PhoneFeature.REPORT_LAST, [], callerid="101")
    assert variables["SCREENER_FEATURE_CALL_ID"] == call_id
    unknown = await dial_feature(agi, PhoneFeature.REPORT_LAST, [], callerid="unknown")
    assert (unknown["SCREENER_FEATURE_RESULT"], unknown["SCREENER_FEATURE_REASON"]) == (
        "refused",
        "bad-request",
    )


@pytest.mark.parametrize(
    "args",
    [
        ("'; DROP TABLE calls; --",),
        ("$(reboot)",),
        ("1 0 1",),
        ("101\x07",),
        ("9" * 41,),
        ("%",),
        ("101", "${EXTEN}"),
        ("101", "0113 496 0000"),
    ],
    ids=["sql", "shell", "spaces", "control", "too-long", "like-wildcard", "did-var", "did-sp"],
)
async def test_hostile_extension_or_did_is_refused_and_the_server_keeps_serving(
    agi: RunningAgi, args: tuple[str, ...]
) -> None:
    await answered_call(agi)
    await agi.written()

    variables = await dial_feature(agi, PhoneFeature.BLOCK_LAST, args)

    assert (variables["SCREENER_FEATURE_RESULT"], variables["SCREENER_FEATURE_REASON"]) == (
        "refused",
        "bad-request",
    )
    assert await entries(agi, "Blocked from console") == []
    ok = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])
    assert ok["SCREENER_FEATURE_RESULT"] == "ok"
    assert agi.handler.active == 0


async def test_an_outcome_naming_a_hostile_extension_is_recorded_without_it(
    agi: RunningAgi,
) -> None:
    call_id = await answered_call(agi, extension="101; DROP TABLE calls")
    await agi.written()
    async with agi.database.sessions() as session:
        call = await get_call(session, call_id)
    assert call is not None
    assert (call.delivery, call.delivered_to) == ("answered", None)
    nothing = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])
    assert nothing["SCREENER_FEATURE_RESULT"] == "nothing"


async def test_a_database_failure_is_an_error_result_and_changes_nothing(
    agi: RunningAgi,
) -> None:
    await answered_call(agi)
    await agi.written()
    async with agi.database.sessions.begin() as session:
        await session.execute(text("ALTER TABLE list_entries RENAME TO list_entries_gone"))
    try:
        variables = await dial_feature(agi, PhoneFeature.BLOCK_LAST, ["101"])
    finally:
        async with agi.database.sessions.begin() as session:
            await session.execute(text("ALTER TABLE list_entries_gone RENAME TO list_entries"))

    assert (variables["SCREENER_FEATURE_RESULT"], variables["SCREENER_FEATURE_REASON"]) == (
        "error",
        "unavailable",
    )
    assert await phone_audit(agi) == []
    assert await entries(agi, "Blocked from console") == []


@pytest.mark.parametrize(
    ("e164", "spoken"),
    [
        ("+441134960123", "01134960123"),
        ("+447700900123", "07700900123"),
        ("+33140000000", "0033140000000"),
        ("+12025550123", "0012025550123"),
        ("not a number", ""),
    ],
)
def test_the_number_read_back_is_the_one_the_office_would_dial(e164: str, spoken: str) -> None:
    assert NumberAnalyser("GB").dialable(e164) == spoken
