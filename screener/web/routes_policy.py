"""The effective policy, changing rule actions, and the test-a-number box."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from screener.domain.model import CallFacts
from screener.domain.vocabulary import Action
from screener.policy import service as policy_service
from screener.policy.service import PolicyError
from screener.report import decision_as_dict
from screener.web.context import WebContext, web_context
from screener.web.deps import Admin, Reception, actor
from screener.web.rendering import flash, render

router = APIRouter()

MAX_CHECK_INPUT = 256


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
            "rules": await policy_service.effective_rules(ctx.database, ctx.settings),
            "thresholds": thresholds(ctx),
            "actions": [a.value for a in Action],
        },
    )


@router.post("/admin/policy")
async def update_policy(request: Request, user: Admin) -> Response:
    ctx = web_context(request)
    form = await request.form()
    wanted = {
        key.removeprefix("action_"): str(value)
        for key, value in form.multi_items()
        if key.startswith("action_") and isinstance(value, str)
    }
    try:
        changes = await policy_service.change_actions(
            ctx.uow(actor(request, user)), ctx.settings, wanted
        )
    except PolicyError as exc:
        raise HTTPException(400, str(exc)) from exc
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
    screening = await ctx.screening.decide(facts)
    return decision_as_dict(screening.decision, number)


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
