"""The list use cases: create, change and delete lists; add, change and remove entries.

Each is one function on a :class:`~screener.application.unit_of_work.UnitOfWork`: one
transaction, one audit record (who, from where), one :class:`ListChanged` event. The
web console, the JSON API and the CLI all call these.

Guard rail: a number on a do-not-originate or trusted-brand list is what scammers
spoof. Putting it on an allow list is refused unless the caller explicitly overrides
(and the override is audited): for a trusted brand it would let spoofed calls through
unchallenged (with the warning kept); for a do-not-originate number it changes nothing,
since that list's action wins over any allow entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from screener.application.unit_of_work import UnitOfWork
from screener.db.models import ListEntry, NumberList
from screener.domain.events import ListChanged
from screener.domain.model import ListMatch
from screener.domain.numbers import NumberAnalyser
from screener.domain.vocabulary import Action, AuditAction, ListKind
from screener.lists import repo
from screener.lists.matching import list_matches
from screener.lists.repo import EntryInput, ListError

MAX_AUDITED_VALUES = 100
GUARDED_KINDS = frozenset({ListKind.DO_NOT_ORIGINATE, ListKind.TRUSTED_BRAND})


class ImpersonatedNumber(ListError):
    """The number is on a do-not-originate or trusted-brand list; allowing it needs an
    explicit override."""

    def __init__(self, value: str, matches: Sequence[ListMatch]) -> None:
        self.value = value
        self.matches = tuple(matches)
        names = ", ".join(f"\u201c{m.list_name}\u201d ({m.kind.value})" for m in matches)
        if all(m.kind is ListKind.DO_NOT_ORIGINATE for m in matches):
            why = (
                "calls never come from such a number, so an allow entry would change nothing "
                "(the do-not-originate list still decides) and only hide the warning"
            )
        else:
            why = (
                "scammers spoof such numbers, so allowing it would let spoofed calls through "
                "unchallenged (they keep the impersonation warning)"
            )
        super().__init__(f"{value} is on {names}: {why}. It is not added unless you override.")


@dataclass(frozen=True, slots=True)
class EntryChange:
    entry: ListEntry
    created: bool

    @property
    def shown(self) -> str:
        return self.entry.value + ("*" if self.entry.is_prefix else "")


def list_dict(number_list: NumberList) -> dict[str, object]:
    return {
        "id": number_list.id,
        "name": number_list.name,
        "kind": number_list.kind,
        "action": number_list.action,
    }


def _changed(uow: UnitOfWork, change: AuditAction, target: str, detail: dict[str, object]) -> None:
    uow.audit(change, target, detail)
    uow.emit(ListChanged(change, target, uow.actor, uow.now))


async def _list(uow: UnitOfWork, list_ref: int | str) -> NumberList:
    return await repo.require_list(uow.session, list_ref)


async def create_list(
    uow: UnitOfWork,
    name: str,
    kind: ListKind,
    action: Action | None = None,
    description: str = "",
) -> NumberList:
    async with uow:
        created = await repo.create_list(uow.session, name, kind, action, description.strip())
        _changed(uow, AuditAction.LIST_CREATE, created.name, list_dict(created))
    return created


async def update_list(
    uow: UnitOfWork,
    list_ref: int | str,
    *,
    name: str | None = None,
    kind: ListKind | None = None,
    action: Action | None = None,
    description: str | None = None,
) -> NumberList:
    async with uow:
        number_list = await _list(uow, list_ref)
        before = list_dict(number_list)
        await repo.update_list(
            uow.session,
            number_list,
            name=name,
            kind=kind,
            action=action,
            description=description.strip() if description is not None else None,
        )
        after = list_dict(number_list)
        _changed(uow, AuditAction.LIST_UPDATE, number_list.name, {"before": before, "after": after})
    return number_list


async def delete_list(uow: UnitOfWork, list_ref: int | str) -> str:
    """Delete a list and its entries; returns its name."""
    async with uow:
        number_list = await _list(uow, list_ref)
        name, list_id = number_list.name, number_list.id
        await repo.delete_list(uow.session, number_list)
        _changed(uow, AuditAction.LIST_DELETE, name, {"list_id": list_id})
    return name


async def impersonated(uow: UnitOfWork, value: str) -> list[ListMatch]:
    """The do-not-originate and trusted-brand entries an exact number matches."""
    matches = await list_matches(uow.session, value, uow.now)
    return [m for m in matches if m.kind in GUARDED_KINDS]


async def add_entries(
    uow: UnitOfWork,
    analyser: NumberAnalyser,
    list_ref: int | str,
    entries: Sequence[EntryInput],
    *,
    override_impersonation: bool = False,
) -> list[EntryChange]:
    """Add (or update) entries, all or none; raises InvalidEntry, ListError or
    :class:`ImpersonatedNumber` (an allow list and a spoofable number, without override)."""
    if not entries:
        raise ListError("give at least one number")
    async with uow:
        number_list = await _list(uow, list_ref)
        changes: list[EntryChange] = []
        overridden: list[str] = []
        for given in entries:
            value, is_prefix = analyser.normalise_entry(given.value)
            if number_list.action == Action.ALLOW.value and not is_prefix:
                guarded = await impersonated(uow, value)
                if guarded and not override_impersonation:
                    raise ImpersonatedNumber(value, guarded)
                if guarded:
                    overridden.append(value)
            entry, created = await repo.add_entry(
                uow.session, analyser, number_list, given, uow.actor.name
            )
            changes.append(EntryChange(entry, created))
        shown = [c.shown for c in changes]
        action = (
            AuditAction.ENTRY_ADD if any(c.created for c in changes) else AuditAction.ENTRY_UPDATE
        )
        detail: dict[str, object] = {
            "list_id": number_list.id,
            "values": shown[:MAX_AUDITED_VALUES],
            "count": len(shown),
        }
        labels = {c.entry.label for c in changes if c.entry.label}
        if labels:
            detail["label"] = sorted(labels)[0][:200]
        if any(e.expires_at for e in entries):
            detail["expires_at"] = max(e.expires_at for e in entries if e.expires_at).isoformat()
        if overridden:
            detail["impersonation_override"] = overridden[:MAX_AUDITED_VALUES]
        target = f"{number_list.name}: {shown[0]}" + (
            f" (+{len(shown) - 1})" if len(shown) > 1 else ""
        )
        _changed(uow, action, target, detail)
    return changes


async def update_entry(
    uow: UnitOfWork,
    list_id: int,
    entry_id: int,
    fields: Mapping[str, object],
) -> ListEntry:
    """Change an entry's ``label``, ``note`` or ``expires_at`` (the keys given)."""
    async with uow:
        number_list = await _list(uow, list_id)
        entry = await require_entry(uow, list_id, entry_id)
        for name in ("label", "note", "expires_at"):
            if name in fields:
                setattr(entry, name, fields[name])
        entry.added_by = uow.actor.name
        repo.touch(number_list)
        await uow.session.flush()
        shown = entry.value + ("*" if entry.is_prefix else "")
        _changed(
            uow,
            AuditAction.ENTRY_UPDATE,
            f"{number_list.name}: {shown}",
            {"list_id": list_id, "value": shown, "changed": sorted(fields)},
        )
    return entry


