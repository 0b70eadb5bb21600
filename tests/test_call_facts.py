"""The facts of a call are the same whichever way it reached Screener (ARI or FastAGI)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screener.agi.protocol import AgiEnvironment
from screener.ari.models import Channel
from screener.calls.facts import facts_from_agi, facts_from_ari, trunk_from_channel_name

CHANNELS = [
    ("PJSIP/trunk-000015eb", "trunk"),
    ("PJSIP/bt-sip-trunk-0000000a", "bt-sip-trunk"),
    ("SIP/carrier-0000002a", "carrier"),
    ("IAX2/peer-00000001", "peer"),
    ("Local/441234@from-trunk-0000000b;2", "Local/441234@from-trunk"),
    ("DAHDI/1-1", "DAHDI/1"),
    ("DAHDI/i1/01134960000-5", "DAHDI/i1/01134960000"),
    ("garbage", None),
    ("", None),
]


def ari_channel(name: str, number: str = "+441134960000", caller_name: str = "") -> Channel:
    return Channel.model_validate(
        {"id": "1.2", "name": name, "caller": {"name": caller_name, "number": number}}
    )


def agi_env(
    channel: str, number: str = "+441134960000", args: tuple[str, ...] = ()
) -> AgiEnvironment:
    return AgiEnvironment(
        {
            "agi_channel": channel,
            "agi_callerid": number,
            "agi_calleridname": "unknown",
            "agi_callingpres": "0",
            "agi_dnid": "01134960000",
            "agi_extension": "s",
            "agi_uniqueid": "1763800000.42",
        },
        args,
    )


@pytest.mark.parametrize(("name", "trunk"), CHANNELS)
def test_trunk_from_channel_name(name: str, trunk: str | None) -> None:
    assert trunk_from_channel_name(name) == trunk


@pytest.mark.parametrize(("name", "trunk"), CHANNELS)
def test_the_same_channel_gives_the_same_trunk_on_both_paths(name: str, trunk: str | None) -> None:
    over_ari = facts_from_ari(ari_channel(name), ["01134960000"], "allowed", {})
    over_agi = facts_from_agi(agi_env(name))
    assert over_ari.trunk == over_agi.trunk == trunk


@given(st.text(max_size=300))
def test_any_channel_name_gives_the_same_trunk_on_both_paths(name: str) -> None:
    over_ari = facts_from_ari(ari_channel(name), [], None, {})
    over_agi = facts_from_agi(agi_env(name))
    assert over_ari.trunk == over_agi.trunk
    assert over_ari.trunk is None or len(over_ari.trunk) <= 128


def test_a_trunk_given_by_the_dialplan_wins_on_both_paths() -> None:
    over_ari = facts_from_ari(ari_channel("PJSIP/x-00000001"), ["441234", "intl"], None, {})
    over_agi = facts_from_agi(agi_env("PJSIP/x-00000001", args=("441234", "intl")))
    assert over_ari.trunk == over_agi.trunk == "intl"
    assert over_ari.did == over_agi.did == "441234"


def test_facts_clip_attacker_controlled_text() -> None:
    channel = ari_channel("PJSIP/t-00000001", number="9" * 999, caller_name="A" * 5000)
    facts = facts_from_ari(
        channel, [], "prohib\x00", {"PJSIP_HEADER(read,X)": "v" * 999, "Y": None}
    )
    assert len(facts.caller_name) == 256 and len(facts.caller_number) == 256
    assert facts.presentation == "prohib\ufffd"
    assert facts.did is None and facts.trunk == "t"
    assert dict(facts.extra) == {"PJSIP_HEADER(read,X)": "v" * 256}


def test_a_non_did_extension_is_not_taken_as_the_dialled_number() -> None:
    env = AgiEnvironment({"agi_callerid": "x", "agi_extension": "s"}, ())
    assert facts_from_agi(env).did is None
