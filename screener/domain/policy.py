"""The call decision: facts + list matches + caller history -> decision. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from screener.domain.model import CallerHistory, Decision, ListMatch, NumberInfo, Reason
from screener.domain.rules import IMPERSONATION, LIST_RULES, RULES, default_actions
from screener.domain.vocabulary import (
    ACTION_SEVERITY,
    Action,
    ChallengeResult,
    ListKind,
    NumberProblem,
    NumberType,
    ReasonCode,
)

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


@dataclass(frozen=True)
class Policy:
    """The tunable part of the decision, built once from the settings."""

    actions: Mapping[ReasonCode, Action] = field(default_factory=default_actions)
    home_country_code: int = 44
    own_numbers: frozenset[str] = frozenset()
    international_trunks: frozenset[str] = frozenset()
    repeat_calls: int = 4
    repeat_window: timedelta = timedelta(minutes=10)
    failed_challenge_block: timedelta = timedelta(minutes=60)
    passed_challenge_allow: timedelta = timedelta(hours=24)

    def action_for(self, code: ReasonCode) -> Action:
        found = self.actions.get(code)
        if found is not None:
            return found
        return RULES[code].default_action or Action.ALLOW


def _list_code(match: ListMatch) -> ReasonCode:
    if match.kind is ListKind.DO_NOT_ORIGINATE:
        return ReasonCode.DO_NOT_ORIGINATE
    if match.kind is ListKind.TRUSTED_BRAND:
        return ReasonCode.TRUSTED_BRAND
    if match.kind is ListKind.REGISTRY:
        return ReasonCode.REGISTRY
    if match.action is Action.ALLOW:
        return ReasonCode.ALLOW_LIST
    if match.action is Action.BLOCK:
        return ReasonCode.BLOCK_LIST
    if match.action is Action.SCREEN:
        return ReasonCode.SCREEN_LIST
    return ReasonCode.CHALLENGE_LIST


def _list_reason(match: ListMatch) -> Reason:
    label = f" ({match.label})" if match.label else ""
    where = f"list \u201c{match.list_name}\u201d{label}"
    code = _list_code(match)
    rule = RULES[code]
    return Reason(code, match.action, rule.explain(where=where), rule.advice)


def _rule(policy: Policy, code: ReasonCode, **facts: object) -> Reason:
    rule = RULES[code]
    return Reason(code, policy.action_for(code), rule.explain(**facts), rule.advice)


def _number_reasons(policy: Policy, number: NumberInfo) -> list[Reason]:
    """The withheld rule, and the rules on the number itself whenever it is known.

    A caller who withholds their number (presentation prohibited) still sends it: when
    the network passes it on (``e164``), a drama-range or 09 number is as suspect
    withheld as shown, so every number rule applies to it as well.
    """
    reasons: list[Reason] = []
    if number.withheld:
        reasons.append(_rule(policy, ReasonCode.WITHHELD))
        if number.e164 is None:
            return reasons
    problems = set(number.problems)
    specific = {
        NumberProblem.MALFORMED_PREFIX: ReasonCode.MALFORMED_CLI,
        NumberProblem.DRAMA_RANGE: ReasonCode.DRAMA_RANGE,
        NumberProblem.NON_DIALABLE: ReasonCode.NON_DIALABLE,
    }
    found = [_rule(policy, code) for problem, code in specific.items() if problem in problems]
    if not found and problems & {NumberProblem.INVALID, NumberProblem.NOT_A_NUMBER}:
        found.append(_rule(policy, ReasonCode.INVALID_CLI))
    reasons += found
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
            _rule(policy, ReasonCode.REPEAT_CALLER, count=history.recent_calls, minutes=minutes)
        )
    at = history.last_challenge_at
    if at is None:
        return reasons
    result = history.last_challenge_result
    if result is ChallengeResult.FAILED and now - at <= policy.failed_challenge_block:
        reasons.append(_rule(policy, ReasonCode.RECENT_CHALLENGE_FAILED))
    elif result is ChallengeResult.PASSED and now - at <= policy.passed_challenge_allow:
        reasons.append(_rule(policy, ReasonCode.RECENT_CHALLENGE_PASSED))
    return reasons


def _most_severe(actions: Iterable[Action]) -> Action:
    return max(actions, key=ACTION_SEVERITY.__getitem__, default=Action.ALLOW)


def _is_allow_entry(reason: Reason) -> bool:
    """A match on a list whose action is allow, other than an impersonation list.

    A do-not-originate or trusted-brand list set to allow only gives its own reason that
    action: it never waives the other reasons.
    """
    return (
        reason.code in LIST_RULES
        and reason.code not in IMPERSONATION
        and reason.action is Action.ALLOW
    )


def _combine(reasons: Iterable[Reason]) -> Action:
    """The action of a call from all its reasons (docs/policy.md, "How the action is chosen").

    1. An allow entry waives every reason but a do-not-originate match: such a number
       never makes calls, so a call showing it is spoofed whatever else lists it; the
       do-not-originate action applies (the most severe, if several lists match).
    2. Otherwise the most severe action among the reasons applies.
    3. A recent pass of the check skips a challenge (not a block), unless an impersonation
       reason asks for more than allow.
    """
    reasons = list(reasons)
    if any(_is_allow_entry(r) for r in reasons):
        return _most_severe(r.action for r in reasons if r.code is ReasonCode.DO_NOT_ORIGINATE)
    worst = _most_severe(r.action for r in reasons)
    if worst is Action.CHALLENGE:
        passed = any(
            r.code is ReasonCode.RECENT_CHALLENGE_PASSED and r.action is Action.ALLOW
            for r in reasons
        )
        impersonation = any(
            r.code in IMPERSONATION and r.action is not Action.ALLOW for r in reasons
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
) -> Decision:
    """Decide what to do with a call and say every reason why.

    An allow entry wins over everything but a do-not-originate match (whose action
    applies: such a number never calls); otherwise the most severe action among the
    reasons applies; a recently passed challenge lets a caller skip a new challenge
    unless the number impersonates a trusted organisation. Every reason that fired is
    reported, waived or not.
    """
    match_list = tuple(matches)
    reasons: list[Reason] = [_list_reason(m) for m in match_list]
    reasons += _number_reasons(policy, number)
    reasons += _origin_reasons(policy, number, trunk)
    if history is not None:
        reasons += _history_reasons(policy, history, now or datetime.now().astimezone())
    if not reasons:
        reasons.append(_rule(policy, ReasonCode.NO_MATCH))
    return Decision(_combine(reasons), tuple(reasons), number, match_list)
