"""The call decision: facts + list matches + caller history -> verdict. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from screener.domain import (
    ACTION_SEVERITY,
    Action,
    CallerHistory,
    ListKind,
    ListMatch,
    NumberInfo,
    NumberProblem,
    NumberType,
    Reason,
    ReasonCode,
    Verdict,
)

DEFAULT_ACTIONS: Mapping[ReasonCode, Action] = MappingProxyType(
    {
        ReasonCode.WITHHELD: Action.CHALLENGE,
        ReasonCode.INVALID_CLI: Action.CHALLENGE,
        ReasonCode.MALFORMED_CLI: Action.CHALLENGE,
        ReasonCode.DRAMA_RANGE: Action.CHALLENGE,
        ReasonCode.NON_DIALABLE: Action.CHALLENGE,
        ReasonCode.PREMIUM_RATE_CLI: Action.CHALLENGE,
        ReasonCode.PERSONAL_NUMBER_CLI: Action.CHALLENGE,
        ReasonCode.OWN_NUMBER: Action.CHALLENGE,
        ReasonCode.INTERNATIONAL_UK_LANDLINE: Action.BLOCK,
        ReasonCode.INTERNATIONAL_UK_MOBILE: Action.CHALLENGE,
        ReasonCode.REPEAT_CALLER: Action.CHALLENGE,
        ReasonCode.RECENT_CHALLENGE_FAILED: Action.BLOCK,
        ReasonCode.RECENT_CHALLENGE_PASSED: Action.ALLOW,
    }
)
"""Action per rule. List reasons take the action of the list that matched instead."""

DEFAULT_LIST_ACTIONS: Mapping[ListKind, Action] = MappingProxyType(
    {
        ListKind.CONTACTS: Action.ALLOW,
        ListKind.NUISANCE: Action.BLOCK,
        ListKind.DO_NOT_ORIGINATE: Action.BLOCK,
        ListKind.TRUSTED_BRAND: Action.CHALLENGE,
        ListKind.REGISTRY: Action.CHALLENGE,
    }
)
"""The action a new list gets when none is given."""

LIST_REASONS = frozenset(
    {
        ReasonCode.ALLOW_LIST,
        ReasonCode.BLOCK_LIST,
        ReasonCode.CHALLENGE_LIST,
        ReasonCode.DO_NOT_ORIGINATE,
        ReasonCode.TRUSTED_BRAND,
        ReasonCode.REGISTRY,
    }
)

CONFIGURABLE_REASONS = frozenset(DEFAULT_ACTIONS)

IMPERSONATION_REASONS = frozenset({ReasonCode.TRUSTED_BRAND, ReasonCode.DO_NOT_ORIGINATE})

VERIFY_ADVICE = (
    "Do not act on this call. Hang up and call the organisation back on its published "
    "number (101 for the police, 159 for banks) from a different phone line. "
    "The police never ask for money over the phone or threaten arrest for not paying."
)

_EXPLANATIONS: Mapping[ReasonCode, str] = MappingProxyType(
    {
        ReasonCode.WITHHELD: "The caller withheld their number. Genuine police, HMRC and "
        "banks do not call from withheld numbers.",
        ReasonCode.INVALID_CLI: "The number shown is not a real, dialable phone number, "
        "so it is probably spoofed.",
        ReasonCode.MALFORMED_CLI: "The number shown has a malformed prefix (such as +440...) "
        "that real networks do not send: it was probably made up.",
        ReasonCode.DRAMA_RANGE: "The number shown is in a range Ofcom reserves for TV and "
        "films; no real line has it, so it is spoofed.",
        ReasonCode.NON_DIALABLE: "The number shown is a network-only number that cannot be "
        "called back.",
        ReasonCode.PREMIUM_RATE_CLI: "The number shown is a premium-rate (09) number; "
        "calling it back would cost a lot.",
        ReasonCode.PERSONAL_NUMBER_CLI: "The number shown is a 070 personal number, "
        "which is expensive to call back and often used to hide who is calling.",
        ReasonCode.OWN_NUMBER: "The caller is showing one of this office's own numbers, "
        "which means the caller ID is faked.",
        ReasonCode.INTERNATIONAL_UK_LANDLINE: "The call came in from abroad but shows a UK "
        "landline number; UK networks must block such calls as spoofed.",
        ReasonCode.INTERNATIONAL_UK_MOBILE: "The call came in from abroad but shows a UK "
        "mobile number; it may be someone roaming, or a spoofed number.",
        ReasonCode.NO_MATCH: "Nothing suspicious was found about this number.",
    }
)


@dataclass(frozen=True)
class Policy:
    """The tunable part of the decision, built once from the settings."""

    actions: Mapping[ReasonCode, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    home_country_code: int = 44
    own_numbers: frozenset[str] = frozenset()
    international_trunks: frozenset[str] = frozenset()
    repeat_calls: int = 4
    repeat_window: timedelta = timedelta(minutes=10)
    failed_challenge_block: timedelta = timedelta(minutes=60)
    passed_challenge_allow: timedelta = timedelta(hours=24)

    def action_for(self, code: ReasonCode) -> Action:
        return self.actions.get(code, DEFAULT_ACTIONS.get(code, Action.ALLOW))

    @staticmethod
    def effective_actions(overrides: Mapping[str, Action]) -> dict[ReasonCode, Action]:
        actions = dict(DEFAULT_ACTIONS)
        for code, action in overrides.items():
            actions[ReasonCode(code)] = Action(action)
        return actions


def _list_reason(match: ListMatch) -> Reason:
    label = f" ({match.label})" if match.label else ""
    where = f"list \u201c{match.list_name}\u201d{label}"
    if match.kind is ListKind.DO_NOT_ORIGINATE:
        return Reason(
            ReasonCode.DO_NOT_ORIGINATE,
            match.action,
            f"The number shown only ever receives calls and never makes them ({where}): "
            "someone is faking it.",
            VERIFY_ADVICE,
        )
    if match.kind is ListKind.TRUSTED_BRAND:
        return Reason(
            ReasonCode.TRUSTED_BRAND,
            match.action,
            f"The number shown belongs to an organisation scammers often pretend to be "
            f"({where}). It may be genuine, or spoofed.",
            VERIFY_ADVICE,
        )
    if match.kind is ListKind.REGISTRY:
        return Reason(ReasonCode.REGISTRY, match.action, f"The number is on the register {where}.")
    if match.action is Action.ALLOW:
        return Reason(ReasonCode.ALLOW_LIST, Action.ALLOW, f"The number is on the allow {where}.")
    if match.action is Action.BLOCK:
        return Reason(ReasonCode.BLOCK_LIST, Action.BLOCK, f"The number is on the block {where}.")
    return Reason(
        ReasonCode.CHALLENGE_LIST, Action.CHALLENGE, f"The number is on the challenge {where}."
    )


def _rule(policy: Policy, code: ReasonCode, explanation: str | None = None) -> Reason:
    return Reason(code, policy.action_for(code), explanation or _EXPLANATIONS[code])


def _number_reasons(policy: Policy, number: NumberInfo) -> list[Reason]:
    if number.withheld:
        return [_rule(policy, ReasonCode.WITHHELD)]
    reasons: list[Reason] = []
    problems = set(number.problems)
    specific = {
        NumberProblem.MALFORMED_PREFIX: ReasonCode.MALFORMED_CLI,
        NumberProblem.DRAMA_RANGE: ReasonCode.DRAMA_RANGE,
        NumberProblem.NON_DIALABLE: ReasonCode.NON_DIALABLE,
    }
    for problem, code in specific.items():
        if problem in problems:
            reasons.append(_rule(policy, code))
    if not reasons and problems & {NumberProblem.INVALID, NumberProblem.NOT_A_NUMBER}:
        reasons.append(_rule(policy, ReasonCode.INVALID_CLI))
    if number.number_type is NumberType.PREMIUM_RATE:
        reasons.append(_rule(policy, ReasonCode.PREMIUM_RATE_CLI))
    elif number.number_type is NumberType.PERSONAL_NUMBER:
        reasons.append(_rule(policy, ReasonCode.PERSONAL_NUMBER_CLI))
    return reasons


def _origin_reasons(policy: Policy, number: NumberInfo, trunk: str | None) -> list[Reason]:
    reasons: list[Reason] = []
    if number.e164 is not None and number.e164 in policy.own_numbers:
        reasons.append(_rule(policy, ReasonCode.OWN_NUMBER))
    if (
        trunk
        and trunk in policy.international_trunks
        and number.country_code == (policy.home_country_code)
    ):
        if number.number_type in (NumberType.MOBILE, NumberType.PAGER):
            reasons.append(_rule(policy, ReasonCode.INTERNATIONAL_UK_MOBILE))
        elif number.number_type is not NumberType.WITHHELD:
            reasons.append(_rule(policy, ReasonCode.INTERNATIONAL_UK_LANDLINE))
    return reasons


def _history_reasons(policy: Policy, history: CallerHistory, now: datetime) -> list[Reason]:
    reasons: list[Reason] = []
    if history.recent_calls >= policy.repeat_calls:
        minutes = int(policy.repeat_window.total_seconds() // 60)
        reasons.append(
            _rule(
                policy,
                ReasonCode.REPEAT_CALLER,
                f"This number has called {history.recent_calls} times in the last "
                f"{minutes} minutes, which looks like an auto-dialler.",
            )
        )
    at = history.last_challenge_at
    if at is None:
        return reasons
    if history.last_challenge_result == "failed" and now - at <= policy.failed_challenge_block:
        reasons.append(
            _rule(
                policy,
                ReasonCode.RECENT_CHALLENGE_FAILED,
                "This number recently failed the press-a-digit check (often a robot).",
            )
        )
    elif history.last_challenge_result == "passed" and now - at <= policy.passed_challenge_allow:
        reasons.append(
            _rule(
                policy,
                ReasonCode.RECENT_CHALLENGE_PASSED,
                "This number recently passed the press-a-digit check.",
            )
        )
    return reasons


def _combine(reasons: Iterable[Reason]) -> Action:
    reasons = list(reasons)
    if any(r.code in LIST_REASONS and r.action is Action.ALLOW for r in reasons):
        return Action.ALLOW
    worst = max((r.action for r in reasons), key=ACTION_SEVERITY.__getitem__, default=Action.ALLOW)
    if worst is Action.CHALLENGE:
        passed = any(
            r.code is ReasonCode.RECENT_CHALLENGE_PASSED and r.action is Action.ALLOW
            for r in reasons
        )
        impersonation = any(
            r.code in IMPERSONATION_REASONS and r.action is not Action.ALLOW for r in reasons
        )
        if passed and not impersonation:
            return Action.ALLOW
    return worst


def decide(
    policy: Policy,
    number: NumberInfo,
    matches: Iterable[ListMatch] = (),
    history: CallerHistory | None = None,
    trunk: str | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Decide what to do with a call and say every reason why.

    An allow-list match wins over everything; otherwise the most severe action
    among the reasons applies; a recently passed challenge lets a caller skip
    a new challenge unless the number impersonates a trusted organisation.
    """
    match_list = tuple(matches)
    reasons: list[Reason] = [_list_reason(m) for m in match_list]
    reasons += _number_reasons(policy, number)
    reasons += _origin_reasons(policy, number, trunk)
    if history is not None:
        reasons += _history_reasons(policy, history, now or datetime.now().astimezone())
    if not reasons:
        reasons.append(_rule(policy, ReasonCode.NO_MATCH))
    return Verdict(_combine(reasons), tuple(reasons), number, match_list)
