"""Value objects of the call decision and of the people who change things. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from screener.domain.rules import IMPERSONATION
from screener.domain.vocabulary import (
    Action,
    ChallengeResult,
    ClaimCategory,
    ListKind,
    NumberProblem,
    NumberType,
    Outcome,
    ReasonCode,
    Step,
    Verdict,
    Via,
)


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
    last_challenge_result: ChallengeResult | None = None
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
class Decision:
    """What the policy decided about a call, with every reason why."""

    action: Action
    reasons: tuple[Reason, ...]
    number: NumberInfo
    matches: tuple[ListMatch, ...] = field(default=())

    @property
    def flagged(self) -> bool:
        """Worth a receptionist's look: anything but a plain allow (an allowed call from a
        number scammers spoof, or let in by a recent passed challenge, is worth one)."""
        return (
            self.action is not Action.ALLOW
            or self.impersonation
            or any(r.code is ReasonCode.RECENT_CHALLENGE_PASSED for r in self.reasons)
        )

    @property
    def impersonation(self) -> bool:
        """The number may belong to an organisation the caller pretends to be."""
        return any(r.code in IMPERSONATION for r in self.reasons)

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code.value for r in self.reasons)


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim of authority in a transcript: ``phrase`` is ``text[start:end]`` of the text
    the matcher read (``screener.speech.claims``); ``term`` is the list entry it matched."""

    category: ClaimCategory
    phrase: str
    start: int
    end: int
    term: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "category": self.category.value,
            "phrase": self.phrase,
            "start": self.start,
            "end": self.end,
            "term": self.term,
        }


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes something, and from where (on every audit record)."""

    name: str
    via: Via
    address: str | None = None

    @classmethod
    def cli(cls, name: str = "cli") -> Actor:
        return cls(name, Via.CLI)

    @classmethod
    def system(cls, name: str = "screener") -> Actor:
        return cls(name, Via.SYSTEM)

    @classmethod
    def phone(cls, extension: str, address: str | None = None) -> Actor:
        """A receptionist at a desk phone, known by its extension (FastAGI feature codes);
        ``address`` is the PBX's."""
        return cls(f"extension {extension}", Via.PHONE, address)


@dataclass(frozen=True, slots=True)
class CallEnding:
    """How a call left Screener's hands: its outcome and the result of its screening."""

    outcome: Outcome
    step: Step
    verdict: Verdict | None = None
    detail: str | None = None
    challenge_result: ChallengeResult | None = None
    challenge_attempts: int | None = None
    challenge_digit: str | None = None
    recording: str | None = None
