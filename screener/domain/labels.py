"""Plain words for the call vocabulary, as reception reads them (console, CLI, API).

Rule labels live in the rule catalogue (:mod:`screener.domain.rules`); these are the
words for everything else a call record holds. Every enum member has a label (tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from screener.domain.vocabulary import (
    Action,
    CallSource,
    ChallengeResult,
    ClaimCategory,
    Delivery,
    Outcome,
    ReviewState,
    ScreenDecision,
    Step,
    TimelineKind,
    TranscriptStatus,
    Verdict,
)

ACTIONS: Mapping[Action, str] = MappingProxyType(
    {
        Action.ALLOW: "Allow",
        Action.CHALLENGE: "Challenge",
        Action.SCREEN: "Screen",
        Action.BLOCK: "Block",
    }
)

VERDICTS: Mapping[Verdict, str] = MappingProxyType(
    {
        Verdict.ALLOW: "Allowed",
        Verdict.BLOCK: "Blocked",
        Verdict.CHALLENGE: "Challenge not finished",
        Verdict.CHALLENGE_PASSED: "Passed the check",
        Verdict.CHALLENGE_FAILED: "Failed the check",
        Verdict.SCREEN: "Screening not finished",
        Verdict.SCREENED_ACCEPTED: "Put through by reception",
        Verdict.SCREENED_VOICEMAIL: "Sent to voicemail by reception",
        Verdict.SCREENED_DECLINED: "Declined by reception",
        Verdict.SCREENED_BLOCKED: "Blocked by reception",
        Verdict.SCREENED_TIMEOUT: "Nobody decided in time",
        Verdict.SCREENED_UNWATCHED: "Nobody was watching the board",
    }
)

SCREEN_DECISIONS: Mapping[ScreenDecision, str] = MappingProxyType(
    {
        ScreenDecision.CONNECT: "Connect",
        ScreenDecision.VOICEMAIL: "Voicemail",
        ScreenDecision.DECLINE: "Decline",
        ScreenDecision.BLOCK: "Block",
        ScreenDecision.TIMEOUT: "Nobody decided in time (default)",
        ScreenDecision.UNWATCHED: "Nobody watching (default)",
    }
)

OUTCOMES: Mapping[Outcome, str] = MappingProxyType(
    {
        Outcome.CONNECTED: "Put through",
        Outcome.BLOCKED: "Blocked",
        Outcome.DECLINED: "Declined",
        Outcome.VOICEMAIL: "Sent to voicemail",
        Outcome.CHALLENGE_FAILED: "Hung up: failed the check",
        Outcome.ABANDONED: "Caller hung up",
        Outcome.FAIL_OPEN: "Put through (Screener error)",
    }
)

DELIVERIES: Mapping[Delivery, str] = MappingProxyType(
    {
        Delivery.ANSWERED: "Answered",
        Delivery.NO_ANSWER: "Not answered",
        Delivery.BUSY: "Busy",
        Delivery.VOICEMAIL: "Voicemail",
        Delivery.FAILED: "Could not ring",
        Delivery.ABANDONED: "Caller hung up while ringing",
    }
)

CHALLENGE_RESULTS: Mapping[ChallengeResult, str] = MappingProxyType(
    {ChallengeResult.PASSED: "Passed", ChallengeResult.FAILED: "Failed"}
)

REVIEW_STATES: Mapping[ReviewState, str] = MappingProxyType(
    {
        ReviewState.UNREVIEWED: "Not reviewed",
        ReviewState.SCAM: "Scam",
        ReviewState.NUISANCE: "Nuisance",
        ReviewState.LEGITIMATE: "Legitimate",
        ReviewState.UNSURE: "Unsure",
    }
)

SOURCES: Mapping[CallSource, str] = MappingProxyType(
    {CallSource.ARI: "ARI", CallSource.AGI: "FastAGI", CallSource.DEMO: "Simulator"}
)

STEPS: Mapping[Step, str] = MappingProxyType(
    {
        Step.DECIDING: "while deciding",
        Step.DECISION: "at the decision",
        Step.PROMPT: "during the prompt",
        Step.WAITING_DIGIT: "waiting for the digit",
        Step.RECORD_PROMPT: "before recording the name",
        Step.RECORDING: "recording the name",
        Step.PASSED_PROMPT: "after passing",
        Step.CHALLENGE: "after the check",
        Step.GOODBYE: "during the goodbye",
        Step.ANNOUNCEMENT: "during the announcement",
        Step.WAITING: "waiting for reception",
        Step.LEAVING: "while leaving Screener",
        Step.RECONCILE: "after a reconnect",
        Step.ERROR: "after an error",
        Step.SCREEN: "before the verdict was handed over",
        Step.DIALPLAN: "as reported by the dialplan",
        Step.OVERLOAD: "at once: Screener had more calls than it could take",
    }
)

TIMELINE: Mapping[TimelineKind, str] = MappingProxyType(
    {
        TimelineKind.DECIDED: "Decided",
        TimelineKind.ANSWERED: "Answered by Screener",
        TimelineKind.CHALLENGE_PROMPT: "Asked for the digit",
        TimelineKind.DIGIT_CORRECT: "Pressed the right digit",
        TimelineKind.DIGIT_WRONG: "Pressed a wrong digit",
        TimelineKind.DIGIT_TIMEOUT: "Pressed nothing",
        TimelineKind.RECORDING_NAME: "Recording the name",
        TimelineKind.NAME_RECORDED: "Name recorded",
        TimelineKind.RECORDING_FAILED: "Recording failed",
        TimelineKind.WAITING: "Waiting for reception",
        TimelineKind.SCREENED: "Decided while waiting",
        TimelineKind.FAIL_OPEN: "Sent back to the dialplan (error)",
        TimelineKind.RECONCILED: "Sent back after a reconnect",
        TimelineKind.OUTCOME: "Left Screener",
        TimelineKind.RINGING: "Ringing",
        TimelineKind.DELIVERY: "After the hand-back",
        TimelineKind.REVIEWED: "Reviewed",
        TimelineKind.BLOCKED: "Number blocked",
        TimelineKind.ALLOWED: "Number allowed",
        TimelineKind.TRANSCRIBED: "What the caller said",
    }
)

TRANSCRIPT_STATUSES: Mapping[TranscriptStatus, str] = MappingProxyType(
    {
        TranscriptStatus.DONE: "Transcribed",
        TranscriptStatus.SKIPPED: "Not transcribed: too many at once",
        TranscriptStatus.FAILED: "Could not be transcribed",
        TranscriptStatus.TIMED_OUT: "Not transcribed: took too long",
    }
)

CLAIM_CATEGORIES: Mapping[ClaimCategory, str] = MappingProxyType(
    {
        ClaimCategory.POLICE: "Police",
        ClaimCategory.HMRC: "HMRC or tax",
        ClaimCategory.BANK: "Bank",
        ClaimCategory.TECH_SUPPORT: "Technical support",
        ClaimCategory.COURT: "Court or bailiffs",
        ClaimCategory.COURIER: "Courier or customs",
        ClaimCategory.GIFT_CARD_CRYPTO: "Gift cards or crypto",
    }
)

_BY_TYPE: Mapping[type[StrEnum], Mapping[Any, str]] = MappingProxyType(
    {
        Action: ACTIONS,
        Verdict: VERDICTS,
        Outcome: OUTCOMES,
        Delivery: DELIVERIES,
        ChallengeResult: CHALLENGE_RESULTS,
        ReviewState: REVIEW_STATES,
        CallSource: SOURCES,
        Step: STEPS,
        TimelineKind: TIMELINE,
        ScreenDecision: SCREEN_DECISIONS,
        TranscriptStatus: TRANSCRIPT_STATUSES,
        ClaimCategory: CLAIM_CATEGORIES,
    }
)


def label(kind: type[StrEnum], value: object) -> str:
    """The words for a stored ``value`` of the enum ``kind`` ("" for none; unknown values
    are shown as they are, readably)."""
    if value is None or value == "":
        return ""
    try:
        member = kind(str(value))
    except ValueError:
        return str(value).replace("_", " ")
    return _BY_TYPE[kind].get(member, member.value)
