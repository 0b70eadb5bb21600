"""The two FastAGI scripts: ``screen`` (decide a call) and ``outcome`` (record how it ended).

``agi://host:4573/screen[,DID[,TRUNK]]`` sets on the channel:

- ``SCREENER_VERDICT``  allow | challenge | block
- ``SCREENER_REASONS``  reason codes, comma-separated (``error`` when Screener failed open)
- ``SCREENER_CALL_ID``  the call's id, for the outcome request
- ``SCREENER_DIGIT``    the digit the caller must press (challenges only)

``agi://host:4573/outcome,CALL_ID,OUTCOME`` records the ending and sets
``SCREENER_OUTCOME`` to recorded | already-recorded | unknown-call | invalid | error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from screener import call_payloads
from screener.agi.protocol import (
    AgiChannel,
    AgiEnvironment,
    AgiHangup,
    presentation_name,
    trunk_from_channel,
)
from screener.db import calls_repo
from screener.db.engine import is_sqlite
from screener.db.lifecycle import Database, describe_db_error
from screener.db.lists_repo import utcnow
from screener.db.models import Call
from screener.domain import CALL_OUTCOMES, Action, CallFacts
from screener.events import CALL_OUTCOME, CALL_STARTED, CALL_VERDICT, EventBus
from screener.logging_setup import current_call_id
from screener.screening import ScreeningService
from screener.settings import Settings

log = logging.getLogger(__name__)

DECISION_TIMEOUT_SECONDS = 4.0
"""A decision that takes longer than this fails open: the caller must not wait."""

CHALLENGE_RESULTS = {"passed": "passed", "failed": "failed"}
FAIL_OPEN_REASON = "error"
NON_DID_EXTENSIONS = frozenset({"s", "h", "i", "t"})
_CALL_ID = re.compile(r"[0-9a-f]{32}")
MAX_REASONS_TEXT = 512


@dataclass(frozen=True, slots=True)
class ScreenResult:
    call_id: str
    verdict: str
    reasons: str
    digit: str | None
    recorded: bool


def facts_from_environment(env: AgiEnvironment) -> CallFacts:
    """Call facts from the AGI variables (all caller-controlled text stays data)."""
    number = env.get("agi_callerid") or ""
    name = env.known("agi_calleridname") or ""
    did = env.arg(1) or env.known("agi_dnid")
    if did is None:
        extension = env.known("agi_extension")
        did = extension if extension and extension.lower() not in NON_DID_EXTENSIONS else None
    trunk = env.arg(2) or trunk_from_channel(env.get("agi_channel"))
    extra: list[tuple[str, str]] = []
    for key in ("agi_channel", "agi_callingpres", "agi_uniqueid", "agi_context"):
        value = env.get(key)
        if value:
            extra.append((key.removeprefix("agi_"), calls_repo.clip(value, 128)))
    return CallFacts(
        caller_number=calls_repo.clip(number, 128),
        caller_name=calls_repo.clip(name),
        presentation=presentation_name(env.get("agi_callingpres")),
        did=calls_repo.clip(did, 64) or None,
        trunk=calls_repo.clip(trunk, 128) or None,
        extra=tuple(extra),
    )


class AgiScripts:
    """Runs the scripts for the server; shared by all sessions."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        screening: ScreeningService,
        bus: EventBus,
    ) -> None:
        self.settings = settings
        self.database = database
        self.screening = screening
        self.bus = bus
        # SQLite has one writer at a time and its busy wait is unfair under load; taking
        # turns in-process keeps every write short. PostgreSQL writes concurrently.
        self._write_turn: asyncio.Lock | None = asyncio.Lock() if is_sqlite(database.url) else None

    async def screen(self, env: AgiEnvironment, channel: AgiChannel) -> ScreenResult:
        """Decide, record, publish, and hand the verdict to the dialplan.

        The call id is set in the log context for the rest of the session (each
        session is its own task, so it does not leak into other sessions).
        """
        call_id = calls_repo.new_call_id()
        current_call_id.set(call_id)
        facts = facts_from_environment(env)
        result = await self._decide_and_record(call_id, facts, env)
        try:
            await channel.set_variable("SCREENER_VERDICT", result.verdict)
            await channel.set_variable("SCREENER_REASONS", result.reasons)
            await channel.set_variable("SCREENER_CALL_ID", result.call_id)
            if result.digit is not None:
                await channel.set_variable("SCREENER_DIGIT", result.digit)
        except AgiHangup:
            log.info("caller hung up before the verdict was handed over")
            if result.recorded:
                await self._finish(call_id, "abandoned", step="screen")
            raise
        return result

    async def _decide_and_record(
        self, call_id: str, facts: CallFacts, env: AgiEnvironment
    ) -> ScreenResult:
        site = self.settings.office.site
        started_at = utcnow()
        try:
            async with asyncio.timeout(DECISION_TIMEOUT_SECONDS):
                # Decide in a read-only session, then write in a short one of its own: a
                # read snapshot is never upgraded to a write (SQLite would refuse it when
                # another call wrote in between).
                decision = await self.screening.decide(facts)
                verdict = decision.verdict
                digit = (
                    str(secrets.randbelow(9) + 1) if verdict.action is Action.CHALLENGE else None
                )
                async with self._writing(), self.database.sessions() as session:
                    call = await calls_repo.record_call(
                        session,
                        facts,
                        verdict,
                        call_id=call_id,
                        site=site,
                        source="agi",
                        channel_id=calls_repo.clip(env.get("agi_uniqueid"), 128) or None,
                        started_at=started_at,
                        decision_ms=round(decision.elapsed_ms, 3),
                    )
                    call.challenge_digit = digit
                    await session.commit()
        except Exception as exc:  # fail open: the caller is put through, the error is logged
            reason = (
                "decision timed out"
                if isinstance(exc, TimeoutError)
                else describe_db_error(exc, self.database.url)
            )
            expected = isinstance(exc, TimeoutError | SQLAlchemyError | OSError)
            log.error(
                "screening failed, letting the call through: %s", reason, exc_info=not expected
            )
            return ScreenResult(call_id, Action.ALLOW.value, FAIL_OPEN_REASON, None, False)
        self.bus.publish(CALL_STARTED, call_payloads.started_payload(call), call_id=call_id)
        self.bus.publish(CALL_VERDICT, call_payloads.verdict_payload(call), call_id=call_id)
        reasons = ",".join(verdict.reason_codes)[:MAX_REASONS_TEXT]
        log.info(
            "AGI call from %r: %s (%s) in %.1f ms",
            verdict.number.display[:40],
            verdict.action.value,
            reasons,
            decision.elapsed_ms,
        )
        return ScreenResult(call_id, verdict.action.value, reasons, digit, True)

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._write_turn if self._write_turn is not None else contextlib.nullcontext()

    async def outcome(self, env: AgiEnvironment, channel: AgiChannel) -> str:
        call_id = (env.arg(1) or "").lower()
        outcome = (env.arg(2) or "").lower()
        if not _CALL_ID.fullmatch(call_id) or outcome not in CALL_OUTCOMES:
            log.warning("outcome request with a bad call id or outcome; ignored")
            status = "invalid"
        else:
            current_call_id.set(call_id)  # for the rest of this session's task
            status = await self._finish(call_id, outcome, step="agi")
        await channel.set_variable("SCREENER_OUTCOME", status)
        return status

    async def _finish(self, call_id: str, outcome: str, step: str) -> str:
        try:
            async with self._writing(), self.database.sessions() as session:
                existing = await session.get(Call, call_id)
                if existing is None:
                    log.warning("outcome %s for an unknown call", outcome)
                    return "unknown-call"
                if existing.outcome is not None:
                    return "already-recorded"
                call = await calls_repo.finish_call(
                    session,
                    call_id,
                    outcome=outcome,
                    step=step,
                    challenge_result=CHALLENGE_RESULTS.get(outcome),
                )
                await session.commit()
        except Exception as exc:
            log.error("cannot record the outcome: %s", describe_db_error(exc, self.database.url))
            return "error"
        if call is not None:
            self.bus.publish(CALL_OUTCOME, call_payloads.outcome_payload(call), call_id=call_id)
        log.info("call outcome: %s", outcome)
        return "recorded"
