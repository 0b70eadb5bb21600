"""Call counters fed from the event bus, and their Prometheus text exposition (format 0.0.4)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from screener.domain import CALL_OUTCOMES
from screener.events import CALL_OUTCOME, CALL_REVIEWED, CALL_STARTED, CALL_VERDICT, EventBus
from screener.ops.state import ServiceState

log = logging.getLogger(__name__)

DECISION_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

KNOWN_VERDICTS = frozenset({"allow", "challenge", "block"})
KNOWN_SOURCES = frozenset({"ari", "agi", "demo", "web"})
OTHER = "other"
"""Label used for any value outside the known set, so labels stay few and safe."""


def _bounded(value: object, known: frozenset[str]) -> str:
    text = str(value) if value is not None else ""
    return text if text in known else OTHER


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

    calls_started: Counter[str] = field(default_factory=Counter)
    calls_by_verdict: Counter[str] = field(default_factory=Counter)
    calls_by_outcome: Counter[str] = field(default_factory=Counter)
    reviews_by_state: Counter[str] = field(default_factory=Counter)
    decision_seconds: Histogram = field(default_factory=Histogram)

    def record(self, kind: str, payload: dict[str, object]) -> None:
        if kind == CALL_STARTED:
            self.calls_started[_bounded(payload.get("source"), KNOWN_SOURCES)] += 1
        elif kind == CALL_VERDICT:
            self.calls_by_verdict[_bounded(payload.get("action"), KNOWN_VERDICTS)] += 1
            elapsed = payload.get("decision_ms")
            if isinstance(elapsed, int | float) and math.isfinite(elapsed) and elapsed >= 0:
                self.decision_seconds.observe(float(elapsed) / 1000.0)
        elif kind == CALL_OUTCOME:
            self.calls_by_outcome[_bounded(payload.get("outcome"), CALL_OUTCOMES)] += 1
        elif kind == CALL_REVIEWED:
            state = payload.get("review_state")
            self.reviews_by_state[str(state) if isinstance(state, str) else OTHER] += 1


COLLECTED_KINDS = {CALL_STARTED, CALL_VERDICT, CALL_OUTCOME, CALL_REVIEWED}


async def run_metrics_collector(bus: EventBus, metrics: CallMetrics) -> None:
    """Count call events until cancelled."""
    with bus.subscribe(maxsize=10_000, kinds=COLLECTED_KINDS) as sub:
        async for event in sub:
            try:
                metrics.record(event.kind, dict(event.payload))
            except Exception:  # a malformed payload must not stop the counting
                log.exception("cannot count event %s", event.kind)


# -- exposition ---------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        self.lines.append(f"{name}{_labels(labels or {})} {_number(value)}")

    def counter(
        self,
        name: str,
        help_text: str,
        values: Iterable[tuple[dict[str, str], float]],
    ) -> None:
        self.family(name, "counter", help_text)
        for labels, value in values:
            self.sample(name, value, labels)

    def gauge(self, name: str, help_text: str, value: float) -> None:
        self.family(name, "gauge", help_text)
        self.sample(name, value)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _labelled(
    label: str, counts: Counter[str], known: Iterable[str] = ()
) -> list[tuple[dict[str, str], float]]:
    keys = sorted(set(known) | set(counts))
    return [({label: key}, counts.get(key, 0)) for key in keys]


def render_metrics(state: ServiceState) -> str:
    """All of Screener's metrics in the Prometheus text format."""
    metrics = state.metrics or CallMetrics()
    out = _Writer()
    out.counter(
        "screener_calls_started_total",
        "Calls that reached Screener, by source (ari, agi).",
        _labelled("source", metrics.calls_started, ("ari", "agi")),
    )
    out.counter(
        "screener_calls_total",
        "Calls decided, by verdict.",
        _labelled("verdict", metrics.calls_by_verdict, sorted(KNOWN_VERDICTS)),
    )
    out.counter(
        "screener_call_outcomes_total",
        "Calls ended, by outcome.",
        _labelled("outcome", metrics.calls_by_outcome),
    )
    out.counter(
        "screener_call_reviews_total",
        "Calls reviewed by reception, by review state.",
        _labelled("state", metrics.reviews_by_state),
    )
    hist = metrics.decision_seconds
    name = "screener_decision_seconds"
    out.family(name, "histogram", "Time to decide a call (lists, history and policy).")
    for bound, count in zip(hist.buckets, hist.counts, strict=True):  # counts are cumulative
        out.sample(f"{name}_bucket", count, {"le": _number(bound)})
    out.sample(f"{name}_bucket", hist.count, {"le": "+Inf"})
    out.sample(f"{name}_sum", hist.total)
    out.sample(f"{name}_count", hist.count)

    out.gauge(
        "screener_ari_connected", "1 while the ARI websocket is connected.", state.ari_connected
    )
    out.counter(
        "screener_ari_reconnects_total",
        "ARI websocket reconnections after a loss.",
        [({}, state.ari_reconnects)],
    )
    mqtt = state.mqtt
    out.gauge("screener_mqtt_connected", "1 while connected to the MQTT broker.", mqtt.connected)
    out.counter(
        "screener_mqtt_published_total",
        "Events the MQTT broker acknowledged.",
        [({}, mqtt.published)],
    )
    out.counter(
        "screener_mqtt_dropped_total",
        "Events dropped because the MQTT queue was full.",
        [({}, mqtt.dropped)],
    )
    out.gauge("screener_mqtt_queued", "Events waiting for the MQTT broker.", mqtt.queued)
    out.counter(
        "screener_mqtt_connection_failures_total",
        "Failed or lost MQTT connections.",
        [({}, mqtt.connect_failures)],
    )
    bus = state.bus
    out.counter(
        "screener_bus_events_total",
        "Events published on the in-process bus.",
        [({}, bus.published if bus else 0)],
    )
    out.counter(
        "screener_bus_dropped_total",
        "Events a slow in-process listener could not take (counted per listener).",
        [({}, bus.dropped if bus else 0)],
    )
    return out.text()
