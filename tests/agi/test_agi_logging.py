"""Log lines about an AGI call carry its id; no password ever reaches the logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

import pytest

from screener.calls.queries import CallFilter, find_calls
from screener.db.lifecycle import Database, open_database
from screener.logging_setup import configure_logging
from screener.settings import (
    AriSettings,
    DatabaseSettings,
    LoggingSettings,
    MqttSettings,
    Settings,
)
from tests.agi.conftest import AgiTranscript, agi_call, environment, running_agi, speak_agi
from tests.support.pgcluster import free_port

ARI_SECRET = "ari-Pa55w0rd-xyz"
MQTT_SECRET = "mqtt-Pa55w0rd-xyz"
DB_SECRET = "db-Pa55w0rd-xyz"


@contextlib.contextmanager
def json_logging() -> Iterator[None]:
    """JSON logs on stderr as the service writes them (inside the test, so capsys sees them)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(LoggingSettings(level="DEBUG", json_format=True))
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def agi_environment_bytes(port: int) -> bytes:
    return ("\n".join(environment(port)) + "\n\n").encode()


def log_records(text: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_agi_log_lines_carry_the_call_id(
    database: Database, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with json_logging():
        async with running_agi(settings, database) as agi:
            result = await agi_call(agi.port, callerid="+447911123456")
            refused = await speak_agi(
                agi.port, agi_environment_bytes(agi.port), reply=b"510 Invalid command\n"
            )
            await agi.written()
        async with agi.database.sessions() as session:
            refused_calls, _ = await find_calls(session, CallFilter(), limit=5)
    call_id = result.variables["SCREENER_CALL_ID"]
    records = log_records(capsys.readouterr().err)
    about_call = [
        r for r in records if r["logger"] in ("screener.calls.agi_flow", "screener.calls.desk")
    ]
    assert about_call, records
    assert all(r.get("call_id") for r in about_call)
    assert any("allow" in r["msg"] and r["call_id"] == call_id for r in about_call)
    # The session-level warning for the refused SET VARIABLE names its call too.
    assert len(refused.commands) == 1
    refused_id = next(c.id for c in refused_calls if c.id != call_id)
    ended = [r for r in records if "SET VARIABLE SCREENER_VERDICT refused" in r["msg"]]
    assert [r.get("call_id") for r in ended] == [refused_id]
    assert not any(r.get("call_id") for r in records if "FastAGI listening" in r["msg"])


async def _call_with_everything_failing(
    settings: Settings,
) -> tuple[AgiTranscript, AgiTranscript]:
    """The service with ARI, MQTT and the database all unreachable, and a FastAGI call."""
    async with (
        open_database(settings.database, upgrade=False) as database,
        running_agi(settings, database) as agi,
    ):
        result = await agi_call(agi.port, callerid="+447911123456")
        outcome = await agi_call(
            agi.port, "outcome", args=(result.variables["SCREENER_CALL_ID"], "answered")
        )
        assert agi.service.mqtt is not None and agi.service.ari is not None
        async with asyncio.timeout(10):
            while agi.service.mqtt.state.connect_failures < 2:
                await asyncio.sleep(0.02)
            while agi.service.ari.connection.state.last_error is None:
                await asyncio.sleep(0.02)
    return result, outcome


async def test_no_secret_reaches_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql+asyncpg://screener:{DB_SECRET}@127.0.0.1:{free_port()}/screener"
    settings = Settings(
        database=DatabaseSettings(url=url),
        ari=AriSettings(url="http://127.0.0.1:1/ari", password=ARI_SECRET),
        mqtt=MqttSettings(
            enabled=True,
            port=free_port(),
            username="screener",
            password=MQTT_SECRET,
            reconnect_max_seconds=0.2,
        ),
    )
    with json_logging():
        result, outcome = await _call_with_everything_failing(settings)
    assert result.variables["SCREENER_REASONS"] == "error"
    assert outcome.variables == {"SCREENER_OUTCOME": "error"}
    logged = capsys.readouterr().err
    records = log_records(logged)
    failures = [r for r in records if "letting the call through" in r["msg"]]
    assert failures
    assert failures[0]["call_id"] == result.variables["SCREENER_CALL_ID"]
    assert "***" in failures[0]["msg"]  # the URL is shown with its password masked
    assert any("MQTT broker" in r["msg"] for r in records)
    for secret in (ARI_SECRET, MQTT_SECRET, DB_SECRET):
        assert secret not in logged
