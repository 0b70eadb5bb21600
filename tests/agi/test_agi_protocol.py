"""Pure parts of the FastAGI protocol: presentation, trunk, script name, quoting."""

from __future__ import annotations

import pytest

from screener.agi.protocol import (
    AgiProtocolError,
    parse_environment,
    presentation_name,
    set_variable_command,
)
from screener.calls.facts import facts_from_agi
from screener.domain.numbers import is_withheld_presentation


@pytest.mark.parametrize(
    ("raw", "name", "withheld"),
    [
        ("0", "allowed_not_screened", False),
        ("1", "allowed_passed_screen", False),
        ("2", "allowed_failed_screen", False),
        ("3", "allowed", False),
        ("32", "prohib_not_screened", True),
        ("33", "prohib_passed_screen", True),
        ("34", "prohib_failed_screen", True),
        ("35", "prohib", True),
        ("67", "unavailable", True),
        ("36", "prohib", True),
        ("64", "unavailable", True),
        ("96", None, False),
        ("-1", None, False),
        ("abc", None, False),
        ("", None, False),
        ("99999", None, False),
    ],
)
def test_callingpres_maps_to_presentation(raw: str, name: str | None, withheld: bool) -> None:
    assert presentation_name(raw) == name
    assert is_withheld_presentation(presentation_name(raw)) is withheld


def test_environment_arguments_and_script() -> None:
    env = parse_environment(
        [
            b"agi_request: agi://10.0.0.5:4573/Screen?x=1\n",
            b"agi_callerid: unknown\n",
            b"agi_calleridname: unknown\n",
            b"agi_callingpres: 32\n",
            b"agi_dnid: unknown\n",
            b"agi_extension: s\n",
            b"agi_channel: PJSIP/carrier-00000001\n",
            b"agi_arg_2: override-trunk\n",
            b"agi_arg_1: \n",
            b"agi_callerid: +447700900999\n",  # a repeated key does not replace the first
        ]
    )
    assert env.script == "screen"
    assert env.args == ("", "override-trunk")
    facts = facts_from_agi(env)
    assert facts.caller_number == "unknown"
    assert facts.caller_name == ""
    assert facts.presentation == "prohib_not_screened"
    assert facts.did is None
    assert facts.trunk == "override-trunk"


@pytest.mark.parametrize(
    "lines",
    [
        [b"hello\n"],
        [b"AGI_REQUEST: agi://x/screen\n"],
        [b"agi_callerid: 1\n"],
        [b"agi_request: agi://x/screen\n", b"agi_arg_0: x\n"],
    ],
)
def test_malformed_environments_are_refused(lines: list[bytes]) -> None:
    with pytest.raises(AgiProtocolError):
        parse_environment(lines)


def test_set_variable_quotes_values_and_checks_names() -> None:
    assert set_variable_command("SCREENER_REASONS", 'a"b\\c\nd') == (
        'SET VARIABLE SCREENER_REASONS "a\\"b\\\\c d"'
    )
    with pytest.raises(ValueError):
        set_variable_command("BAD NAME", "x")
