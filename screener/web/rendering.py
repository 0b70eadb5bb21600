"""Template rendering with the things every page needs (user, CSRF token, labels)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from screener.domain import labels
from screener.domain.rules import IMPERSONATION
from screener.domain.rules import label as rule_label
from screener.domain.vocabulary import (
    Action,
    ChallengeResult,
    Delivery,
    Outcome,
    ReviewState,
    Step,
    TimelineKind,
    Verdict,
)
from screener.web.deps import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"

IMPERSONATION_CODES = frozenset(code.value for code in IMPERSONATION)


def reason_label(code: object) -> str:
    return rule_label(code)


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


def _labeller(kind: type[StrEnum]) -> Callable[[object], str]:
    def to_words(value: object) -> str:
        return labels.label(kind, value)

    return to_words


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["reason_label"] = reason_label
    for name, kind in (
        ("action_label", Action),
        ("verdict_label", Verdict),
        ("outcome_label", Outcome),
        ("delivery_label", Delivery),
        ("challenge_label", ChallengeResult),
        ("review_label", ReviewState),
        ("step_label", Step),
        ("timeline_label", TimelineKind),
    ):
        env.filters[name] = _labeller(kind)
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
        "simulated": request.app.state.web.simulated,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message[:300]
