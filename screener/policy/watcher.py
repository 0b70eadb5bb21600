"""Keeps this instance's policy in step with the database.

A change made here arrives as a :class:`PolicyChanged` event and is applied at once. A
change made by another instance sharing the database (another site, another process, or
the CLI) is found by reading the overrides every ``policy.sync_seconds``: the table is
a few rows, so the check costs one tiny query, and comparing state instead of following
a change log means no change can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screener.domain.events import PolicyChanged
from screener.domain.policy import Policy
from screener.events import EventBus
from screener.policy.store import build_policy, load_overrides
from screener.settings import Settings

log = logging.getLogger(__name__)


class PolicyUser(Protocol):
    """What decides with the policy (the screening service)."""

    def use_policy(self, policy: Policy) -> None: ...


class PolicyWatcher:
    def __init__(
        self,
        settings: Settings,
        user: PolicyUser,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        interval_seconds: float,
    ) -> None:
        self.settings = settings
        self.user = user
        self.sessions = sessions
        self.bus = bus
        self.interval = interval_seconds
        self.reloads = 0
        self.failures = 0
        self._seen: dict[str, str] | None = None

    async def load(self) -> None:
        """Read the overrides and apply them (at start-up, and after a change)."""
        async with self.sessions() as session:
            overrides = await load_overrides(session)
        if overrides != self._seen:
            self.user.use_policy(build_policy(self.settings, overrides))
            if self._seen is not None:
                self.reloads += 1
                log.info("policy changed: %d rule action(s) overridden", len(overrides))
            self._seen = overrides

    async def run(self) -> None:
        """Until cancelled: apply local changes at once, others' every ``interval``."""
        with self.bus.subscribe(maxsize=100, kinds={PolicyChanged}) as changes:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await changes.get()
                try:
                    await self.load()
                except Exception as exc:  # the database is away: keep the policy in force
                    self.failures += 1
                    log.warning("cannot read the policy overrides: %s", str(exc)[:200])
