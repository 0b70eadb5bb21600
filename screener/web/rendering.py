"""Template rendering with the things every page needs (user, CSRF token, labels)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import phonenumbers
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from screener.domain import labels
from screener.domain.rules import IMPERSONATION
from screener.domain.rules import label as rule_label
from screener.domain.vocabulary import (
    Action,
    ChallengeResult,
    ClaimCategory,
    Delivery,
    Outcome,
    ReasonCode,
    ReviewState,
    ScreenDecision,
    Step,
    TimelineKind,
    TranscriptStatus,
    Verdict,
)
from screener.web.deps import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"

IMPERSONATION_CODES = frozenset(code.value for code in IMPERSONATION)


def reason_label(code: object) -> str:
    return rule_label(code)


LOCALTIME = Path("/etc/localtime")


def display_zone(name: str = "") -> tzinfo:
    """The zone the console shows times in: ``web.time_zone``, else the machine's own
    (``$TZ``, then ``/etc/localtime``), else the fixed offset the machine has now."""
    candidates = [name.strip(), os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(LOCALTIME.resolve())
    except OSError:
        target = ""
    if "/zoneinfo/" in target:
        candidates.append(target.split("/zoneinfo/", 1)[1])
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return datetime.now().astimezone().tzinfo or UTC


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # stored times are UTC
    return value


def when(value: datetime | str | None, zone: tzinfo = UTC) -> str:
    """A stored (UTC) time in ``zone``, with the zone's abbreviation: 2026-07-01 09:30:00 BST."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def utc_iso(value: datetime | str | None) -> str:
    """The same time in UTC, ISO 8601 (for ``datetime`` and ``title`` attributes)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@lru_cache(maxsize=4096)
def phone_number(value: str | None, region: str = "GB") -> str:
    """An E.164 number as people write it: national format for the home region
    (``07911 123456``, ``020 7946 0018``), international for others; a prefix entry
    (``+44207946``) with the home country's trunk prefix (``0207946``). Anything else is
    returned as it is."""
    if not value:
        return ""
    if not value.startswith("+") or not value[1:].isdigit():
        return value
    home = phonenumbers.PhoneMetadata.metadata_for_region(region)
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        if home is not None and parsed.country_code == home.country_code:
            national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
            if national.startswith(home.national_prefix or ""):
                return national
        elif phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if home is not None and value.startswith(f"+{home.country_code}"):
        return (home.national_prefix or "") + value[1 + len(str(home.country_code)) :]
    return value


PRESENTATION_WORDS: Mapping[str, str] = MappingProxyType(
    {"allowed": "number shown", "prohib": "number withheld", "unavailable": "not available"}
)
SCREENING_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "passed_screen": "verified by the network",
        "failed_screen": "failed the network's check",
    }
)


def presentation_words(value: str | None) -> str:
    """Asterisk's ``CALLERID(pres)`` (``prohib_not_screened``...) in plain words."""
    if not value:
        return "not reported"
    lowered = value.strip().lower()
    base, _, screening = lowered.partition("_")
    words = PRESENTATION_WORDS.get(base)
    if words is None:
        return value.replace("_", " ")
    extra = SCREENING_WORDS.get(screening)
    return f"{words} ({extra})" if extra else words


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


def has_claims(reasons: object) -> bool:
    """Whether a call's stored reasons include a claim of authority in what the caller said."""
    if not isinstance(reasons, list):
        return False
    code = ReasonCode.CLAIMS_AUTHORITY.value
    return any(isinstance(r, dict) and r.get("code") == code for r in reasons)


def _labeller(kind: type[StrEnum]) -> Callable[[object], str]:
    def to_words(value: object) -> str:
        return labels.label(kind, value)

    return to_words


def build_templates(zone: tzinfo = UTC, region: str = "GB") -> Jinja2Templates:
    """The page templates; times are shown in ``zone``, numbers as written in ``region``."""
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
        ("screen_label", ScreenDecision),
        ("transcript_label", TranscriptStatus),
        ("claim_label", ClaimCategory),
    ):
        env.filters[name] = _labeller(kind)
    env.filters["when"] = lambda value: when(value, zone)
    env.filters["utc"] = utc_iso
    env.filters["phone"] = lambda value: phone_number(value, region)
    env.filters["presentation"] = presentation_words
    env.filters["detail_text"] = detail_text
    env.tests["impersonation"] = is_impersonation
    env.tests["claims"] = has_claims
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
        "warnings": request.app.state.web.warnings() if request.app.state.web.warnings else [],
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message[:300]
