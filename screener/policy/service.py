"""The policy use cases: change rule actions at run time, and the effective policy.

A change is one unit of work: the overrides, one audit record and a
:class:`PolicyChanged` event. This instance reloads its policy on the event; every other
instance sharing the database takes the change within ``policy.sync_seconds``
(:mod:`screener.policy.watcher`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from screener.application.unit_of_work import UnitOfWork
from screener.db.lifecycle import Database
from screener.db.models import PolicySetting
from screener.domain.events import PolicyChanged
from screener.domain.rules import CONFIGURABLE, RULES
from screener.domain.vocabulary import Action, AuditAction, ReasonCode
from screener.policy.store import build_policy, file_actions
from screener.settings import Settings

DEFAULT = "default"
"""The value that removes an override (the settings file's action applies again)."""


class PolicyError(ValueError):
    """A policy change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class ActionChange:
    code: ReasonCode
    before: str | None
    after: str


@dataclass(frozen=True, slots=True)
class RuleView:
    """One configurable rule as the console and the API show it."""

    code: ReasonCode
    label: str
    summary: str
    action: Action
    file_action: Action
    source: str
    """``console`` (changed at run time), ``settings file`` or ``default``."""
    changed_by: str | None
    changed_at: datetime | None


def _validated(wanted: Mapping[str, str]) -> dict[ReasonCode, str]:
    configurable = {code.value for code in CONFIGURABLE}
    actions = {a.value for a in Action}
    checked: dict[ReasonCode, str] = {}
    for code, action in wanted.items():
        if code not in configurable:
            raise PolicyError(f"{code[:48]!r} is not a configurable reason")
        if action != DEFAULT and action not in actions:
            raise PolicyError(f"unknown action {action[:16]!r} for {code}")
        checked[ReasonCode(code)] = action
    return checked


async def change_actions(
    uow: UnitOfWork, settings: Settings, wanted: Mapping[str, str]
) -> list[ActionChange]:
    """Apply ``{code: action or 'default'}``; returns what actually changed."""
    checked = _validated(wanted)
    base = file_actions(settings)
    changes: list[ActionChange] = []
    async with uow:
        for code, action in checked.items():
            row = await uow.session.get(PolicySetting, code.value)
            before = row.value if row else None
            effective_before = before or base[code].value
            if action == DEFAULT or action == base[code].value:
                if row is not None:
                    await uow.session.delete(row)
                    changes.append(ActionChange(code, before, DEFAULT))
                continue
            if before == action or (row is None and effective_before == action):
                continue
            if row is None:
                uow.session.add(
                    PolicySetting(
                        key=code.value, value=action, updated_at=uow.now, updated_by=uow.actor.name
                    )
                )
            else:
                row.value, row.updated_at, row.updated_by = action, uow.now, uow.actor.name
            changes.append(ActionChange(code, before, action))
        if changes:
            target = ", ".join(c.code.value for c in changes)
            uow.audit(
                AuditAction.POLICY_CHANGE,
                target,
                {
                    "changes": [
                        {"code": c.code.value, "before": c.before, "after": c.after}
                        for c in changes
                    ]
                },
            )
            uow.emit(PolicyChanged(target, uow.actor, uow.now))
    return changes


async def effective_rules(database: Database, settings: Settings) -> list[RuleView]:
    """Every configurable rule with the action in force and where it comes from."""
    async with database.sessions() as session:
        rows = {row.key: row for row in (await session.execute(select(PolicySetting))).scalars()}
    policy = build_policy(settings, {key: row.value for key, row in rows.items()})
    base = file_actions(settings)
    in_file = set(settings.policy.actions)
    views = []
    for code in CONFIGURABLE:
        row = rows.get(code.value)
        source = "console" if row else ("settings file" if code.value in in_file else "default")
        views.append(
            RuleView(
                code=code,
                label=RULES[code].label,
                summary=RULES[code].summary,
                action=policy.action_for(code),
                file_action=base[code],
                source=source,
                changed_by=row.updated_by if row else None,
                changed_at=row.updated_at if row else None,
            )
        )
    return views
