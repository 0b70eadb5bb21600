"""The pure call decision: every rule, precedence, and configurability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.domain.model import CallerHistory, ListMatch
from screener.domain.numbers import NumberAnalyser
from screener.domain.policy import Policy, decide
from screener.domain.rules import CONFIGURABLE, IMPERSONATION, LIST_RULES, default_actions
from screener.domain.vocabulary import (
    ACTION_SEVERITY,
    Action,
    ChallengeResult,
    ListKind,
    ReasonCode,
)

GB = NumberAnalyser("GB")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
REAL_LANDLINE = "020 7123 4567"
REAL_MOBILE = "07911 123456"


def match(
    kind: ListKind, action: Action, value: str = "+442071234567", name: str = "l"
) -> ListMatch:
    return ListMatch(1, name, action, kind, 1, value, False, "label")


def codes(verdict: object) -> set[str]:
    return {r.code.value for r in verdict.reasons}  # type: ignore[attr-defined]


def test_nothing_matched_allows_with_a_reason() -> None:
    verdict = decide(Policy(), GB.analyse(REAL_LANDLINE))
    assert verdict.action is Action.ALLOW
    assert codes(verdict) == {"no_match"}
    assert not verdict.flagged


def test_withheld_is_challenged_not_blocked() -> None:
    verdict = decide(Policy(), GB.analyse("anonymous"))
    assert verdict.action is Action.CHALLENGE
    assert codes(verdict) == {"withheld"}
    assert "withheld" in verdict.reasons[0].explanation


def test_withheld_by_presentation_still_matches_lists_on_the_real_number() -> None:
    number = GB.analyse("+442071234567", "prohib_not_screened")
    verdict = decide(Policy(), number, [match(ListKind.NUISANCE, Action.BLOCK)])
    assert verdict.action is Action.BLOCK
    assert codes(verdict) == {"block_list", "withheld"}


def test_allow_list_wins_over_everything() -> None:
    number = GB.analyse("+442071234567", "prohib")
    verdict = decide(
        Policy(own_numbers=frozenset({"+442071234567"})),
        number,
        [match(ListKind.NUISANCE, Action.BLOCK), match(ListKind.CONTACTS, Action.ALLOW)],
        CallerHistory(
            recent_calls=50, last_challenge_result=ChallengeResult.FAILED, last_challenge_at=NOW
        ),
        now=NOW,
    )
    assert verdict.action is Action.ALLOW
    # Every reason that fired is still reported.
    assert {"allow_list", "block_list", "withheld", "own_number", "repeat_caller"} <= codes(verdict)


def test_do_not_originate_blocks_and_says_how_to_verify() -> None:
    verdict = decide(
        Policy(), GB.analyse(REAL_LANDLINE), [match(ListKind.DO_NOT_ORIGINATE, Action.BLOCK)]
    )
    assert verdict.action is Action.BLOCK
    reason = verdict.reasons[0]
    assert reason.code is ReasonCode.DO_NOT_ORIGINATE
    assert reason.advice and "101" in reason.advice and "159" in reason.advice


def test_trusted_brand_is_challenged_and_flagged_with_advice() -> None:
    verdict = decide(
        Policy(), GB.analyse(REAL_LANDLINE), [match(ListKind.TRUSTED_BRAND, Action.CHALLENGE)]
    )
    assert verdict.action is Action.CHALLENGE
    assert verdict.flagged
    assert verdict.reasons[0].advice is not None
    assert "different phone line" in verdict.reasons[0].advice


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("12345", "invalid_cli"),
        ("+4402071234567", "malformed_cli"),
        ("020 7946 0123", "drama_range"),
        ("08979 123456", "non_dialable"),
        ("0901 234 5678", "premium_rate_cli"),
        ("070 1234 5678", "personal_number_cli"),
    ],
)
def test_number_rules_challenge_by_default(raw: str, code: str) -> None:
    verdict = decide(Policy(), GB.analyse(raw))
    assert code in codes(verdict)
    assert verdict.action is Action.CHALLENGE


def test_specific_problem_replaces_generic_invalid() -> None:
    verdict = decide(Policy(), GB.analyse("07700 900123"))
    assert "drama_range" in codes(verdict)
    assert "invalid_cli" not in codes(verdict)


def test_own_number_is_challenged() -> None:
    policy = Policy(own_numbers=frozenset({"+442071234567"}))
    verdict = decide(policy, GB.analyse(REAL_LANDLINE))
    assert codes(verdict) == {"own_number"}
    assert verdict.action is Action.CHALLENGE


def test_international_trunk_showing_uk_landline_is_blocked_and_mobile_challenged() -> None:
    policy = Policy(international_trunks=frozenset({"intl"}))
    landline = decide(policy, GB.analyse(REAL_LANDLINE), trunk="intl")
    mobile = decide(policy, GB.analyse(REAL_MOBILE), trunk="intl")
    domestic = decide(policy, GB.analyse(REAL_LANDLINE), trunk="uk-carrier")
    foreign = decide(policy, GB.analyse("+33 1 42 68 53 00"), trunk="intl")
    assert landline.action is Action.BLOCK and "international_uk_landline" in codes(landline)
    assert mobile.action is Action.CHALLENGE and "international_uk_mobile" in codes(mobile)
    assert domestic.action is Action.ALLOW
    assert foreign.action is Action.ALLOW


def test_repeat_caller_threshold() -> None:
    policy = Policy(repeat_calls=3, repeat_window=timedelta(minutes=5))
    below = decide(policy, GB.analyse(REAL_MOBILE), history=CallerHistory(recent_calls=2), now=NOW)
    at = decide(policy, GB.analyse(REAL_MOBILE), history=CallerHistory(recent_calls=3), now=NOW)
    assert below.action is Action.ALLOW
    assert at.action is Action.CHALLENGE
    assert "3 times in the last 5 minutes" in at.reasons[0].explanation


def test_recent_failure_blocks_for_a_while_then_expires() -> None:
    policy = Policy(failed_challenge_block=timedelta(minutes=60))
    recent = CallerHistory(1, ChallengeResult.FAILED, NOW - timedelta(minutes=30))
    old = CallerHistory(1, ChallengeResult.FAILED, NOW - timedelta(minutes=90))
    assert decide(policy, GB.analyse(REAL_MOBILE), history=recent, now=NOW).action is Action.BLOCK
    assert decide(policy, GB.analyse(REAL_MOBILE), history=old, now=NOW).action is Action.ALLOW


def test_recent_pass_skips_the_challenge_but_not_for_impersonation() -> None:
    passed = CallerHistory(1, ChallengeResult.PASSED, NOW - timedelta(minutes=10))
    withheld_number = GB.analyse("+442071234567", "prohib")
    assert decide(Policy(), withheld_number, history=passed, now=NOW).action is Action.ALLOW
    brand = decide(
        Policy(),
        GB.analyse(REAL_LANDLINE),
        [match(ListKind.TRUSTED_BRAND, Action.CHALLENGE)],
        passed,
        now=NOW,
    )
    assert brand.action is Action.CHALLENGE


def test_recent_pass_does_not_override_a_block() -> None:
    passed = CallerHistory(1, ChallengeResult.PASSED, NOW - timedelta(minutes=10))
    verdict = decide(
        Policy(),
        GB.analyse(REAL_LANDLINE),
        [match(ListKind.NUISANCE, Action.BLOCK)],
        passed,
        now=NOW,
    )
    assert verdict.action is Action.BLOCK


def test_every_reason_is_configurable() -> None:
    for code in CONFIGURABLE:
        for action in Action:
            policy = Policy(actions={**default_actions(), code: action})
            assert policy.action_for(code) is action


def test_configured_action_changes_the_verdict() -> None:
    strict = Policy(actions={**default_actions(), ReasonCode.WITHHELD: Action.BLOCK})
    lenient = Policy(actions={**default_actions(), ReasonCode.WITHHELD: Action.ALLOW})
    assert decide(strict, GB.analyse("anonymous")).action is Action.BLOCK
    assert decide(lenient, GB.analyse("anonymous")).action is Action.ALLOW


def test_registry_and_challenge_lists_take_the_list_action() -> None:
    reg = decide(Policy(), GB.analyse(REAL_MOBILE), [match(ListKind.REGISTRY, Action.BLOCK)])
    chal = decide(Policy(), GB.analyse(REAL_MOBILE), [match(ListKind.NUISANCE, Action.CHALLENGE)])
    assert reg.action is Action.BLOCK and codes(reg) == {"registry"}
    assert chal.action is Action.CHALLENGE and codes(chal) == {"challenge_list"}


def test_explanations_do_not_embed_caller_text() -> None:
    hostile = "<script>alert(1)</script>"
    verdict = decide(Policy(), GB.analyse(hostile))
    assert all(hostile not in r.explanation for r in verdict.reasons)


@given(
    withheld=st.booleans(),
    kinds=st.lists(st.sampled_from(list(ListKind)), max_size=3),
    actions=st.lists(st.sampled_from(list(Action)), min_size=3, max_size=3),
    recent=st.integers(0, 10),
)
def test_decision_invariants(
    withheld: bool, kinds: list[ListKind], actions: list[Action], recent: int
) -> None:
    matches = [match(kind, actions[i]) for i, kind in enumerate(kinds)]
    number = GB.analyse(REAL_LANDLINE, "prohib" if withheld else None)
    verdict = decide(Policy(), number, matches, CallerHistory(recent_calls=recent), now=NOW)
    assert verdict.reasons, "there is always at least one reason"
    never_calls = [m.action for m in matches if m.kind is ListKind.DO_NOT_ORIGINATE]
    if any(m.action is Action.ALLOW and m.kind not in IMPERSONATION_KINDS for m in matches):
        assert verdict.action is most_severe(never_calls)
    elif any(r.action is Action.BLOCK for r in verdict.reasons):
        assert verdict.action is Action.BLOCK
    # The action is always one some reason asked for, or allow.
    assert verdict.action in {r.action for r in verdict.reasons} | {Action.ALLOW}


IMPERSONATION_KINDS = frozenset({ListKind.DO_NOT_ORIGINATE, ListKind.TRUSTED_BRAND})


def most_severe(actions: list[Action]) -> Action:
    return max(actions, key=ACTION_SEVERITY.__getitem__, default=Action.ALLOW)


# -- impersonated numbers on allow lists -------------------------------------------

HMRC = "0300 200 3300"


def test_an_allow_entry_does_not_let_a_spoofed_do_not_originate_number_through() -> None:
    verdict = decide(
        Policy(),
        GB.analyse(HMRC),
        [
            match(ListKind.CONTACTS, Action.ALLOW, "+443002003300", "accountants"),
            match(ListKind.DO_NOT_ORIGINATE, Action.BLOCK, "+443002003300", "hmrc"),
        ],
    )
    assert verdict.action is Action.BLOCK
    assert verdict.flagged and verdict.impersonation
    # The allow entry is still reported, with the do-not-originate reason and its advice.
    assert codes(verdict) == {"allow_list", "do_not_originate"}
    reason = next(r for r in verdict.reasons if r.code is ReasonCode.DO_NOT_ORIGINATE)
    assert reason.advice and "published number" in reason.advice


def test_an_allow_entry_waives_everything_but_the_do_not_originate_action() -> None:
    passed = CallerHistory(1, ChallengeResult.PASSED, NOW - timedelta(minutes=10))
    verdict = decide(
        Policy(),
        GB.analyse(HMRC, "prohib"),
        [
            match(ListKind.CONTACTS, Action.ALLOW),
            match(ListKind.NUISANCE, Action.BLOCK),
            match(ListKind.DO_NOT_ORIGINATE, Action.CHALLENGE),
        ],
        passed,
        now=NOW,
    )
    # The nuisance block is waived by the allow entry; the do-not-originate challenge is
    # not, and a recent pass does not skip it either.
    assert verdict.action is Action.CHALLENGE
    assert {"allow_list", "block_list", "do_not_originate", "withheld"} <= codes(verdict)


def test_an_allow_entry_on_a_trusted_brand_number_keeps_the_warning_and_the_advice() -> None:
    verdict = decide(
        Policy(),
        GB.analyse(REAL_LANDLINE),
        [
            match(ListKind.TRUSTED_BRAND, Action.CHALLENGE, name="banks"),
            match(ListKind.CONTACTS, Action.ALLOW, name="suppliers"),
        ],
    )
    assert verdict.action is Action.ALLOW
    assert verdict.impersonation
    assert codes(verdict) == {"allow_list", "trusted_brand"}
    reason = next(r for r in verdict.reasons if r.code is ReasonCode.TRUSTED_BRAND)
    assert reason.advice and "different phone line" in reason.advice


def test_an_allowed_trusted_brand_call_is_flagged() -> None:
    verdict = decide(
        Policy(),
        GB.analyse(REAL_LANDLINE),
        [match(ListKind.TRUSTED_BRAND, Action.CHALLENGE), match(ListKind.CONTACTS, Action.ALLOW)],
    )
    assert verdict.flagged


def test_an_impersonation_list_set_to_allow_waives_nothing() -> None:
    policy = Policy(international_trunks=frozenset({"intl"}))
    for kind in IMPERSONATION_KINDS:
        verdict = decide(
            policy, GB.analyse(REAL_LANDLINE), [match(kind, Action.ALLOW)], trunk="intl"
        )
        assert verdict.action is Action.BLOCK, kind
        assert "international_uk_landline" in codes(verdict)


@given(
    kinds=st.lists(st.sampled_from(list(ListKind)), max_size=4),
    actions=st.lists(st.sampled_from(list(Action)), min_size=4, max_size=4),
    withheld=st.booleans(),
    passed=st.booleans(),
    raw=st.sampled_from([REAL_LANDLINE, HMRC, "020 7946 0018", "0901 234 5678", "12345"]),
)
def test_no_allow_entry_overrides_a_do_not_originate_match(
    kinds: list[ListKind], actions: list[Action], withheld: bool, passed: bool, raw: str
) -> None:
    matches = [match(kind, actions[i]) for i, kind in enumerate(kinds)]
    history = CallerHistory(
        1,
        ChallengeResult.PASSED if passed else None,
        NOW - timedelta(minutes=5) if passed else None,
    )
    number = GB.analyse(raw, "prohib" if withheld else None)
    verdict = decide(Policy(), number, matches, history, now=NOW)
    severity = ACTION_SEVERITY[verdict.action]
    for m in matches:
        if m.kind is ListKind.DO_NOT_ORIGINATE:
            # Its action applies whatever else matched.
            assert severity >= ACTION_SEVERITY[m.action]
    # Every match is reported, impersonation reasons with their advice.
    listed = [r for r in verdict.reasons if r.code in LIST_RULES]
    assert len(listed) == len(matches)
    for r in listed:
        if r.code in IMPERSONATION:
            assert r.advice
    assert verdict.impersonation is any(m.kind in IMPERSONATION_KINDS for m in matches)


# -- withheld numbers that are known ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("+442079460018", "drama_range"),
        ("0901 234 5678", "premium_rate_cli"),
        ("070 1234 5678", "personal_number_cli"),
        ("08979 123456", "non_dialable"),
        ("+4402071234567", "malformed_cli"),
        ("12345", "invalid_cli"),
    ],
)
def test_a_withheld_but_known_number_still_gets_every_number_rule(raw: str, code: str) -> None:
    number = GB.analyse(raw, "prohib_not_screened")
    assert number.withheld and number.e164
    verdict = decide(Policy(), number)
    assert {"withheld", code} <= codes(verdict)
    assert verdict.action is Action.CHALLENGE


@pytest.mark.parametrize("raw", ["+442079460018", "09012345678"])
def test_allowing_withheld_calls_does_not_allow_a_withheld_drama_or_09_number(raw: str) -> None:
    lenient = Policy(actions={**default_actions(), ReasonCode.WITHHELD: Action.ALLOW})
    verdict = decide(lenient, GB.analyse(raw, "prohib"))
    assert verdict.action is Action.CHALLENGE
    assert decide(lenient, GB.analyse(REAL_LANDLINE, "prohib")).action is Action.ALLOW


def test_a_withheld_unknown_number_has_the_withheld_reason_only() -> None:
    for raw, presentation in (("anonymous", None), ("", "prohib"), ("not a number", "prohib")):
        verdict = decide(Policy(), GB.analyse(raw, presentation))
        assert codes(verdict) == {"withheld"}, raw
