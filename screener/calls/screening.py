"""Screening service: reads a caller's list matches and history, then asks the pure policy.

The one place ARI, FastAGI, the web console and the CLI decide a call. It owns no
connection of its own: the composition root gives it the lookup backend
(:mod:`screener.calls.lookup`) for the database in use.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from screener.calls.lookup import CallReader, HistoryWindow, SessionCallReader
from screener.domain.model import CallerHistory, CallFacts, Decision, ListMatch
from screener.domain.numbers import NumberAnalyser
from screener.domain.policy import Policy, decide
from screener.policy.store import build_policy, load_policy
from screener.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Screening:
    """A decision and what it was based on."""

    decision: Decision
    history: CallerHistory
    elapsed_ms: float


class ScreeningService:
    """Decides calls against the database. One per process, built at start-up."""

    def __init__(self, settings: Settings, reader: CallReader, policy: Policy | None = None):
        self.settings = settings
        self.reader = reader
        self.analyser = NumberAnalyser(settings.numbers.region)
        self.policy = policy or build_policy(settings)

    @classmethod
    def in_session(
        cls, settings: Settings, session: AsyncSession, policy: Policy | None = None
    ) -> ScreeningService:
        """A service that reads inside ``session`` (the CLI's and the tests' way)."""
        return cls(settings, SessionCallReader(session=session), policy)

    @classmethod
    def per_session(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy | None = None,
    ) -> ScreeningService:
        """A service that opens a session of ``sessions`` for each call."""
        return cls(settings, SessionCallReader(sessions=sessions), policy)

    def use_policy(self, policy: Policy) -> None:
        """Decide with ``policy`` from now on (the policy watcher's hand-over)."""
        self.policy = policy

    async def reload_policy(self, sessions: async_sessionmaker[AsyncSession]) -> Policy:
        """Take the overrides stored in the database (after a change, here or elsewhere)."""
        async with sessions() as session:
            self.policy = await load_policy(self.settings, session)
        return self.policy

    async def close(self) -> None:
        await self.reader.close()

    async def decide(
        self, facts: CallFacts, now: datetime | None = None, use_history: bool = True
    ) -> Screening:
        """Normalise, look up, and decide. Raises on database errors (callers fail open)."""
        started = time.perf_counter()
        number = self.analyser.analyse(facts.caller_number, facts.presentation)
        history = CallerHistory()
        matches: list[ListMatch] = []
        if number.e164:
            moment = now or datetime.now(UTC)
            policy = self.policy
            window = (
                HistoryWindow.before(
                    moment,
                    policy.repeat_window,
                    max(policy.failed_challenge_block, policy.passed_challenge_allow),
                )
                if use_history
                else None
            )
            matches, history = await self.reader.read(number.e164, moment, window)
        decision = decide(
            self.policy,
            number,
            matches,
            history if use_history else None,
            trunk=facts.trunk,
            now=now,
        )
        return Screening(decision, history, (time.perf_counter() - started) * 1000)
