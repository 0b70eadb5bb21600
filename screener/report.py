"""Verdicts as plain data (JSON for the CLI, API, events) and as plain text."""

from __future__ import annotations

from typing import Any

from screener.domain import ListMatch, Verdict


def match_as_dict(match: ListMatch) -> dict[str, Any]:
    return {
        "list": match.list_name,
        "kind": match.kind.value,
        "action": match.action.value,
        "value": match.value + ("*" if match.is_prefix else ""),
        "label": match.label,
    }


def verdict_as_dict(verdict: Verdict, given: str | None = None) -> dict[str, Any]:
    number = verdict.number
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
            "matches": [match_as_dict(m) for m in verdict.matches],
            "action": verdict.action.value,
            "reasons": [r.as_dict() for r in verdict.reasons],
        }
    )
    return data


def printable(text: str, limit: int = 80) -> str:
    """Caller-controlled text made safe for a terminal: no control characters, bounded."""
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


def verdict_as_text(verdict: Verdict, given: str) -> str:
    number = verdict.number
    shown = number.e164 or ("withheld" if number.withheld else "not a number")
    lines = [f"{printable(given) or '(empty)'} -> {shown} ({number.number_type.value})"]
    lines.append(f"  action: {verdict.action.value.upper()}")
    for match in verdict.matches:
        label = f" {printable(match.label, 60)!r}" if match.label else ""
        star = "*" if match.is_prefix else ""
        lines.append(
            f"  matched list {match.list_name!r} ({match.kind.value}, {match.action.value}): "
            f"{match.value}{star}{label}"
        )
    for reason in verdict.reasons:
        lines.append(f"  - {reason.code.value} [{reason.action.value}]: {reason.explanation}")
        if reason.advice:
            lines.append(f"      how to verify: {reason.advice}")
    return "\n".join(lines)
