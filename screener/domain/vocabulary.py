"""The words Screener uses for calls, lists and changes, each defined once.

Every part of Screener (the ARI call flow, FastAGI, the call recorder, metrics,
statistics, queries, the web console, the API, MQTT payloads and the CLI) speaks these
enums; their values are what the database stores and what events carry.

A call has two kinds of fields that are never written over each other:

- the **decision**: :class:`Action`, what the policy said when the call arrived;
- the **result**: :class:`Verdict` (what the screening concluded, after any challenge),
  :class:`Outcome` (how the call left Screener's hands) and :class:`Delivery` (what
  happened after Screener handed it back to the dialplan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Action(StrEnum):
    """What the policy decided to do with a call."""

    ALLOW = "allow"
    CHALLENGE = "challenge"
    SCREEN = "screen"
    """Answer, record who is calling and why, and let reception decide while the caller
    waits (live screening; the challenge can come first, ``screen.challenge_first``)."""
    BLOCK = "block"


ACTION_SEVERITY: Mapping[Action, int] = MappingProxyType(
    {Action.ALLOW: 0, Action.CHALLENGE: 1, Action.SCREEN: 2, Action.BLOCK: 3}
)


class ChallengeResult(StrEnum):
    """How a caller did on the press-a-digit check."""

    PASSED = "passed"
    FAILED = "failed"


class ScreenDecision(StrEnum):
    """What became of a call that waited for reception (live screening)."""

    CONNECT = "connect"
    """Reception put it through (continue to the dialplan)."""
    VOICEMAIL = "voicemail"
    """Reception sent it to the voicemail location."""
    DECLINE = "decline"
    """Reception declined it: a polite announcement, then Screener hangs up."""
    BLOCK = "block"
    """Reception declined it and put the number on a block list."""
    TIMEOUT = "timeout"
    """Nobody decided within ``screen.decision_timeout_seconds``: the default applied."""
    UNWATCHED = "unwatched"
    """No signed-in console was open: the default applied at once."""


RECEPTION_DECISIONS: tuple[ScreenDecision, ...] = (
    ScreenDecision.CONNECT,
    ScreenDecision.VOICEMAIL,
    ScreenDecision.DECLINE,
    ScreenDecision.BLOCK,
)
"""The decisions a person can take (the others are Screener's defaults)."""


class ScreenDefault(StrEnum):
    """What happens to a waiting call nobody decides (``screen.default``)."""

    RECEPTION = "reception"
    """Ring reception (continue to the dialplan, the caller's name prefixed)."""
    VOICEMAIL = "voicemail"
    """Continue to the voicemail location."""


class Verdict(StrEnum):
    """What the screening concluded about a call (the decision, plus the challenge's result,
    plus reception's decision for a screened call).

    ``challenge`` means the caller was challenged and the check never finished (the
    caller hung up, or Screener failed open during it); ``screen`` the same for live
    screening: nobody's decision was applied.
    """

    ALLOW = "allow"
    BLOCK = "block"
    CHALLENGE = "challenge"
    CHALLENGE_PASSED = "challenge-passed"
    CHALLENGE_FAILED = "challenge-failed"
    SCREEN = "screen"
    SCREENED_ACCEPTED = "screened-accepted"
    SCREENED_VOICEMAIL = "screened-voicemail"
    SCREENED_DECLINED = "screened-declined"
    SCREENED_BLOCKED = "screened-blocked"
    SCREENED_TIMEOUT = "screened-timeout"
    SCREENED_UNWATCHED = "screened-unwatched"

    @classmethod
    def of(
        cls,
        action: Action,
        challenge: ChallengeResult | None = None,
        screened: ScreenDecision | None = None,
    ) -> Verdict:
        """The verdict of a call decided ``action`` whose challenge (if any) ended so, and
        (a screened call) on which ``screened`` was applied."""
        if action is Action.ALLOW:
            return cls.ALLOW
        if action is Action.BLOCK:
            return cls.BLOCK
        if action is Action.SCREEN:
            if screened is not None:
                return SCREEN_VERDICTS[screened]
            if challenge is ChallengeResult.FAILED:
                return cls.CHALLENGE_FAILED
            return cls.SCREEN
        if challenge is ChallengeResult.PASSED:
            return cls.CHALLENGE_PASSED
        if challenge is ChallengeResult.FAILED:
            return cls.CHALLENGE_FAILED
        return cls.CHALLENGE


SCREEN_VERDICTS: Mapping[ScreenDecision, Verdict] = MappingProxyType(
    {
        ScreenDecision.CONNECT: Verdict.SCREENED_ACCEPTED,
        ScreenDecision.VOICEMAIL: Verdict.SCREENED_VOICEMAIL,
        ScreenDecision.DECLINE: Verdict.SCREENED_DECLINED,
        ScreenDecision.BLOCK: Verdict.SCREENED_BLOCKED,
        ScreenDecision.TIMEOUT: Verdict.SCREENED_TIMEOUT,
        ScreenDecision.UNWATCHED: Verdict.SCREENED_UNWATCHED,
    }
)
"""The verdict of a screened call, by the decision applied to it."""


class Outcome(StrEnum):
    """How a call left Screener's hands."""

    CONNECTED = "connected"
    """Handed back to the dialplan to ring reception (allowed, or the challenge passed)."""
    BLOCKED = "blocked"
    """Hung up by Screener (after an announcement, if configured)."""
    DECLINED = "declined"
    """Hung up by Screener after the decline announcement: reception declined the call."""
    VOICEMAIL = "voicemail"
    """Handed back to the dialplan at the voicemail location (``screen.voicemail_*``)."""
    CHALLENGE_FAILED = "challenge-failed"
    """Hung up by Screener after the caller failed the challenge."""
    ABANDONED = "abandoned"
    """The caller hung up while Screener had the call."""
    FAIL_OPEN = "fail-open"
    """Something went wrong and the call went back to the dialplan (or was hung up when
    ``ari.fail_open`` is off); the call record says why."""


class Delivery(StrEnum):
    """What happened to a call after Screener handed it back to the dialplan."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    """The dialplan could not ring anyone (no such extension, or the dial failed)."""
    ABANDONED = "abandoned"
    """The caller hung up before anyone answered."""


class ReviewState(StrEnum):
    """What reception made of a flagged call."""

    UNREVIEWED = "unreviewed"
    SCAM = "scam"
    NUISANCE = "nuisance"
    LEGITIMATE = "legitimate"
    UNSURE = "unsure"


REVIEW_CHOICES: tuple[ReviewState, ...] = tuple(
    state for state in ReviewState if state is not ReviewState.UNREVIEWED
)
"""The states a reviewer can choose."""


class CallSource(StrEnum):
    """Which way a call reached Screener."""

    ARI = "ari"
    AGI = "agi"
    DEMO = "demo"


class Step(StrEnum):
    """Where in its handling a call was when its outcome was recorded."""

    DECIDING = "deciding"
    DECISION = "decision"
    PROMPT = "prompt"
    WAITING_DIGIT = "waiting_digit"
    RECORD_PROMPT = "record_prompt"
    RECORDING = "recording"
    PASSED_PROMPT = "passed_prompt"
    CHALLENGE = "challenge"
    GOODBYE = "goodbye"
    ANNOUNCEMENT = "announcement"
    WAITING = "waiting"
    """Live screening: the caller was on hold, waiting for reception's decision."""
    LEAVING = "leaving"
    RECONCILE = "reconcile"
    ERROR = "error"
    SCREEN = "screen"
    """FastAGI: between the verdict and handing it to the dialplan."""
    DIALPLAN = "dialplan"
    """FastAGI: reported by the dialplan (``/outcome``)."""
    OVERLOAD = "overload"
    """Screener had more calls than it could take: sent straight back, undecided."""


class TimelineKind(StrEnum):
    """One step on a call's timeline."""

    DECIDED = "decided"
    ANSWERED = "answered"
    CHALLENGE_PROMPT = "challenge_prompt"
    DIGIT_CORRECT = "digit_correct"
    DIGIT_WRONG = "digit_wrong"
    DIGIT_TIMEOUT = "digit_timeout"
    RECORDING_NAME = "recording_name"
    NAME_RECORDED = "name_recorded"
    RECORDING_FAILED = "recording_failed"
    WAITING = "waiting"
    """The caller is on hold; the call is on the board for reception's decision."""
    SCREENED = "screened"
    """Reception (or the default) decided a waiting call."""
    FAIL_OPEN = "fail_open"
    RECONCILED = "reconciled"
    OUTCOME = "outcome"
    RINGING = "ringing"
    """After the hand-back, the dialplan rang a phone for the call."""
    DELIVERY = "delivery"
    REVIEWED = "reviewed"
    BLOCKED = "blocked"
    ALLOWED = "allowed"
    TRANSCRIBED = "transcribed"
    """What the caller said in a recording was transcribed (or why it was not)."""


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


class NumberProblem(StrEnum):
    """Why a presented number is not a believable caller ID."""

    NOT_A_NUMBER = "not_a_number"
    INVALID = "invalid"
    MALFORMED_PREFIX = "malformed_prefix"
    DRAMA_RANGE = "drama_range"
    NON_DIALABLE = "non_dialable"


class ReasonCode(StrEnum):
    """Every rule that can fire; :mod:`screener.domain.rules` says what each one means."""

    ALLOW_LIST = "allow_list"
    BLOCK_LIST = "block_list"
    CHALLENGE_LIST = "challenge_list"
    SCREEN_LIST = "screen_list"
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
    CLAIMS_AUTHORITY = "claims_authority"
    NO_MATCH = "no_match"


class TranscriptStatus(StrEnum):
    """What became of a caller's recording sent to speech to text."""

    DONE = "done"
    SKIPPED = "skipped"
    """Not transcribed: ``speech.queue_size`` recordings were already waiting."""
    FAILED = "failed"
    """The recording could not be read, or the worker failed on it (or died)."""
    TIMED_OUT = "timed_out"
    """The worker took longer than ``speech.clip_timeout_seconds``."""


class ClaimCategory(StrEnum):
    """What a caller claims to be (or asks for) that phone scammers often use."""

    POLICE = "police"
    HMRC = "hmrc"
    BANK = "bank"
    TECH_SUPPORT = "tech_support"
    COURT = "court"
    COURIER = "courier"
    GIFT_CARD_CRYPTO = "gift_card_crypto"


FAIL_OPEN_REASON = "error"
"""What FastAGI puts in ``SCREENER_REASONS`` when Screener could not decide and let the call
through (not a rule: no call record carries it)."""


class Via(StrEnum):
    """Where a change or a sign-in came from (on every audit record)."""

    WEB = "web"
    API = "api"
    CLI = "cli"
    PHONE = "phone"
    SYSTEM = "system"


class AuditAction(StrEnum):
    """Every kind of audit record."""

    LIST_CREATE = "list.create"
    LIST_UPDATE = "list.update"
    LIST_DELETE = "list.delete"
    LIST_IMPORT = "list.import"
    LIST_EXPORT = "list.export"
    ENTRY_ADD = "entry.add"
    ENTRY_UPDATE = "entry.update"
    ENTRY_REMOVE = "entry.remove"
    POLICY_CHANGE = "policy.change"
    CALL_REVIEW = "call.review"
    CALL_SCREEN = "call.screen"
    """Reception's decision on a call waiting for it (live screening)."""
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    USER_PASSWORD = "user.password"  # noqa: S105 - an audit action, not a secret
    USER_LOGIN = "user.login"
    USER_LOGIN_FAILED = "user.login_failed"
    USER_LOGOUT = "user.logout"
    TOKEN_CREATE = "token.create"  # noqa: S105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    RETENTION_PURGE = "retention.purge"
    """Old calls, recordings and audit records deleted (``[retention]``)."""


POLICY_AUDIT = frozenset({AuditAction.POLICY_CHANGE})
LIST_AUDIT = frozenset(
    {
        AuditAction.LIST_CREATE,
        AuditAction.LIST_UPDATE,
        AuditAction.LIST_DELETE,
        AuditAction.LIST_IMPORT,
        AuditAction.ENTRY_ADD,
        AuditAction.ENTRY_UPDATE,
        AuditAction.ENTRY_REMOVE,
    }
)
"""Audit records that change what calls are decided by (other instances act on them)."""


@dataclass(frozen=True, slots=True)
class ReportedEnding:
    """What a word reported by a PBX dialplan (FastAGI ``/outcome``) says about a call.

    ``delivered_to`` is the extension the dialplan names with the word (the caller ID
    number of the phone that answered, ``${CONNECTEDLINE(num)}``), kept with the delivery:
    the desk phone's feature codes find "the last caller" of a phone by it.
    """

    outcome: Outcome
    challenge: ChallengeResult | None = None
    delivery: Delivery | None = None
    delivered_to: str | None = None


REPORTED_ENDINGS: Mapping[str, ReportedEnding] = MappingProxyType(
    {
        "passed": ReportedEnding(Outcome.CONNECTED, ChallengeResult.PASSED),
        "failed": ReportedEnding(Outcome.CHALLENGE_FAILED, ChallengeResult.FAILED),
        "timeout": ReportedEnding(Outcome.CHALLENGE_FAILED, ChallengeResult.FAILED),
        "blocked": ReportedEnding(Outcome.BLOCKED),
        "continued": ReportedEnding(Outcome.CONNECTED),
        "answered": ReportedEnding(Outcome.CONNECTED, delivery=Delivery.ANSWERED),
        "voicemail": ReportedEnding(Outcome.CONNECTED, delivery=Delivery.VOICEMAIL),
        "busy": ReportedEnding(Outcome.CONNECTED, delivery=Delivery.BUSY),
        "no_answer": ReportedEnding(Outcome.CONNECTED, delivery=Delivery.NO_ANSWER),
        "abandoned": ReportedEnding(Outcome.ABANDONED, delivery=Delivery.ABANDONED),
        "error": ReportedEnding(Outcome.FAIL_OPEN),
    }
)
"""The words a dialplan may report, and what each means.

A word sets the call's outcome if it has none yet, and its delivery if the outcome is
``connected`` and no delivery is known: the dialplan of ``asterisk-config/agi`` reports
``passed`` after the challenge, then ``answered`` (or ``busy``...) when the call ends.
"""


class PhoneFeature(StrEnum):
    """What a receptionist can do from the desk phone with a feature code (the FastAGI
    script the dialplan asks for), to the last caller connected to that phone."""

    BLOCK_LAST = "block-last"
    """Put the caller's number on the block list for calls from the console."""
    ALLOW_LAST = "allow-last"
    """Put the caller's number on the allow list for calls from the console."""
    REPORT_LAST = "report-last"
    """Mark the call as a scam in review."""


class FeatureResult(StrEnum):
    """What a desk phone feature code did (``SCREENER_FEATURE_RESULT``)."""

    OK = "ok"
    NOTHING = "nothing"
    """No call connected to that extension (or DID) to act on."""
    REFUSED = "refused"
    """Not done, for the reason in ``SCREENER_FEATURE_REASON``."""
    ERROR = "error"
    """Screener could not do it in time (database down or slow): nothing changed."""


class FeatureReason(StrEnum):
    """Why a desk phone feature code did not do its action (``SCREENER_FEATURE_REASON``)."""

    NO_CALL = "no-call"
    """No call was answered at that extension (or connected to that DID)."""
    BAD_REQUEST = "bad-request"
    """The dialplan passed no usable extension or DID."""
    WITHHELD = "withheld"
    """The caller withheld their number and no number came with the call: nothing to
    put on a list."""
    NO_NUMBER = "no-number"
    """The caller's number is not a usable phone number."""
    IMPERSONATION = "impersonation"
    """The number belongs to an organisation scammers impersonate (do-not-originate or
    trusted-brand list): it is never allowed from a call."""
    UNAVAILABLE = "unavailable"
    """The database could not be reached in time."""
