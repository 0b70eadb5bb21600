"""The effective policy, changing rule actions, and the test-a-number box."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.responses import Response

from screener.auth_audit import record
from screener.db.models import PolicySetting
from screener.domain import Action, CallFacts, ReasonCode
from screener.policy import _EXPLANATIONS, CONFIGURABLE_REASONS, DEFAULT_ACTIONS
from screener.report import verdict_as_dict
from screener.web.context import WebContext, web_context
from screener.web.deps import Admin, Reception
from screener.web.rendering import flash, reason_label, render

router = APIRouter()

HISTORY_EXPLANATIONS = {
    ReasonCode.REPEAT_CALLER: "The number has called many times in a short while, like an "
    "auto-dialler.",
    ReasonCode.RECENT_CHALLENGE_FAILED: "The number recently failed the press-a-digit check.",
    ReasonCode.RECENT_CHALLENGE_PASSED: "The number recently passed the press-a-digit check.",
}
MAX_CHECK_INPUT = 256


def explanation(code: ReasonCode) -> str:
    return _EXPLANATIONS.get(code) or HISTORY_EXPLANATIONS.get(code, "")


async def effective_policy(ctx: WebContext) -> list[dict[str, Any]]:
    async with ctx.database.sessions() as session:
        overrides = {
            row.key: row for row in (await session.execute(select(PolicySetting))).scalars().all()
        }
    file_actions = ctx.settings.policy.actions
    policy = ctx.screening.policy
    rules = []
    for code in sorted(CONFIGURABLE_REASONS, key=lambda c: c.value):
        override = overrides.get(code.value)
        source = (
            "console"
            if override
            else ("settings file" if code.value in file_actions else "default")
        )
        rules.append(
            {
                "code": code.value,
                "label": reason_label(code.value),
                "action": policy.action_for(code).value,
                "default": file_actions.get(code.value, DEFAULT_ACTIONS[code]).value,
                "explanation": explanation(code),
                "source": source,
                "changed_by": override.updated_by if override else None,
                "changed_at": override.updated_at if override else None,
            }
        )
    return rules


def thresholds(ctx: WebContext) -> list[tuple[str, str]]:
    p = ctx.settings.policy
    return [
        ("Repeat caller", f"{p.repeat_calls} calls within {p.repeat_window_minutes} minutes"),
        ("Block after a failed check for", f"{p.failed_challenge_block_minutes} minutes"),
        ("Allow after a passed check for", f"{p.passed_challenge_allow_minutes} minutes"),
        ("Home region", ctx.settings.numbers.region),
        ("Own numbers", str(len(ctx.settings.office.own_numbers))),
        ("International trunks", ", ".join(ctx.settings.office.international_trunks) or "none"),
    ]


@router.get("/admin/policy")
async def policy_page(request: Request, user: Admin) -> Response:
    ctx = web_context(request)
    return render(
        request,
        "policy.html",
        {
            "rules": await effective_policy(ctx),
            "thresholds": thresholds(ctx),
            "actions": [a.value for a in Action],
        },
    )


async def change_actions(
    ctx: WebContext, actor: str, wanted: dict[str, str]
) -> list[tuple[str, str | None, str]]:
    """Apply ``{code: action or 'default'}``; returns (code, old, new) for each change."""
    changes: list[tuple[str, str | None, str]] = []
    configurable = {c.value for c in CONFIGURABLE_REASONS}
    for code, action in wanted.items():
        if code not in configurable:
            raise HTTPException(400, f"{code[:48]!r} is not a configurable reason")
        if action != "default" and action not in {a.value for a in Action}:
            raise HTTPException(400, f"unknown action for {code}")
    async with ctx.database.sessions.begin() as session:
        for code, action in wanted.items():
            row = await session.get(PolicySetting, code)
            old = row.value if row else None
            if action == "default":
                if row is not None:
                    await session.delete(row)
                    changes.append((code, old, "default"))
                continue
            if old == action:
                continue
            current = ctx.screening.policy.action_for(ReasonCode(code)).value
            if row is None and current == action:
                continue
            now = datetime.now(UTC)
            if row is None:
                session.add(PolicySetting(key=code, value=action, updated_at=now, updated_by=actor))
            else:
                row.value, row.updated_at, row.updated_by = action, now, actor
            changes.append((code, old, action))
        for code, old, new in changes:
            await record(session, actor, "policy.change", code, {"before": old, "after": new})
    if changes:
        await ctx.screening.reload_policy()
    return changes


@router.post("/admin/policy")
async def update_policy(request: Request, user: Admin) -> Response:
    ctx = web_context(request)
    form = await request.form()
    wanted = {
        key.removeprefix("action_"): str(value)
        for key, value in form.multi_items()
        if key.startswith("action_") and isinstance(value, str)
    }
    changes = await change_actions(ctx, user.username, wanted)
    flash(request, f"Saved {len(changes)} change(s)." if changes else "Nothing changed.")
    return RedirectResponse("/admin/policy", status_code=303)


async def run_check(
    ctx: WebContext, number: str, name: str, trunk: str, withheld: bool
) -> dict[str, Any]:
    number = number[:MAX_CHECK_INPUT]
    facts = CallFacts(
        caller_number=number,
        caller_name=name[:MAX_CHECK_INPUT],
        presentation="prohib" if withheld else None,
        trunk=trunk[:128] or None,
    )
    decision = await ctx.screening.decide(facts)
    return verdict_as_dict(decision.verdict, number)


@router.get("/check")
async def check(
    request: Request,
    user: Reception,
    number: str = Query("", max_length=MAX_CHECK_INPUT),
    name: str = Query("", max_length=MAX_CHECK_INPUT),
    trunk: str = Query("", max_length=128),
    withheld: bool = Query(False),
) -> Response:
    ctx = web_context(request)
    result = await run_check(ctx, number, name, trunk, withheld) if number or withheld else None
    template = "_check_result.html" if request.headers.get("hx-request") else "check.html"
    return render(
        request,
        template,
        {"result": result, "number": number, "name": name, "trunk": trunk, "withheld": withheld},
    )
