"""Decisions as plain data (JSON for the CLI and the API) and as plain text."""

from __future__ import annotations

from typing import Any

from screener.domain.model import Decision, ListMatch


def match_as_dict(match: ListMatch) -> dict[str, Any]:
    return {
        "list": match.list_name,
        "kind": match.kind.value,
        "action": match.action.value,
        "value": match.value + ("*" if match.is_prefix else ""),
        "label": match.label,
    }


def decision_as_dict(decision: Decision, given: str | None = None) -> dict[str, Any]:
    number = decision.number
    data: dict[str, Any] = {}
    if given is not None:
        data["input"] = given
    data.update(
        {
            "number": number.e164,
            "type": number.number_type.value,
            "withheld": number.withheld,
            "valid": number.valid,
            "problems": [p.value for p in number.problems],
            "matches": [match_as_dict(m) for m in decision.matches],
            "action": decision.action.value,
            "reasons": [r.as_dict() for r in decision.reasons],
        }
    )
    return data


def printable(text: str, limit: int = 80) -> str:
    """Caller-controlled text made safe for a terminal: no control characters, bounded."""
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


def decision_as_text(decision: Decision, given: str) -> str:
    number = decision.number
    shown = number.e164 or ("withheld" if number.withheld else "not a number")
    lines = [f"{printable(given) or '(empty)'} -> {shown} ({number.number_type.value})"]
    lines.append(f"  action: {decision.action.value.upper()}")
    for match in decision.matches:
        label = f" {printable(match.label, 60)!r}" if match.label else ""
        star = "*" if match.is_prefix else ""
        lines.append(
            f"  matched list {match.list_name!r} ({match.kind.value}, {match.action.value}): "
            f"{match.value}{star}{label}"
        )
    for reason in decision.reasons:
        lines.append(f"  - {reason.code.value} [{reason.action.value}]: {reason.explanation}")
        if reason.advice:
            lines.append(f"      how to verify: {reason.advice}")
    return "\n".join(lines)
