"""Call counters fed from the event bus (read by ``/metrics``).

Every counter is keyed by a word of the call vocabulary (:mod:`screener.domain.vocabulary`),
so each outcome the ARI flow or FastAGI can produce is counted under its own label.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

from screener.domain.events import (
    CallDecided,
    CallDelivered,
    CallFinished,
    CallReviewed,
    CallStarted,
    Event,
)
from screener.domain.screen_events import CallScreened
from screener.domain.vocabulary import (
    Action,
    CallSource,
    Delivery,
    Outcome,
    ReviewState,
    ScreenDecision,
    Verdict,
)
from screener.events import EventBus

log = logging.getLogger(__name__)

DECISION_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
WAIT_BUCKETS_SECONDS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
"""How long screened callers waited on hold for reception."""


@dataclass
class Histogram:
    buckets: tuple[float, ...] = DECISION_BUCKETS_SECONDS
    counts: list[int] = field(default_factory=lambda: [0] * len(DECISION_BUCKETS_SECONDS))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1


@dataclass
class CallMetrics:
    """Counters updated by :func:`run_metrics_collector`; read by ``/metrics``."""

    calls_started: Counter[CallSource] = field(default_factory=Counter)
    decisions: Counter[Action] = field(default_factory=Counter)
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    deliveries: Counter[Delivery] = field(default_factory=Counter)
    reviews: Counter[ReviewState] = field(default_factory=Counter)
    decision_seconds: Histogram = field(default_factory=Histogram)
    screened: Counter[ScreenDecision] = field(default_factory=Counter)
    screen_wait_seconds: Histogram = field(
        default_factory=lambda: Histogram(WAIT_BUCKETS_SECONDS, [0] * len(WAIT_BUCKETS_SECONDS))
    )

    def record(self, event: Event) -> None:
        if isinstance(event, CallStarted):
            self.calls_started[event.source] += 1
        elif isinstance(event, CallDecided):
            self.decisions[event.decision.action] += 1
            elapsed = event.decision_ms
            if math.isfinite(elapsed) and elapsed >= 0:
                self.decision_seconds.observe(elapsed / 1000.0)
        elif isinstance(event, CallFinished):
            self.outcomes[event.ending.outcome] += 1
            if event.ending.verdict is not None:
                self.verdicts[event.ending.verdict] += 1
        elif isinstance(event, CallDelivered):
            self.deliveries[event.delivery] += 1
        elif isinstance(event, CallReviewed):
            self.reviews[event.review_state] += 1
        elif isinstance(event, CallScreened):
            self.screened[event.decision] += 1
            waited = event.waited_seconds
            if waited is not None and math.isfinite(waited) and waited >= 0:
                self.screen_wait_seconds.observe(waited)


COLLECTED = (CallStarted, CallDecided, CallFinished, CallDelivered, CallReviewed, CallScreened)


async def run_metrics_collector(bus: EventBus, metrics: CallMetrics) -> None:
    """Count call events until cancelled."""
    with bus.subscribe(maxsize=10_000, kinds=COLLECTED) as sub:
        async for event in sub:
            metrics.record(event)
