"""What every request handler needs: settings, database, screening, bus, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from screener.db.lifecycle import Database
from screener.events import EventBus
from screener.numbers import NumberAnalyser
from screener.screening import ScreeningService
from screener.settings import Settings
from screener.web.throttle import LoginThrottle


@dataclass
class WebContext:
    settings: Settings
    database: Database
    screening: ScreeningService
    bus: EventBus
    templates: Jinja2Templates
    user_throttle: LoginThrottle
    address_throttle: LoginThrottle
    analyser: NumberAnalyser
    cache: dict[str, tuple[float, Any]] = field(default_factory=dict)


def web_context(request: Request) -> WebContext:
    ctx = request.app.state.web
    assert isinstance(ctx, WebContext)
    return ctx
