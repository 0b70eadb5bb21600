"""The rule catalogue is the one description of every rule: policy, console, API and docs."""

from __future__ import annotations

import re
from pathlib import Path

from screener.domain import labels
from screener.domain.policy import Policy
from screener.domain.rules import CONFIGURABLE, RULES, RuleGroup
from screener.domain.vocabulary import (
    Action,
    CallSource,
    ChallengeResult,
    Delivery,
    Outcome,
    ReasonCode,
    ReviewState,
    ScreenDecision,
    Step,
    TimelineKind,
    Verdict,
)

POLICY_DOC = Path(__file__).resolve().parents[1] / "docs" / "policy.md"
ROW = re.compile(r"^\| `(?P<code>[a-z_]+)` \| (?P<label>[^|]+) \| (?P<default>[^|]+) \|")


def doc_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in POLICY_DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match["code"]] = (match["label"].strip(), match["default"].strip())
    return rows


def test_every_reason_code_has_exactly_one_rule() -> None:
    assert set(RULES) == set(ReasonCode)
    assert all(code is rule.code for code, rule in RULES.items())


def test_docs_describe_every_rule_with_its_label_and_default_action() -> None:
    rows = doc_rows()
    assert set(rows) == {code.value for code in ReasonCode}
    for code, rule in RULES.items():
        label, default = rows[code.value]
        assert label == rule.label, code
        if rule.default_action is not None:
            assert default.split()[0] == rule.default_action.value, code


def test_the_policy_takes_its_defaults_from_the_catalogue() -> None:
    policy = Policy()
    for code in CONFIGURABLE:
        assert policy.action_for(code) is RULES[code].default_action
    assert {c for c, r in RULES.items() if r.group is RuleGroup.LIST}.isdisjoint(CONFIGURABLE)


def test_every_word_of_the_vocabulary_has_plain_words() -> None:
    kinds = (
        Action,
        Verdict,
        Outcome,
        Delivery,
        ChallengeResult,
        ReviewState,
        CallSource,
        Step,
        TimelineKind,
        ScreenDecision,
    )
    for kind in kinds:
        for member in kind:
            words = labels.label(kind, member.value)
            assert words and words != member.value.replace("_", " "), (kind, member)
    assert labels.label(Outcome, None) == ""
    assert labels.label(Outcome, "not-a-word") == "not-a-word"
