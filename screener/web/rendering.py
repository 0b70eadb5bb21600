"""Template rendering with the things every page needs (user, CSRF token, labels)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from screener.domain import ReasonCode
from screener.policy import IMPERSONATION_REASONS
from screener.web.deps import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"

REASON_LABELS: dict[str, str] = {
    ReasonCode.ALLOW_LIST.value: "On an allow list",
    ReasonCode.BLOCK_LIST.value: "On a block list",
    ReasonCode.CHALLENGE_LIST.value: "On a challenge list",
    ReasonCode.DO_NOT_ORIGINATE.value: "Impersonation: number never calls out",
    ReasonCode.TRUSTED_BRAND.value: "Impersonation risk: trusted organisation's number",
    ReasonCode.REGISTRY.value: "On a register",
    ReasonCode.WITHHELD.value: "Number withheld",
    ReasonCode.INVALID_CLI.value: "Not a real number",
    ReasonCode.MALFORMED_CLI.value: "Malformed number",
    ReasonCode.DRAMA_RANGE.value: "TV drama number",
    ReasonCode.NON_DIALABLE.value: "Cannot be called back",
    ReasonCode.PREMIUM_RATE_CLI.value: "Premium-rate number",
    ReasonCode.PERSONAL_NUMBER_CLI.value: "070 personal number",
    ReasonCode.OWN_NUMBER.value: "Shows our own number",
    ReasonCode.INTERNATIONAL_UK_LANDLINE.value: "From abroad, shows a UK landline",
    ReasonCode.INTERNATIONAL_UK_MOBILE.value: "From abroad, shows a UK mobile",
    ReasonCode.REPEAT_CALLER.value: "Calling repeatedly",
    ReasonCode.RECENT_CHALLENGE_FAILED.value: "Recently failed the check",
    ReasonCode.RECENT_CHALLENGE_PASSED.value: "Recently passed the check",
    ReasonCode.NO_MATCH.value: "Nothing suspicious",
}
IMPERSONATION_CODES = frozenset(code.value for code in IMPERSONATION_REASONS)


def reason_label(code: object) -> str:
    return REASON_LABELS.get(str(code), str(code).replace("_", " "))


def when(value: datetime | str | None) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def detail_text(detail: object) -> str:
    """A timeline event's detail as ``key: value; ...`` (escaped by the template)."""
    if not isinstance(detail, dict):
        return str(detail)[:500]
    parts = []
    for key, value in sorted(detail.items()):
        shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)[:500]


def is_impersonation(reasons: object) -> bool:
    if not isinstance(reasons, list):
        return False
    return any(isinstance(r, dict) and r.get("code") in IMPERSONATION_CODES for r in reasons)


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["reason_label"] = reason_label
    env.filters["when"] = when
    env.filters["detail_text"] = detail_text
    env.tests["impersonation"] = is_impersonation
    return Jinja2Templates(env=env)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    templates: Jinja2Templates = request.app.state.web.templates
    ctx: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message[:300]
