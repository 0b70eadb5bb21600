"""The facts of a call, from what Asterisk says about its channel (ARI or FastAGI). Pure.

Both call paths build :class:`~screener.domain.model.CallFacts` here, so the same
channel gives the same facts (the trunk above all, which the international-trunk rule
reads) whichever way the call reached Screener. Caller text is attacker-controlled: it
is clipped and stripped of NUL characters before anything stores or shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from screener.agi.protocol import AgiEnvironment, presentation_name
from screener.ari.models import Channel
from screener.domain.model import CallFacts

MAX_CALLER_TEXT = 256
"""Caller-controlled text is cut to this length."""
MAX_DID = 64
MAX_TRUNK = 128
MAX_PRESENTATION = 64
MAX_EXTRA_NAME = 64

NON_DID_EXTENSIONS = frozenset({"s", "h", "i", "t"})
"""Dialplan extensions that are not a dialled number."""

_SIP_TECHNOLOGIES = frozenset({"PJSIP", "SIP", "IAX2"})
_SIP_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}$")
_SEQUENCE_SUFFIX = re.compile(r"-\d+$")
_LOCAL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;\d+)?$")


def clip(value: str | None, limit: int = MAX_CALLER_TEXT) -> str:
    """Caller-controlled text made safe to store: no NULs, bounded length."""
    if not value:
        return ""
    return value.replace("\x00", "\ufffd")[:limit]


def trunk_from_channel_name(name: str | None) -> str | None:
    """The trunk a call came in on, from its channel name.

    - ``PJSIP/carrier-0000002a`` (also ``SIP/``, ``IAX2/``): the endpoint, ``carrier``;
    - ``DAHDI/1-1``: the technology and line, ``DAHDI/1``;
    - ``Local/441234@from-trunk-0000000b;2``: ``Local/441234@from-trunk``;
    - any other ``TECH/resource-N``: ``TECH/resource``;
    - anything without a technology prefix: ``None``.
    """
    if not name:
        return None
    tech, sep, rest = name.strip().partition("/")
    if not sep or not tech or not rest:
        return None
    if tech.upper() in _SIP_TECHNOLOGIES:
        endpoint = _SIP_SUFFIX.sub("", rest)
        return clip(endpoint, MAX_TRUNK) or None
    suffix = _LOCAL_SUFFIX if tech == "Local" else _SEQUENCE_SUFFIX
    resource = suffix.sub("", rest)
    return clip(f"{tech}/{resource}", MAX_TRUNK) if resource else None


def dialled_number(*candidates: str | None) -> str | None:
    """The DID: the first candidate that is a dialled number (not ``s``, ``h``...)."""
    for candidate in candidates:
        value = (candidate or "").strip()
        if value and value.lower() not in NON_DID_EXTENSIONS:
            return clip(value, MAX_DID)
    return None


def call_facts(
    *,
    caller_number: str | None,
    caller_name: str | None,
    presentation: str | None,
    did: str | None,
    channel_name: str | None,
    trunk: str | None = None,
    extra: Iterable[tuple[str, str | None]] = (),
) -> CallFacts:
    """The facts of a call; ``trunk`` (given by the dialplan) wins over the channel name's."""
    return CallFacts(
        caller_number=clip(caller_number),
        caller_name=clip(caller_name),
        presentation=clip(presentation, MAX_PRESENTATION) or None,
        did=clip(did, MAX_DID) or None,
        trunk=clip(trunk, MAX_TRUNK) or trunk_from_channel_name(channel_name),
        extra=tuple(
            (clip(name, MAX_EXTRA_NAME), clip(value)) for name, value in extra if value is not None
        ),
    )


STASIS_NAMED = frozenset({"pres", "trunk"})


def stasis_arguments(args: list[str]) -> tuple[str | None, dict[str, str]]:
    """``Stasis(screener,${EXTEN},pres=${CALLERID(pres)},trunk=NAME)``: the DID (first
    argument) and the named ones (``pres``, ``trunk``; others are ignored). A plain second
    argument is the trunk, as FastAGI's ``AGI(.../screen,${EXTEN},TRUNK)`` passes it."""
    did = args[0] if args and "=" not in args[0] else None
    named: dict[str, str] = {}
    rest = args[1:] if did is not None else args
    for arg in rest:
        name, sep, value = arg.partition("=")
        if sep and name.strip() in STASIS_NAMED and name.strip() not in named:
            named[name.strip()] = value.strip()
    if did is not None and rest and "=" not in rest[0] and rest[0].strip():
        named.setdefault("trunk", rest[0].strip())
    return did, named


def facts_from_ari(
    channel: Channel, args: list[str], presentation: str | None, extra: dict[str, str | None]
) -> CallFacts:
    """The facts of a call handed over by ``Stasis(screener,${EXTEN},...)``.

    Presentation is not in ARI's ``Channel.caller``: the dialplan passes it as
    ``pres=${CALLERID(pres)}``, or it is read as ``CALLERID(pres)`` (``presentation``).
    """
    exten = channel.dialplan.exten if channel.dialplan is not None else None
    did, named = stasis_arguments(args)
    return call_facts(
        caller_number=channel.caller.number,
        caller_name=channel.caller.name,
        presentation=named.get("pres") or presentation,
        did=dialled_number(did, exten),
        channel_name=channel.name,
        trunk=named.get("trunk"),
        extra=extra.items(),
    )


_AGI_EXTRA = ("agi_channel", "agi_callingpres", "agi_uniqueid", "agi_context")


def facts_from_agi(env: AgiEnvironment) -> CallFacts:
    """The facts of a call from ``AGI(agi://host/screen[,DID[,TRUNK]])``'s environment."""
    return call_facts(
        caller_number=env.get("agi_callerid"),
        caller_name=env.known("agi_calleridname"),
        presentation=presentation_name(env.get("agi_callingpres")),
        did=dialled_number(env.arg(1), env.known("agi_dnid"), env.known("agi_extension")),
        channel_name=env.get("agi_channel"),
        trunk=env.arg(2),
        extra=((key.removeprefix("agi_"), env.get(key)) for key in _AGI_EXTRA),
    )
