"""The two FastAGI scripts: ``screen`` (decide a call) and ``outcome`` (how it ended).

Calls go through the same :class:`~screener.calls.desk.CallDesk` as over ARI; only the
talking to Asterisk differs: the dialplan keeps the call, Screener sets variables.

``agi://host:4573/screen[,DID[,TRUNK]]`` sets on the channel:

- ``SCREENER_VERDICT``  allow | challenge | block (the decision)
- ``SCREENER_REASONS``  reason codes, comma-separated (``error`` when Screener failed open)
- ``SCREENER_CALL_ID``  the call's id, for the outcome request
- ``SCREENER_DIGIT``    the digit the caller must press (challenges only)

``agi://host:4573/outcome,CALL_ID,WORD[,EXTENSION]`` records what the dialplan reports (the
words of :data:`~screener.domain.vocabulary.REPORTED_ENDINGS`; with ``answered``, the
extension that answered, ``${CONNECTEDLINE(num)}``) and sets ``SCREENER_OUTCOME`` to
recorded | already-recorded | unknown-call | invalid | error.

The desk phone's feature codes are in :mod:`screener.calls.agi_features`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from screener.agi.protocol import UNKNOWN, AgiChannel, AgiEnvironment, AgiHangup
from screener.agi.server import AgiScript
from screener.calls.desk import CallDesk
from screener.calls.facts import facts_from_agi
from screener.calls.store import new_call_id
from screener.db.lifecycle import describe_db_error
from screener.domain.model import CallEnding, CallFacts
from screener.domain.vocabulary import (
    FAIL_OPEN_REASON,
    REPORTED_ENDINGS,
    Action,
    CallSource,
    Outcome,
    ReportedEnding,
    Step,
    Verdict,
)
from screener.logging_setup import current_call_id

log = logging.getLogger(__name__)

DECISION_TIMEOUT_SECONDS = 4.0
"""A decision that takes longer than this fails open: the caller must not wait."""
REPORT_TIMEOUT_SECONDS = 10.0
"""How long ``/outcome`` waits for its write before answering ``error``."""
MAX_REASONS_TEXT = 512
_CALL_ID = re.compile(r"[0-9a-f]{32}")
_DIALPLAN_NUMBER = re.compile(r"[0-9A-Za-z+*#_.-]{1,40}")


def dialplan_number(raw: str | None) -> str | None:
    """An extension or DID as the dialplan passes it (``101``, ``+441134960000``), or None
    when it is absent, Asterisk's ``unknown``, or anything else (hostile text included)."""
    text = (raw or "").strip()
    if not _DIALPLAN_NUMBER.fullmatch(text) or text.lower() == UNKNOWN:
        return None
    return text


@dataclass(frozen=True, slots=True)
class ScreenResult:
    call_id: str
    verdict: str
    reasons: str
    digit: str | None
    recorded: bool


class AgiFlow:
    """Runs the scripts for the FastAGI server; shared by all sessions."""

    def __init__(self, desk: CallDesk, database_url: str) -> None:
        self.desk = desk
        self.database_url = database_url

    def scripts(self) -> dict[str, AgiScript]:
        return {"screen": self.screen, "outcome": self.outcome}

    async def screen(self, env: AgiEnvironment, channel: AgiChannel) -> ScreenResult:
        """Decide, record, and hand the verdict to the dialplan.

        The call id is set in the log context for the rest of the session (each session
        is its own task, so it does not leak into other sessions).
        """
        call_id = new_call_id()
        current_call_id.set(call_id)
        result = await self._decide(call_id, facts_from_agi(env), env)
        try:
            await channel.set_variable("SCREENER_VERDICT", result.verdict)
            await channel.set_variable("SCREENER_REASONS", result.reasons)
            await channel.set_variable("SCREENER_CALL_ID", result.call_id)
            if result.digit is not None:
                await channel.set_variable("SCREENER_DIGIT", result.digit)
        except AgiHangup:
            log.info("caller hung up before the verdict was handed over")
            if result.recorded:
                action = Action(result.verdict)
                ending = CallEnding(Outcome.ABANDONED, Step.SCREEN, verdict=Verdict.of(action))
                self.desk.finish(call_id, ending)
            raise
        return result

    async def _decide(self, call_id: str, facts: CallFacts, env: AgiEnvironment) -> ScreenResult:
        try:
            async with asyncio.timeout(DECISION_TIMEOUT_SECONDS):
                taken = await self.desk.take(
                    facts,
                    source=CallSource.AGI,
                    channel_id=facts_channel_id(env),
                    call_id=call_id,
                )
        except Exception as exc:  # fail open: the caller is put through, the error is logged
            reason = (
                "decision timed out"
                if isinstance(exc, TimeoutError)
                else describe_db_error(exc, self.database_url)
            )
            expected = isinstance(exc, TimeoutError | SQLAlchemyError | OSError)
            log.error(
                "screening failed, letting the call through: %s", reason, exc_info=not expected
            )
            return ScreenResult(call_id, Action.ALLOW.value, FAIL_OPEN_REASON, None, False)
        decision = taken.screening.decision
        reasons = ",".join(decision.reason_codes)[:MAX_REASONS_TEXT]
        digit = taken.digits[0] if taken.digits else None
        return ScreenResult(call_id, decision.action.value, reasons, digit, True)

    async def outcome(self, env: AgiEnvironment, channel: AgiChannel) -> str:
        call_id = (env.arg(1) or "").lower()
        word = (env.arg(2) or "").lower()
        report = REPORTED_ENDINGS.get(word)
        if not _CALL_ID.fullmatch(call_id) or report is None:
            log.warning("outcome request with a bad call id or outcome; ignored")
            status = "invalid"
        else:
            current_call_id.set(call_id)  # for the rest of this session's task
            extension = dialplan_number(env.arg(3))
            if extension is None and env.arg(3) is not None:
                log.warning("outcome %s names no usable extension; recorded without it", word)
            status = await self._report(
                call_id, word, dataclasses.replace(report, delivered_to=extension)
            )
        await channel.set_variable("SCREENER_OUTCOME", status)
        return status

    async def _report(self, call_id: str, word: str, report: ReportedEnding) -> str:
        try:
            async with asyncio.timeout(REPORT_TIMEOUT_SECONDS):
                applied = await self.desk.report(call_id, report)
        except Exception as exc:
            log.error("cannot record the outcome: %s", describe_db_error(exc, self.database_url))
            return "error"
        if not applied.known:
            log.warning("outcome %s for an unknown call", word)
            return "unknown-call"
        if not applied.changed:
            return "already-recorded"
        log.info("call outcome reported: %s", word)
        return "recorded"


def facts_channel_id(env: AgiEnvironment) -> str | None:
    """The channel's unique id, which the call record keeps as its channel id."""
    value = env.get("agi_uniqueid")
    return value[:128] if value else None
