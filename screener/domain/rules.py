"""The rule catalogue: per reason code, its default action, label, explanation and advice.

This table is the one place a screening rule is described. The policy takes default
actions and explanations from it, the web console and the API their labels and
summaries, and ``docs/policy.md`` is checked against it by the tests. Adding a rule
means a :class:`~screener.domain.vocabulary.ReasonCode`, an entry here, and the code in
:mod:`screener.domain.policy` that fires it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from screener.domain.vocabulary import Action, ReasonCode


class RuleGroup(StrEnum):
    """What a rule looks at."""

    LIST = "list"
    NUMBER = "number"
    ORIGIN = "origin"
    HISTORY = "history"
    SPEECH = "speech"
    """What the caller said in their recording (applied after the call's decision)."""
    NONE = "none"


VERIFY_ADVICE = (
    "Do not act on this call. Hang up and call the organisation back on its published "
    "number (101 for the police, 159 for banks) from a different phone line. "
    "The police never ask for money over the phone or threaten arrest for not paying."
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One screening rule.

    ``detail`` is the explanation of one call, a ``str.format`` template over the facts
    the policy passes (``where`` for list rules, ``count`` and ``minutes`` for the repeat
    caller); ``summary`` is the explanation of the rule in general. ``default_action``
    is ``None`` for list rules, whose action is the matching list's.
    """

    code: ReasonCode
    group: RuleGroup
    label: str
    summary: str
    default_action: Action | None
    detail: str = ""
    advice: str | None = None
    impersonation: bool = False

    @property
    def configurable(self) -> bool:
        """Whether an admin may change the rule's action (list rules follow their list)."""
        return self.group is not RuleGroup.LIST and self.code is not ReasonCode.NO_MATCH

    def explain(self, **facts: object) -> str:
        return (self.detail or self.summary).format(**facts)


_RULES = (
    Rule(
        ReasonCode.ALLOW_LIST,
        RuleGroup.LIST,
        "On an allow list",
        "The number is on a list whose action is allow.",
        None,
        "The number is on the allow {where}.",
    ),
    Rule(
        ReasonCode.BLOCK_LIST,
        RuleGroup.LIST,
        "On a block list",
        "The number is on a list whose action is block.",
        None,
        "The number is on the block {where}.",
    ),
    Rule(
        ReasonCode.CHALLENGE_LIST,
        RuleGroup.LIST,
        "On a challenge list",
        "The number is on a list whose action is challenge.",
        None,
        "The number is on the challenge {where}.",
    ),
    Rule(
        ReasonCode.SCREEN_LIST,
        RuleGroup.LIST,
        "On a screen list",
        "The number is on a list whose action is screen: reception decides while the caller waits.",
        None,
        "The number is on the screen {where}.",
    ),
    Rule(
        ReasonCode.DO_NOT_ORIGINATE,
        RuleGroup.LIST,
        "Impersonation: number never calls out",
        "The number shown only ever receives calls and never makes them: someone is faking it.",
        None,
        "The number shown only ever receives calls and never makes them ({where}): "
        "someone is faking it.",
        VERIFY_ADVICE,
        impersonation=True,
    ),
    Rule(
        ReasonCode.TRUSTED_BRAND,
        RuleGroup.LIST,
        "Impersonation risk: trusted organisation's number",
        "The number shown belongs to an organisation scammers often pretend to be. It may "
        "be genuine, or spoofed.",
        None,
        "The number shown belongs to an organisation scammers often pretend to be "
        "({where}). It may be genuine, or spoofed.",
        VERIFY_ADVICE,
        impersonation=True,
    ),
    Rule(
        ReasonCode.REGISTRY,
        RuleGroup.LIST,
        "On a register",
        "The number is on a register (such as a preference service list).",
        None,
        "The number is on the register {where}.",
    ),
    Rule(
        ReasonCode.WITHHELD,
        RuleGroup.NUMBER,
        "Number withheld",
        "The caller withheld their number. Genuine police, HMRC and banks do not call "
        "from withheld numbers.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.INVALID_CLI,
        RuleGroup.NUMBER,
        "Not a real number",
        "The number shown is not a real, dialable phone number, so it is probably spoofed.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.MALFORMED_CLI,
        RuleGroup.NUMBER,
        "Malformed number",
        "The number shown has a malformed prefix (such as +440...) that real networks do "
        "not send: it was probably made up.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.DRAMA_RANGE,
        RuleGroup.NUMBER,
        "TV drama number",
        "The number shown is in a range Ofcom reserves for TV and films; no real line has "
        "it, so it is spoofed.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.NON_DIALABLE,
        RuleGroup.NUMBER,
        "Cannot be called back",
        "The number shown is a network-only number that cannot be called back.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.PREMIUM_RATE_CLI,
        RuleGroup.NUMBER,
        "Premium-rate number",
        "The number shown is a premium-rate (09) number; calling it back would cost a lot.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.PERSONAL_NUMBER_CLI,
        RuleGroup.NUMBER,
        "070 personal number",
        "The number shown is a 070 personal number, which is expensive to call back and "
        "often used to hide who is calling.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.OWN_NUMBER,
        RuleGroup.ORIGIN,
        "Shows our own number",
        "The caller is showing one of this office's own numbers, which means the caller ID "
        "is faked.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.INTERNATIONAL_UK_LANDLINE,
        RuleGroup.ORIGIN,
        "From abroad, shows a UK landline",
        "The call came in from abroad but shows a UK landline number; UK networks must "
        "block such calls as spoofed.",
        Action.BLOCK,
    ),
    Rule(
        ReasonCode.INTERNATIONAL_UK_MOBILE,
        RuleGroup.ORIGIN,
        "From abroad, shows a UK mobile",
        "The call came in from abroad but shows a UK mobile number; it may be someone "
        "roaming, or a spoofed number.",
        Action.CHALLENGE,
    ),
    Rule(
        ReasonCode.REPEAT_CALLER,
        RuleGroup.HISTORY,
        "Calling repeatedly",
        "The number has called many times in a short while, like an auto-dialler.",
        Action.CHALLENGE,
        "This number has called {count} times in the last {minutes} minutes, which looks "
        "like an auto-dialler.",
    ),
    Rule(
        ReasonCode.RECENT_CHALLENGE_FAILED,
        RuleGroup.HISTORY,
        "Recently failed the check",
        "This number recently failed the press-a-digit check (often a robot).",
        Action.BLOCK,
    ),
    Rule(
        ReasonCode.RECENT_CHALLENGE_PASSED,
        RuleGroup.HISTORY,
        "Recently passed the check",
        "This number recently passed the press-a-digit check.",
        Action.ALLOW,
    ),
    Rule(
        ReasonCode.CLAIMS_AUTHORITY,
        RuleGroup.SPEECH,
        "Claims to be an authority",
        "In the recording of their name and reason, the caller says they are the police, "
        "HMRC, a bank, technical support, a court or a courier, or asks for gift cards or "
        "cryptocurrency: what phone scammers pretend and ask. It is found after the call's "
        "decision, so it warns reception and flags the call for review.",
        Action.ALLOW,
        "In their recording the caller mentions {claims}: scammers often pretend to be such "
        "organisations.",
    ),
    Rule(
        ReasonCode.NO_MATCH,
        RuleGroup.NONE,
        "Nothing suspicious",
        "Nothing suspicious was found about this number.",
        Action.ALLOW,
    ),
)

RULES: Mapping[ReasonCode, Rule] = MappingProxyType({rule.code: rule for rule in _RULES})
"""Every rule, by reason code (in the order of the table above)."""

CONFIGURABLE: tuple[ReasonCode, ...] = tuple(code for code, r in RULES.items() if r.configurable)
"""Reasons whose action the settings file or an admin may change."""

IMPERSONATION: frozenset[ReasonCode] = frozenset(
    code for code, r in RULES.items() if r.impersonation
)
"""Reasons that mean the caller may be impersonating an organisation."""

LIST_RULES: frozenset[ReasonCode] = frozenset(
    code for code, r in RULES.items() if r.group is RuleGroup.LIST
)


def rule(code: ReasonCode | str) -> Rule:
    """The rule of ``code`` (a :class:`ReasonCode` or its value; ValueError if unknown)."""
    return RULES[ReasonCode(code)]


def label(code: object) -> str:
    """A reason code's label, for any stored value (an unknown one is shown readably)."""
    try:
        return RULES[ReasonCode(str(code))].label
    except ValueError:
        return str(code).replace("_", " ")


def default_actions() -> dict[ReasonCode, Action]:
    """The built-in action of every configurable rule."""
    actions: dict[ReasonCode, Action] = {}
    for code in CONFIGURABLE:
        action = RULES[code].default_action
        assert action is not None
        actions[code] = action
    return actions
