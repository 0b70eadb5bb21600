"""Turning what Asterisk tells us about a channel into :class:`CallFacts` (pure helpers)."""

from __future__ import annotations

import re

from screener.ari.models import Channel
from screener.domain import CallFacts

MAX_FACT_TEXT = 256
_UNIQUE_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;\d+)?$")


def trunk_from_channel_name(name: str) -> str | None:
    """The endpoint a channel came in on: ``PJSIP/trunk-000015eb`` -> ``trunk``.

    ``Local/441234@from-trunk-0000000b;2`` gives ``441234@from-trunk``; anything without a
    technology prefix gives ``None``.
    """
    tech, sep, rest = name.partition("/")
    if not sep or not tech or not rest:
        return None
    endpoint = _UNIQUE_SUFFIX.sub("", rest)
    return endpoint[:MAX_FACT_TEXT] or None


def dialled_number(args: list[str], channel: Channel) -> str | None:
    """The DID: ``Stasis(screener,${EXTEN})`` passes it as the first argument."""
    if args and args[0]:
        return args[0][:64]
    if channel.dialplan is not None and channel.dialplan.exten:
        return channel.dialplan.exten[:64]
    return None


def call_facts(
    channel: Channel,
    args: list[str],
    presentation: str | None,
    extra: dict[str, str | None],
) -> CallFacts:
    """The facts of a call; caller text is clipped (it is attacker-controlled)."""
    return CallFacts(
        caller_number=channel.caller.number[:MAX_FACT_TEXT],
        caller_name=channel.caller.name[:MAX_FACT_TEXT],
        presentation=presentation[:64] if presentation else None,
        did=dialled_number(args, channel),
        trunk=trunk_from_channel_name(channel.name),
        extra=tuple(
            (name[:64], value[:MAX_FACT_TEXT]) for name, value in extra.items() if value is not None
        ),
    )
