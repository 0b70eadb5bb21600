"""The service's health, read from its components as they are (nothing copies state).

The composition root builds one :class:`ServiceHealth` with references to the live
components; ``/healthz`` and ``/metrics`` read them when asked.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from screener.agi.server import AgiServer
    from screener.ari.connection import ConnectionState
    from screener.calls.ari_flow import ScreeningApp
    from screener.calls.recorder import CallRecorder
    from screener.calls.transcripts import CallTranscripts
    from screener.db.lifecycle import Database
    from screener.events import EventBus
    from screener.mqtt_publisher import MqttPublisher
    from screener.ops.counters import CallMetrics
    from screener.policy.watcher import PolicyWatcher

log = logging.getLogger(__name__)

DB_CHECK_TIMEOUT_SECONDS = 2.0


@dataclass
class ServiceHealth:
    """References to everything ``/healthz`` and ``/metrics`` report on."""

    database: Database
    bus: EventBus
    metrics: CallMetrics
    recorder: CallRecorder | None = None
    ari: ConnectionState | None = None
    calls: ScreeningApp | None = None
    agi: AgiServer | None = None
    mqtt: MqttPublisher | None = None
    policy: PolicyWatcher | None = None
    speech: CallTranscripts | None = None
    simulated: bool = False
    """Calls come from the built-in PBX simulator, not from Asterisk."""
    db_check_timeout_seconds: float = DB_CHECK_TIMEOUT_SECONDS

    @property
    def ari_connected(self) -> bool:
        return self.ari is not None and self.ari.connected


def service_warnings(health: ServiceHealth) -> list[str]:
    """Problems that affect every call while the service itself runs (``/healthz`` and the
    console's banner show them)."""
    warnings: list[str] = []
    delivery = health.calls.delivery if health.calls is not None else None
    if delivery is not None and delivery.missing_location is not None:
        warnings.append(
            f"Calls put through to the dialplan location {delivery.missing_location} are lost: "
            "it does not exist, so Asterisk ends them at once. Set [ari] continue_context, "
            "continue_extension and continue_priority to a location that exists."
        )
    return warnings


async def database_reachable(health: ServiceHealth) -> bool:
    """``SELECT 1`` within the configured timeout."""
    try:
        async with asyncio.timeout(health.db_check_timeout_seconds):
            async with health.database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable"; the reason goes to the log
        log.warning("health check: database not reachable (%s)", type(exc).__name__)
        return False
    return True


async def health_report(health: ServiceHealth) -> tuple[bool, dict[str, Any]]:
    """Healthy when the database answers and, if ARI is in use, its websocket is up;
    ``degraded`` (still 200) when :func:`service_warnings` has something to say.

    MQTT and speech to text are reported but do not make the service unhealthy: calls are
    still screened while the broker is away (events wait in the bounded queue) or while
    speech to text is off (calls have no transcript).
    """
    db_ok = await database_reachable(health)
    ari_ok = health.ari is None or health.ari.connected
    healthy = db_ok and ari_ok
    mqtt = health.mqtt
    warnings = service_warnings(health)
    body: dict[str, Any] = {
        "status": ("degraded" if warnings else "ok") if healthy else "unhealthy",
        "warnings": warnings,
        "mode": "simulation" if health.simulated else "live",
        "database": {"reachable": db_ok},
        "ari": {
            "enabled": health.ari is not None,
            "peer": "simulator" if health.simulated else "asterisk",
            "connected": health.ari_connected,
            "active_calls": health.calls.active_calls if health.calls else 0,
            "followed_calls": len(health.calls.delivery.followed) if health.calls else 0,
            "calls_to_a_missing_location": (
                health.calls.delivery.failed_locations if health.calls else 0
            ),
        },
        "agi": {"enabled": health.agi is not None},
        "recorder": {
            "pending": health.recorder.pending if health.recorder else 0,
            "failed": health.recorder.stats.failed if health.recorder else 0,
        },
        "mqtt": {
            "enabled": mqtt is not None,
            "connected": mqtt.state.connected if mqtt else False,
            "queued": mqtt.queued if mqtt else 0,
            "dropped": mqtt.dropped if mqtt else 0,
        },
        "speech": health.speech.status()
        if health.speech
        else {"enabled": False, "available": False, "reason": "not part of this process"},
    }
    return healthy, body
