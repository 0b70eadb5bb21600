"""What every request handler needs: settings, database, screening, bus, templates."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from screener.application.unit_of_work import UnitOfWork
from screener.calls.presence import BoardPresence
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.domain.model import Actor
from screener.domain.numbers import NumberAnalyser
from screener.events import EventBus
from screener.settings import Settings
from screener.web.first_run import FirstRunSetup
from screener.web.throttle import LoginThrottle

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """An IP address as a proxy writes it (``192.0.2.7``, ``2001:db8::1``, ``[2001:db8::1]``)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_client(peer: str, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: behind a trusted proxy, the right-most ``X-Forwarded-For``
    entry that is not itself a trusted proxy; otherwise the TCP peer.

    Entries are read from the right (the ones the trusted proxies wrote); an entry that is
    not an IP address stops the walk at the last trusted hop, so a made-up value never
    becomes anybody's address.
    """
    peer_address = parse_address(peer)
    if peer_address is None or not any(peer_address in net for net in trusted):
        return peer
    entries = [item for header in forwarded_for for item in header.split(",") if item.strip()]
    closest = str(peer_address)
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break
        if not any(address in net for net in trusted):
            return str(address)
        closest = str(address)
    return closest


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
    trusted_proxies: tuple[Network, ...] = ()
    setup: FirstRunSetup | None = None
    zone: tzinfo = UTC
    """The zone the console shows times in, and reads the dates typed into filters in."""
    presence: BoardPresence = field(default_factory=BoardPresence)
    """Open boards (a screened caller is held for reception only while one is open)."""
    speech_status: Callable[[], Mapping[str, Any]] | None = None
    """Whether this process transcribes what callers say, and if not why."""
    warnings: Callable[[], list[str]] | None = None
    """Problems affecting every call (a missing dialplan location): every page shows them."""

    def __post_init__(self) -> None:
        if not self.trusted_proxies:
            self.trusted_proxies = tuple(
                ipaddress.ip_network(item, strict=False)
                for item in self.settings.web.trusted_proxies
            )
        if self.setup is None:
            self.setup = FirstRunSetup(self.database)

    def speech(self) -> Mapping[str, Any]:
        """Speech to text here: ``available`` and ``reason`` (off when nothing runs it)."""
        if self.speech_status is None:
            return {"available": False, "reason": "not run by this console's process"}
        return self.speech_status()

    def uow(self, actor: Actor) -> UnitOfWork:
        """A unit of work for one use case, on behalf of ``actor``."""
        return UnitOfWork(self.database, actor, self.bus)

    def client_address(self, request: Request) -> str | None:
        """Who is asking: the TCP peer, or behind a proxy in ``web.trusted_proxies`` the
        client it names in ``X-Forwarded-For`` (the sign-in throttle, the audit log and
        sign-ins all use this)."""
        if request.client is None:
            return None
        if not self.trusted_proxies:
            return request.client.host
        return forwarded_client(
            request.client.host,
            request.headers.getlist("x-forwarded-for"),
            self.trusted_proxies,
        )


def web_context(request: Request) -> WebContext:
    ctx = request.app.state.web
    assert isinstance(ctx, WebContext)
    return ctx
