"""Screening service: gathers list matches and caller history, then asks the pure policy.

This is the one place ARI, FastAGI, the web console and the CLI call to decide.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screener.db import calls_repo, lists_repo
from screener.db.engine import is_sqlite, open_sqlite_reader
from screener.db.models import PolicySetting
from screener.db.pg_readers import PgReaders
from screener.domain import Action, CallerHistory, CallFacts, ListMatch, ReasonCode, Verdict
from screener.numbers import InvalidEntry, NumberAnalyser
from screener.policy import CONFIGURABLE_REASONS, Policy, decide
from screener.settings import Settings

log = logging.getLogger(__name__)


def build_policy(settings: Settings, overrides: Mapping[str, str] | None = None) -> Policy:
    """The policy from the settings file, with run-time overrides (web console) on top."""
    analyser = NumberAnalyser(settings.numbers.region)
    actions = Policy.effective_actions(settings.policy.actions)
    for code, action in (overrides or {}).items():
        if code in {c.value for c in CONFIGURABLE_REASONS}:
            actions[ReasonCode(code)] = Action(action)
    own: set[str] = set()
    for number in settings.office.own_numbers:
        try:
            value, is_prefix = analyser.normalise_entry(number)
        except InvalidEntry as exc:
            raise ValueError(f"office.own_numbers: {number!r}: {exc}") from exc
        if not is_prefix:
            own.add(value)
    p = settings.policy
    return Policy(
        actions=actions,
        home_country_code=analyser.country_code,
        own_numbers=frozenset(own),
        international_trunks=frozenset(settings.office.international_trunks),
        repeat_calls=p.repeat_calls,
        repeat_window=timedelta(minutes=p.repeat_window_minutes),
        failed_challenge_block=timedelta(minutes=p.failed_challenge_block_minutes),
        passed_challenge_allow=timedelta(minutes=p.passed_challenge_allow_minutes),
    )


async def load_policy_overrides(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(PolicySetting.key, PolicySetting.value))
    return {key: value for key, value in rows}


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    history: CallerHistory
    elapsed_ms: float


class ScreeningService:
    """Decides calls against the database. One per process, built at start-up."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.analyser = NumberAnalyser(settings.numbers.region)
        self.policy = policy or build_policy(settings)
        self._reader: sqlite3.Connection | None = None
        self._not_sqlite = False
        url = settings.database.url
        self._pg: PgReaders | None = PgReaders(url) if url.startswith("postgresql") else None

    async def close(self) -> None:
        """Close the connections kept for per-call reads."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._pg is not None:
            await self._pg.close()

    def _sqlite_reader(self) -> sqlite3.Connection | None:
        """On SQLite, one read-only connection for the per-call reads of ``decide``.

        A session per call costs a pool checkout and a rollback at close, each a hop to
        aiosqlite's worker thread (~0.5 ms together on a small server) for reads that
        take tens of microseconds (docs/performance.md). This connection is used only on
        the event loop's thread, in autocommit mode, so each read sees committed data.
        """
        if self._reader is None and not self._not_sqlite:
            url = self.settings.database.url
            self._not_sqlite = not is_sqlite(url)
            if not self._not_sqlite:
                self._reader = open_sqlite_reader(url)
        return self._reader

    async def reload_policy(self) -> Policy:
        async with self.sessions() as session:
            overrides = await load_policy_overrides(session)
        self.policy = build_policy(self.settings, overrides)
        return self.policy

    async def decide(
        self,
        facts: CallFacts,
        session: AsyncSession | None = None,
        now: datetime | None = None,
        use_history: bool = True,
    ) -> Decision:
        """Normalise, look up, and decide. Raises on database errors (callers fail open)."""
        started = time.perf_counter()
        number = self.analyser.analyse(facts.caller_number, facts.presentation)
        reader = self._sqlite_reader() if session is None and number.e164 else None
        if reader is not None and number.e164:
            matches, history = self._gather_sqlite(reader, number.e164, now, use_history)
        elif session is None and self._pg is not None and number.e164:
            async with self._pg.connection() as conn:
                matches, history = await self._gather_pg(conn, number.e164, now, use_history)
        elif session is None:
            async with self.sessions() as own_session:
                matches, history = await self._gather(own_session, number.e164, now, use_history)
        else:
            matches, history = await self._gather(session, number.e164, now, use_history)
        verdict = decide(
            self.policy,
            number,
            matches,
            history if use_history else None,
            trunk=facts.trunk,
            now=now,
        )
        elapsed = (time.perf_counter() - started) * 1000
        return Decision(verdict, history, elapsed)

    def _gather_sqlite(
        self, reader: sqlite3.Connection, e164: str, now: datetime | None, use_history: bool
    ) -> tuple[list[ListMatch], CallerHistory]:
        moment = now or lists_repo.utcnow()
        matches = lists_repo.lookup_sqlite(reader, e164, moment)
        history = CallerHistory()
        if use_history:
            window = max(self.policy.failed_challenge_block, self.policy.passed_challenge_allow)
            history = calls_repo.sqlite_caller_history(
                reader, e164, moment - self.policy.repeat_window, moment - window
            )
        return matches, history

    async def _gather_pg(
        self, conn: Any, e164: str, now: datetime | None, use_history: bool
    ) -> tuple[list[ListMatch], CallerHistory]:
        moment = now or lists_repo.utcnow()
        matches = await lists_repo.lookup_pg(conn, e164, moment)
        history = CallerHistory()
        if use_history:
            window = max(self.policy.failed_challenge_block, self.policy.passed_challenge_allow)
            history = await calls_repo.pg_caller_history(
                conn, e164, moment - self.policy.repeat_window, moment - window
            )
        return matches, history

    async def _gather(
        self,
        session: AsyncSession,
        e164: str | None,
        now: datetime | None,
        use_history: bool,
    ) -> tuple[list[ListMatch], CallerHistory]:
        if not e164:
            return [], CallerHistory()
        moment = now or lists_repo.utcnow()
        matches = await lists_repo.lookup(session, e164, moment)
        history = CallerHistory()
        if use_history:
            window = max(self.policy.failed_challenge_block, self.policy.passed_challenge_allow)
            history = await calls_repo.caller_history(
                session, e164, moment, self.policy.repeat_window, window
            )
        return matches, history
