"""Login throttling: after N failures a username (and a client address) is locked out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    """In-process counters; ``attempts`` failures within the lockout window lock the key."""

    MAX_KEYS = 10_000

    def __init__(
        self,
        attempts: int,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def locked_for(self, *keys: str) -> float:
        """Seconds left on the longest lock among ``keys`` (0 when none is locked)."""
        now = self.clock()
        left = 0.0
        for key in keys:
            record = self._records.get(key)
            if record is not None and record.locked_until > now:
                left = max(left, record.locked_until - now)
        return left

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self._records) >= self.MAX_KEYS:
            self._forget_stale(now)
        for key in keys:
            record = self._records.setdefault(key, _Record())
            record.failures = [t for t in record.failures if now - t < self.lockout_seconds]
            record.failures.append(now)
            if len(record.failures) >= self.attempts:
                record.locked_until = now + self.lockout_seconds
                record.failures.clear()

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._records.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        for key in [
            k
            for k, r in self._records.items()
            if r.locked_until <= now and all(now - t >= self.lockout_seconds for t in r.failures)
        ]:
            del self._records[key]
        if len(self._records) >= self.MAX_KEYS:
            self._records.clear()
