"""The shipped dialplans' desk phone feature codes call scripts the FastAGI server has, with
arguments it understands: after a call is answered at a phone (reported by the file's
hangup handler, or recorded by the ARI flow), that phone's *32, *33 and *34, run as the
file writes them, block, allow and report that caller on the real server and database."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import select

from screener.calls.facts import trunk_from_channel_name
from screener.db.models import Call, ListEntry, NumberList
from screener.domain.vocabulary import FeatureResult, PhoneFeature
from screener.settings import AgiSettings
from tests.agi.conftest import RunningAgi, agi_call
from tests.test_shipped_dialplan import (
    COMPOSE,
    CONFIG,
    EXTENSIONS,
    PJSIP,
    Dialplan,
    Step,
    _find_extension,
    jumps,
    pjsip_sections,
    read_dialplan,
    split_top,
)

CODES = {
    "*32": PhoneFeature.BLOCK_LAST,
    "*33": PhoneFeature.ALLOW_LAST,
    "*34": PhoneFeature.REPORT_LAST,
}
FILES = [
    EXTENSIONS,
    CONFIG / "agi" / "extensions-screener-agi.conf",
    CONFIG / "agi" / "freepbx-extensions_custom.conf",
]
# The prompts the feature codes play, every one in Asterisk's core sounds
# (asterisk-core-sounds-en 1.6.1, as Debian's asterisk-core-sounds-en-* packages ship it).
CORE_SOUNDS = {"beep", "beeperr", "auth-thankyou", "im-sorry", "from-unknown-caller"}
SHIPPED_ADDRESS = f"agi://127.0.0.1:{AgiSettings().port}"
_VARIABLE = re.compile(r"\$\{([^{}]+)\}")
_GOSUB = re.compile(r"(?P<location>[^()]+)\((?P<args>[^()]*)\)")


def expand(text: str, values: dict[str, str]) -> str:
    """``${NAME}`` replaced from ``values``; any other variable fails the test."""

    def one(match: re.Match[str]) -> str:
        name = match[1]
        assert name in values, f"the test does not know ${{{name}}} (used in {text!r})"
        return values[name]

    return _VARIABLE.sub(one, text)


def agi_steps(plan: Dialplan, context: str) -> list[Step]:
    return [s for steps in plan.contexts[context].values() for s in steps if s.app == "AGI"]


def request(step: Step, values: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """(script, arguments) of an ``AGI(url,arg,...)`` step, its variables expanded."""
    url, *args = split_top(expand(step.args, values), ",")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname) == ("agi", "127.0.0.1"), url
    return parts.path.strip("/"), tuple(args)


def address(plan: Dialplan) -> str:
    """The FastAGI address the file ships with."""
    if "SCREENER_AGI" in plan.globals:
        return plan.globals["SCREENER_AGI"]
    [found] = {
        s.args.partition("=")[2]
        for s in plan.steps()
        if s.app == "Set" and s.args.startswith("__SCREENER_AGI=")
    }
    return found


def hangup_handlers(plan: Dialplan) -> set[str]:
    return {
        jump.spec[0]
        for step in plan.steps()
        for jump in jumps(step)
        if jump.how == "hangup handler"
    }


def feature_code(plan: Dialplan, code: str) -> tuple[str, str]:
    """(subroutine context, script) of a feature code: ``Gosub(ctx,s,1(script))``."""
    found = [exts[code] for exts in plan.contexts.values() if code in exts]
    assert len(found) == 1, f"{code} is defined {len(found)} times"
    first = found[0][0]
    assert first.app == "Gosub", first
    gosub = _GOSUB.fullmatch(first.args)
    assert gosub is not None, first
    context, extension, priority = (p.strip() for p in gosub["location"].split(","))
    assert (extension, priority) == ("s", "1")
    return context, gosub["args"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_feature_codes_branch_on_every_result_and_play_core_sounds(path: Path) -> None:
    plan = read_dialplan(path)
    assert address(plan) == SHIPPED_ADDRESS
    subroutines = set()
    for code, feature in CODES.items():
        context, script = feature_code(plan, code)
        assert script == feature.value, f"{code} runs {script}"
        subroutines.add(context)
    [context] = subroutines
    steps = plan.contexts[context]["s"]
    compared = set(re.findall(r'SCREENER_FEATURE_RESULT}" = "([a-z-]+)"', str(steps)))
    # Anything else (error, or Screener not reachable) falls through to the error tones.
    assert compared == {r.value for r in FeatureResult} - {FeatureResult.ERROR.value}
    prompts = {
        prompt
        for step in steps
        for prompt in re.findall(r"Playback\(([^)]*)\)", f"{step.app}({step.args})")
        for prompt in prompt.split("&")
    }
    assert prompts and prompts <= CORE_SOUNDS, prompts - CORE_SOUNDS


def test_the_reception_phone_reaches_the_feature_codes_and_has_a_caller_id() -> None:
    plan = read_dialplan(EXTENSIONS)
    [(_, reception)] = [
        (n, s) for n, s in pjsip_sections(PJSIP) if n == "reception" and s.get("type") == "endpoint"
    ]
    for code in CODES:
        assert _find_extension(plan, reception["context"], code), code
    assert re.fullmatch(r".*<\d+>", reception.get("callerid", "")), "no caller ID number"


def test_compose_points_the_asterisk_container_at_screeners_fastagi_server() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    given = services["asterisk"]["environment"]["SCREENER_AGI"]
    screener = services["screener"]["environment"]
    assert screener["SCREENER_AGI__ENABLED"] == "true"
    assert screener["SCREENER_AGI__HOST"] == "0.0.0.0"
    assert given == f"agi://screener:{AgiSettings().port}"
    assert "${ENV(SCREENER_AGI)}" in EXTENSIONS.read_text()


async def report_answered(agi: RunningAgi, plan: Dialplan, call_id: str) -> None:
    """The call ends after reception (caller ID 100) answered it. A FastAGI dialplan's
    hangup handler reports it, as the file writes it; over ARI (no hangup handler), Screener
    records the endpoint the call was dialled to, which stands in here."""
    here = f"agi://127.0.0.1:{agi.port}"
    handlers = hangup_handlers(plan)
    if handlers:
        [handler] = handlers
        [report] = agi_steps(plan, handler)
        script, args = request(
            report,
            {
                "SCREENER_AGI": here,
                "SCREENER_AGI_AT": here,
                "SCREENER_CALL_ID": call_id,
                "OUTCOME": "answered",
                "CONNECTEDLINE(num)": "100",
            },
        )
    else:
        endpoint = trunk_from_channel_name(plan.globals["RECEPTION"] + "-0000002b")
        assert endpoint == "reception"
        script, args = "outcome", (call_id, "answered", endpoint)
    assert script in agi.handler.scripts
    reply = await agi_call(agi.port, script, args=args)
    assert reply.variables == {"SCREENER_OUTCOME": "recorded"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
async def test_the_shipped_codes_act_on_the_call_answered_at_that_phone(
    agi: RunningAgi, path: Path
) -> None:
    plan = read_dialplan(path)
    here = f"agi://127.0.0.1:{agi.port}"
    caller = "+441632960777"
    screened = await agi_call(agi.port, callerid=caller)
    call_id = screened.variables["SCREENER_CALL_ID"]
    await report_answered(agi, plan, call_id)

    # Reception dials each code, as the file writes it.
    results = {}
    for code in CODES:
        context, feature = feature_code(plan, code)
        [step] = agi_steps(plan, context)
        values = {"ARG1": feature, "CALLERID(num)": "100", "SCREENER_AGI": here}
        values["SCREENER_AGI_AT"] = here
        script, args = request(step, values)
        assert script in agi.handler.scripts
        session = await agi_call(
            agi.port, script, args=args, callerid="100", channel="PJSIP/reception-00000031"
        )
        results[code] = session.variables["SCREENER_FEATURE_RESULT"]
        assert session.variables["SCREENER_FEATURE_CALL_ID"] == call_id, code
    assert results == {"*32": "ok", "*33": "ok", "*34": "ok"}

    async with agi.database.sessions() as session:
        listed = (
            await session.execute(
                select(NumberList.name, ListEntry.value, ListEntry.added_by).join(ListEntry)
            )
        ).all()
        call = await session.get(Call, call_id)
    assert sorted(listed) == [
        ("Allowed from console", caller, "extension 100"),
        ("Blocked from console", caller, "extension 100"),
    ]
    assert call is not None and call.review_state == "scam"
