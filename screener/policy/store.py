"""The policy in force: the settings file's, with the overrides stored in the database."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from screener.domain.numbers import InvalidEntry, NumberAnalyser
from screener.domain.policy import Policy
from screener.domain.rules import CONFIGURABLE, default_actions
from screener.domain.vocabulary import Action, ReasonCode
from screener.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def file_actions(settings: Settings) -> dict[ReasonCode, Action]:
    """Every configurable rule's action before any override: built-in, then the file's."""
    actions = default_actions()
    for code, action in settings.policy.actions.items():
        actions[ReasonCode(code)] = Action(action)
    return actions


def build_policy(settings: Settings, overrides: Mapping[str, str] | None = None) -> Policy:
    """The policy from the settings file, with run-time overrides (web console) on top.

    Overrides for reasons that are not (or no longer) configurable are ignored.
    """
    analyser = NumberAnalyser(settings.numbers.region)
    actions = file_actions(settings)
    configurable = {code.value for code in CONFIGURABLE}
    for code, action in (overrides or {}).items():
        if code in configurable and action in {a.value for a in Action}:
            actions[ReasonCode(code)] = Action(action)
    own: set[str] = set()
    for number in settings.office.own_numbers:
        try:
            value, is_prefix = analyser.normalise_entry(number)
        except InvalidEntry as exc:
            raise ValueError(f"office.own_numbers: {number!r}: {exc}") from exc
        if not is_prefix:
            own.add(value)
    p = settings.policy
    return Policy(
        actions=actions,
        home_country_code=analyser.country_code,
        own_numbers=frozenset(own),
        international_trunks=frozenset(settings.office.international_trunks),
        repeat_calls=p.repeat_calls,
        repeat_window=timedelta(minutes=p.repeat_window_minutes),
        failed_challenge_block=timedelta(minutes=p.failed_challenge_block_minutes),
        passed_challenge_allow=timedelta(minutes=p.passed_challenge_allow_minutes),
    )


async def load_overrides(session: AsyncSession) -> dict[str, str]:
    """The rule actions an admin changed at run time, by reason code."""
    from sqlalchemy import select

    from screener.db.models import PolicySetting

    rows = await session.execute(select(PolicySetting.key, PolicySetting.value))
    return {key: value for key, value in rows}


def sqlite_overrides(connection: sqlite3.Connection) -> dict[str, str]:
    """:func:`load_overrides` on a stdlib SQLite connection (``screener check``)."""
    rows = connection.execute("SELECT key, value FROM policy_settings").fetchall()
    return {str(key): str(value) for key, value in rows}


async def load_policy(settings: Settings, session: AsyncSession) -> Policy:
    return build_policy(settings, await load_overrides(session))
