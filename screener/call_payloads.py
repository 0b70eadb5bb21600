"""Event payloads built from a call record, the same for ARI, FastAGI and the web console."""

from __future__ import annotations

from typing import Any

from screener.db.models import Call


def started_payload(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "site": call.site,
        "source": call.source,
        "channel_id": call.channel_id,
        "caller_number_raw": call.caller_number_raw,
        "caller_name": call.caller_name,
        "caller_number": call.caller_number,
        "presentation": call.presentation,
        "did": call.did,
        "trunk": call.trunk,
        "started_at": call.started_at.isoformat(),
    }


def verdict_payload(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "site": call.site,
        "action": call.action,
        "reasons": [
            {k: r[k] for k in ("code", "action", "explanation") if k in r} for r in call.reasons
        ],
        "caller_number": call.caller_number,
        "number_type": call.number_type,
        "withheld": call.withheld,
        "flagged": call.flagged,
        "decision_ms": call.decision_ms,
    }


def outcome_payload(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "site": call.site,
        "outcome": call.outcome,
        "verdict": call.verdict,
        "step": call.outcome_step,
        "challenge_result": call.challenge_result,
        "recording": call.recording,
    }


def reviewed_payload(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "site": call.site,
        "review_state": call.review_state,
        "reviewed_by": call.reviewed_by,
    }
