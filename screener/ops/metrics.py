"""``/metrics``: everything Screener counts, in the Prometheus text format (0.0.4).

Every label is exported (at 0) from the start, one per word of the vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TypeVar

from screener.domain.vocabulary import (
    Action,
    CallSource,
    Delivery,
    Outcome,
    ReviewState,
    ScreenDecision,
    TranscriptStatus,
    Verdict,
)
from screener.ops.counters import Histogram
from screener.ops.health import ServiceHealth

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

    def histogram(self, name: str, help_text: str, hist: Histogram) -> None:
        self.family(name, "histogram", help_text)
        for bound, count in zip(hist.buckets, hist.counts, strict=True):  # counts are cumulative
            self.sample(f"{name}_bucket", count, {"le": _number(bound)})
        self.sample(f"{name}_bucket", hist.count, {"le": "+Inf"})
        self.sample(f"{name}_sum", hist.total)
        self.sample(f"{name}_count", hist.count)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


E = TypeVar("E", bound=StrEnum)


def _labelled(
    label: str, counts: Mapping[E, int], every: Iterable[E]
) -> list[tuple[dict[str, str], float]]:
    return [({label: member.value}, counts.get(member, 0)) for member in every]


def render_metrics(health: ServiceHealth) -> str:
    """All of Screener's metrics in the Prometheus text format."""
    metrics = health.metrics
    out = _Writer()
    out.counter(
        "screener_calls_started_total",
        "Calls that reached Screener, by source.",
        _labelled("source", metrics.calls_started, CallSource),
    )
    out.counter(
        "screener_call_decisions_total",
        "Calls decided, by the policy's action.",
        _labelled("action", metrics.decisions, Action),
    )
    out.counter(
        "screener_call_verdicts_total",
        "Calls whose screening ended, by verdict (the decision and the challenge's result).",
        _labelled("verdict", metrics.verdicts, Verdict),
    )
    out.counter(
        "screener_call_outcomes_total",
        "Calls that left Screener's hands, by outcome.",
        _labelled("outcome", metrics.outcomes, Outcome),
    )
    out.counter(
        "screener_call_deliveries_total",
        "Calls handed back to the dialplan, by what happened next.",
        _labelled("delivery", metrics.deliveries, Delivery),
    )
    out.counter(
        "screener_call_reviews_total",
        "Calls reviewed by reception, by review state.",
        _labelled("state", metrics.reviews, ReviewState),
    )
    out.histogram(
        "screener_decision_seconds",
        "Time to decide a call (lists, history and policy).",
        metrics.decision_seconds,
    )
    out.counter(
        "screener_screened_calls_total",
        "Calls that waited for reception (live screening), by the decision applied.",
        _labelled("decision", metrics.screened, ScreenDecision),
    )
    out.histogram(
        "screener_screen_wait_seconds",
        "How long screened callers waited on hold before the decision.",
        metrics.screen_wait_seconds,
    )

    ari, calls = health.ari, health.calls
    out.gauge(
        "screener_board_watchers",
        "Boards (and API clients polling the waiting calls) open on this process now.",
        calls.presence.local_watchers if calls else 0,
    )
    out.gauge(
        "screener_ari_connected", "1 while the ARI websocket is connected.", health.ari_connected
    )
    out.counter(
        "screener_ari_reconnects_total",
        "ARI websocket reconnections after a loss.",
        [({}, ari.reconnects if ari else 0)],
    )
    out.gauge(
        "screener_calls_active",
        "Calls Screener is handling over ARI now.",
        calls.active_calls if calls else 0,
    )
    out.counter(
        "screener_ari_channels_reconciled_total",
        "Channels sent back to the dialplan after a reconnect (nobody was handling them).",
        [({}, calls.stats.reconciled if calls else 0)],
    )
    out.counter(
        "screener_calls_shed_total",
        "Calls sent straight back to the dialplan undecided: Screener was overloaded "
        "(ari.max_calls_in_progress or ari.max_records_behind).",
        [({}, calls.stats.calls_shed if calls else 0)],
    )
    out.counter(
        "screener_call_handler_errors_total",
        "Calls whose handler failed unexpectedly (each was sent back to the dialplan).",
        [({}, calls.stats.handler_errors if calls else 0)],
    )
    recorder = health.recorder
    out.counter(
        "screener_recorder_writes_total",
        "Call record operations written.",
        [({}, recorder.stats.written if recorder else 0)],
    )
    out.counter(
        "screener_recorder_write_failures_total",
        "Call record operations that could not be written.",
        [({}, recorder.stats.failed if recorder else 0)],
    )
    out.gauge(
        "screener_recorder_queue_depth",
        "Call record operations waiting to be written.",
        recorder.pending if recorder else 0,
    )
    agi = health.agi
    out.counter(
        "screener_agi_sessions_total",
        "FastAGI sessions served.",
        [({}, agi.sessions if agi else 0)],
    )
    out.counter(
        "screener_agi_rejected_sessions_total",
        "FastAGI sessions turned away (too many at once).",
        [({}, agi.rejected if agi else 0)],
    )
    out.counter(
        "screener_agi_failed_sessions_total",
        "FastAGI sessions ended by bad input, a timeout or an error.",
        [({}, agi.failed if agi else 0)],
    )
    mqtt = health.mqtt
    out.gauge(
        "screener_mqtt_connected",
        "1 while connected to the MQTT broker.",
        bool(mqtt and mqtt.state.connected),
    )
    out.counter(
        "screener_mqtt_published_total",
        "Events the MQTT broker acknowledged.",
        [({}, mqtt.state.published if mqtt else 0)],
    )
    out.counter(
        "screener_mqtt_dropped_total",
        "Events dropped because the MQTT queue was full.",
        [({}, mqtt.dropped if mqtt else 0)],
    )
    out.gauge(
        "screener_mqtt_queued", "Events waiting for the MQTT broker.", mqtt.queued if mqtt else 0
    )
    out.counter(
        "screener_mqtt_connection_failures_total",
        "Failed or lost MQTT connections.",
        [({}, mqtt.state.connect_failures if mqtt else 0)],
    )
    speech = health.speech
    out.gauge(
        "screener_speech_available",
        "1 while speech to text is on (the workers are up with the model loaded).",
        bool(speech and speech.available),
    )
    out.counter(
        "screener_speech_transcriptions_total",
        "Callers' recordings handed to speech to text, by what became of them.",
        _labelled("status", speech.stats.statuses if speech else {}, TranscriptStatus),
    )
    out.counter(
        "screener_speech_worker_restarts_total",
        "Speech worker pools replaced after a worker died or a clip timed out.",
        [({}, speech.transcriber.stats.restarts if speech else 0)],
    )
    out.gauge(
        "screener_speech_in_flight",
        "Recordings being read, waiting for a worker or transcribed.",
        speech.in_flight if speech else 0,
    )
    out.counter(
        "screener_speech_write_failures_total",
        "Transcripts that could not be written to their call's record.",
        [({}, speech.stats.write_failures if speech else 0)],
    )
    policy = health.policy
    out.counter(
        "screener_policy_reloads_total",
        "Times the policy changed in force (here or on another instance).",
        [({}, policy.reloads if policy else 0)],
    )
    bus = health.bus
    out.counter(
        "screener_bus_events_total",
        "Events published on the in-process bus.",
        [({}, bus.published)],
    )
    out.counter(
        "screener_bus_dropped_total",
        "Events a slow in-process listener could not take (counted per listener).",
        [({}, bus.dropped)],
    )
    return out.text()
