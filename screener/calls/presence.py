"""Whether anybody is watching the live board, so a screened caller is held only then.

Counted here, for this process: the board pages of signed-in users with their live
stream open (``/board/events``), and API clients that listed the waiting calls lately
(a desk app polling ``GET /api/v1/waiting``). With several Screener processes on one
PostgreSQL, each process's count reaches the others through the call feed
(:mod:`screener.calls.feed`), which calls :meth:`BoardPresence.heard`; a count not
repeated within ``REMOTE_TTL_SECONDS`` is forgotten (its process stopped).

A board closed less than ``grace_seconds`` ago still counts: reloading the page must not
send every waiting caller to the default.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

REMOTE_TTL_SECONDS = 15.0
"""How long another process's count holds without being repeated (it repeats every
``feed.PRESENCE_SECONDS``)."""


class BoardPresence:
    """One per process, built by the composition root; see the module docstring."""

    def __init__(
        self,
        grace_seconds: float = 5.0,
        api_seconds: float = 15.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.grace_seconds = grace_seconds
        self.api_seconds = api_seconds
        self._clock = clock
        self._boards = 0
        self._last_closed = -math.inf
        self._api_at = -math.inf
        self._remote: dict[str, tuple[int, float]] = {}
        self._remote_seen = -math.inf  # last time another process had a board open

    @contextmanager
    def watching(self) -> Iterator[None]:
        """While a signed-in user's board is open (its live stream connected)."""
        self._boards += 1
        try:
            yield
        finally:
            self._boards -= 1
            self._last_closed = self._clock()

    def api_polled(self) -> None:
        """An API client listed the waiting calls."""
        self._api_at = self._clock()

    @property
    def boards(self) -> int:
        """Boards open on this process now."""
        return self._boards

    @property
    def local_watchers(self) -> int:
        """What this process tells the others: its open boards, plus one for an API client
        that polled lately, plus one for a board closed within the grace time."""
        now = self._clock()
        recent = now - self._last_closed < self.grace_seconds
        api = now - self._api_at < self.api_seconds
        return self._boards + int(api) + int(recent and not self._boards)

    def heard(self, origin: str, watchers: int) -> None:
        """Another process's count (from the call feed)."""
        now = self._clock()
        self._remote[origin[:64]] = (max(watchers, 0), now)
        if watchers > 0:
            self._remote_seen = now

    def remote_watchers(self) -> int:
        now = self._clock()
        for origin, (_count, at) in list(self._remote.items()):
            if now - at > REMOTE_TTL_SECONDS:
                del self._remote[origin]
        return sum(count for count, _at in self._remote.values())

    def watched(self) -> bool:
        """Whether a screened caller should be held for reception."""
        if self.local_watchers > 0 or self.remote_watchers() > 0:
            return True
        return self._clock() - self._remote_seen < self.grace_seconds
