"""Live state of the long-running service, shared by its tasks and read by /healthz and /metrics.

One :class:`ServiceState` is built at start-up and passed to every task. Tasks only
assign plain attributes from the event loop's thread, so no locking is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from screener.db.lifecycle import Database
    from screener.events import EventBus
    from screener.ops.metrics import CallMetrics
    from screener.settings import Settings


@dataclass
class MqttState:
    """What the MQTT publisher is doing (updated by ``run_mqtt_publisher``)."""

    enabled: bool = False
    connected: bool = False
    connects: int = 0
    """Successful connections to the broker since start (the first one included)."""
    connect_failures: int = 0
    """Connection attempts that failed, and connections that were lost."""
    published: int = 0
    """Events the broker acknowledged (QoS 1 PUBACK)."""
    dropped: int = 0
    """Events discarded because the outgoing queue was full."""
    queued: int = 0
    """Events waiting for the broker right now."""
    last_error: str | None = None
    """Short description of the last connection problem (never contains credentials)."""


@dataclass
class ServiceState:
    """Everything /healthz and /metrics report, updated in place by the service's tasks.

    The ARI loop sets ``ari_connected`` when its websocket is up or down and
    increments ``ari_reconnects`` each time it connects again after a loss.
    """

    ari_enabled: bool = False
    """Whether this service handles calls through ARI (health then needs the websocket)."""
    ari_connected: bool = False
    ari_reconnects: int = 0
    mqtt: MqttState = field(default_factory=MqttState)
    database: Database | None = None
    bus: EventBus | None = None
    metrics: CallMetrics | None = None
    db_check_timeout_seconds: float = 2.0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        database: Database | None = None,
        bus: EventBus | None = None,
        metrics: CallMetrics | None = None,
    ) -> ServiceState:
        return cls(
            ari_enabled=bool(settings.ari.url),
            mqtt=MqttState(enabled=settings.mqtt.enabled),
            database=database,
            bus=bus,
            metrics=metrics,
        )
