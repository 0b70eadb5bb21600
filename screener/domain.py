"""Value objects of the call decision. Pure: no I/O, no settings, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    """What Screener does with a call."""

    ALLOW = "allow"
    CHALLENGE = "challenge"
    BLOCK = "block"


CALL_OUTCOMES = frozenset(
    {
        "answered",
        "continued",
        "passed",
        "failed",
        "abandoned",
        "blocked",
        "voicemail",
        "busy",
        "no_answer",
        "timeout",
        "error",
    }
)
"""How a call can end, as reported by a PBX dialplan (FastAGI ``/outcome``) and counted."""

ACTION_SEVERITY = {Action.ALLOW: 0, Action.CHALLENGE: 1, Action.BLOCK: 2}


class ListKind(StrEnum):
    CONTACTS = "contacts"
    NUISANCE = "nuisance"
    DO_NOT_ORIGINATE = "do-not-originate"
    TRUSTED_BRAND = "trusted-brand"
    REGISTRY = "registry"


class NumberType(StrEnum):
    FIXED_LINE = "fixed"
    MOBILE = "mobile"
    FIXED_OR_MOBILE = "fixed-or-mobile"
    TOLL_FREE = "freephone"
    PREMIUM_RATE = "premium"
    SHARED_COST = "shared-cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    WITHHELD = "withheld"
    UNKNOWN = "unknown"


class ReasonCode(StrEnum):
    """Every rule that can fire. The value is what configs, records and events use."""

    ALLOW_LIST = "allow_list"
    BLOCK_LIST = "block_list"
    CHALLENGE_LIST = "challenge_list"
    DO_NOT_ORIGINATE = "do_not_originate"
    TRUSTED_BRAND = "trusted_brand"
    REGISTRY = "registry"
    WITHHELD = "withheld"
    INVALID_CLI = "invalid_cli"
    MALFORMED_CLI = "malformed_cli"
    DRAMA_RANGE = "drama_range"
    NON_DIALABLE = "non_dialable"
    PREMIUM_RATE_CLI = "premium_rate_cli"
    PERSONAL_NUMBER_CLI = "personal_number_cli"
    OWN_NUMBER = "own_number"
    INTERNATIONAL_UK_LANDLINE = "international_uk_landline"
    INTERNATIONAL_UK_MOBILE = "international_uk_mobile"
    REPEAT_CALLER = "repeat_caller"
    RECENT_CHALLENGE_FAILED = "recent_challenge_failed"
    RECENT_CHALLENGE_PASSED = "recent_challenge_passed"
    NO_MATCH = "no_match"


class NumberProblem(StrEnum):
    """Why a presented number is not a believable caller ID."""

    NOT_A_NUMBER = "not_a_number"
    INVALID = "invalid"
    MALFORMED_PREFIX = "malformed_prefix"
    DRAMA_RANGE = "drama_range"
    NON_DIALABLE = "non_dialable"


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """What the presented caller number is, from the raw string alone."""

    raw: str
    e164: str | None
    withheld: bool
    valid: bool
    number_type: NumberType
    country_code: int | None
    national_number: str | None
    problems: tuple[NumberProblem, ...] = ()

    @property
    def display(self) -> str:
        return self.e164 or ("withheld" if self.withheld else self.raw)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Everything known about an inbound call before the decision.

    ``caller_number`` and ``caller_name`` are attacker-controlled text.
    """

    caller_number: str
    caller_name: str = ""
    presentation: str | None = None
    did: str | None = None
    trunk: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ListMatch:
    """One list entry that matched the caller's number."""

    list_id: int
    list_name: str
    action: Action
    kind: ListKind
    entry_id: int
    value: str
    is_prefix: bool
    label: str | None = None


@dataclass(frozen=True, slots=True)
class CallerHistory:
    """What recent calls from the same number did (gathered by an adapter)."""

    recent_calls: int = 0
    last_challenge_result: str | None = None  # "passed" | "failed"
    last_challenge_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    action: Action
    explanation: str
    advice: str | None = None

    def as_dict(self) -> dict[str, str]:
        data = {
            "code": self.code.value,
            "action": self.action.value,
            "explanation": self.explanation,
        }
        if self.advice:
            data["advice"] = self.advice
        return data


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reasons: tuple[Reason, ...]
    number: NumberInfo
    matches: tuple[ListMatch, ...] = field(default=())

    @property
    def flagged(self) -> bool:
        """Worth a receptionist's look: anything but a plain allow."""
        return self.action is not Action.ALLOW or any(
            r.code is ReasonCode.RECENT_CHALLENGE_PASSED for r in self.reasons
        )

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code.value for r in self.reasons)