async def require_entry(uow: UnitOfWork, list_id: int, entry_id: int) -> ListEntry:
    entry = await uow.session.get(ListEntry, entry_id)
    if entry is None or entry.list_id != list_id:
        raise LookupError("no such entry")
    return entry


async def remove_entry(uow: UnitOfWork, list_id: int, entry_id: int) -> str:
    """Remove one entry by id; returns the value removed."""
    async with uow:
        number_list = await _list(uow, list_id)
        entry = await require_entry(uow, list_id, entry_id)
        shown = entry.value + ("*" if entry.is_prefix else "")
        await uow.session.delete(entry)
        repo.touch(number_list)
        _changed(
            uow,
            AuditAction.ENTRY_REMOVE,
            f"{number_list.name}: {shown}",
            {"list_id": list_id, "value": shown},
        )
    return shown


async def remove_values(
    uow: UnitOfWork, analyser: NumberAnalyser, list_ref: int | str, values: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Remove numbers or prefixes (as typed); returns (removed, not on the list)."""
    async with uow:
        number_list = await _list(uow, list_ref)
        removed: list[str] = []
        missing: list[str] = []
        for value in values:
            if await repo.remove_entry(uow.session, analyser, number_list, value):
                removed.append(value)
            else:
                missing.append(value)
        if removed:
            _changed(
                uow,
                AuditAction.ENTRY_REMOVE,
                f"{number_list.name}: {removed[0]}"
                + (f" (+{len(removed) - 1})" if len(removed) > 1 else ""),
                {
                    "list_id": number_list.id,
                    "values": removed[:MAX_AUDITED_VALUES],
                    "count": len(removed),
                },
            )
    return removed, missing
