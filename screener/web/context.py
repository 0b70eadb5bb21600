"""What every request handler needs: settings, database, screening, bus, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from screener.application.unit_of_work import UnitOfWork
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.events import EventBus
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
    simulated: bool = False
    """The calls come from the built-in PBX simulator (every page says so)."""
    cache: dict[str, tuple[float, Any]] = field(default_factory=dict)

    def uow(self, actor: Actor) -> UnitOfWork:
        """A unit of work for one use case, on behalf of ``actor``."""
        return UnitOfWork(self.database, actor, self.bus)

    def client_address(self, request: Request) -> str | None:
        return request.client.host if request.client else None


def web_context(request: Request) -> WebContext:
    ctx = request.app.state.web
    assert isinstance(ctx, WebContext)
    return ctx
