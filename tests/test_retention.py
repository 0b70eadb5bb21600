"""Retention: old calls (timeline, reasons, recordings) and old audit records are deleted in
batches; recordings only inside ari.recordings_dir; one audit record a run."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from screener import composition
from screener.audit.log import audit_entry, search
from screener.calls.lookup import call_reader
from screener.calls.screening import ScreeningService
from screener.db.lifecycle import Database
from screener.db.models import AuditEntry, Call, CallEvent, CallReason
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction
from screener.retention import purge, run_retention
from screener.settings import AgiSettings, Settings, WebSettings
from tests.support.calls import record_call

NOW = datetime.now(UTC)


async def _call(
    database: Database, screening: ScreeningService, days_ago: float, recording: str | None
) -> str:
    call_id = await record_call(
        database, screening, "anonymous", "x", outcome="connected", recording=recording
    )
    async with database.sessions.begin() as session:
        await session.execute(
            update(Call).where(Call.id == call_id).values(started_at=NOW - timedelta(days=days_ago))
        )
    return call_id


async def _count(database: Database, model: type[object], call_ids: list[str]) -> int:
    column = model.id if model is Call else model.call_id  # type: ignore[attr-defined]
    async with database.sessions() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).select_from(model).where(column.in_(call_ids))
                )
            ).scalar_one()
        )


async def test_old_calls_and_their_recordings_go(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    settings.ari.recordings_dir = str(recordings)
    screening = ScreeningService(settings, call_reader(database.url, database.sessions))
    try:
        old = [await _call(database, screening, 91 + i, f"screener-old{i}") for i in range(5)]
        kept = [await _call(database, screening, 89, "screener-new")]
    finally:
        await screening.close()
    for i in range(5):
        (recordings / f"screener-old{i}.wav").write_bytes(b"RIFF")
    (recordings / "screener-new.wav").write_bytes(b"RIFF")
    (recordings / "voicemail-greeting.wav").write_bytes(b"RIFF")  # not ours: never swept
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"keep")
    (recordings / "screener-old0.gsm").symlink_to(outside)  # a link out: not followed
    assert await _count(database, CallEvent, old) > 0
    assert await _count(database, CallReason, old) > 0

    result = await purge(database, settings, batch=2)  # three transactions for five calls

    assert result.calls == 5 and result.recordings == 5
    for model in (Call, CallEvent, CallReason):
        assert await _count(database, model, old) == 0, model
    assert await _count(database, Call, kept) == 1
    assert await _count(database, CallEvent, kept) > 0
    assert sorted(p.name for p in recordings.iterdir()) == [
        "screener-new.wav",
        "screener-old0.gsm",
        "voicemail-greeting.wav",
    ]
    assert outside.read_bytes() == b"keep"


async def test_orphan_recordings_older_than_the_limit_are_swept(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    settings.ari.recordings_dir = str(tmp_path)
    stale = tmp_path / "screener-elsewhere.wav"  # its call was deleted by another site
    stale.write_bytes(b"RIFF")
    old = time.time() - 100 * 86400
    os.utime(stale, (old, old))
    fresh = tmp_path / "screener-today.wav"
    fresh.write_bytes(b"RIFF")
    below = tmp_path / "sub"
    below.mkdir()
    (below / "screener-deep.wav").write_bytes(b"RIFF")
    os.utime(below / "screener-deep.wav", (old, old))
    result = await purge(database, settings)
    assert result.recordings == 1
    assert not stale.exists() and fresh.exists() and (below / "screener-deep.wav").exists()


async def test_old_audit_records_go_and_each_run_is_audited(
    settings: Settings, database: Database
) -> None:
    actor = Actor.cli("alice")
    async with database.sessions.begin() as session:
        for days in (800, 731, 10):
            session.add(
                audit_entry(actor, AuditAction.LIST_CREATE, f"{days}", at=NOW - timedelta(days))
            )
    result = await purge(database, settings, batch=1)
    assert (result.calls, result.audit_entries) == (0, 2)
    async with database.sessions() as session:
        left = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        rows = [(e.action, e.target, e.actor, e.via) for e in left]
    assert rows == [
        ("list.create", "10", "alice", "cli"),
        (AuditAction.RETENTION_PURGE, "calls and audit log", "retention", "system"),
    ]
    async with database.sessions() as session:
        record = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.action == AuditAction.RETENTION_PURGE)
            )
        ).scalar_one()
    assert record.detail == {
        "calls": 0,
        "recordings": 0,
        "audit_entries": 2,
        "calls_days": 90,
        "audit_days": 730,
    }


async def test_zero_keeps_for_ever(settings: Settings, database: Database) -> None:
    settings.retention.calls_days = 0
    settings.retention.audit_days = 0
    screening = ScreeningService(settings, call_reader(database.url, database.sessions))
    try:
        ancient = await _call(database, screening, 5000, None)
    finally:
        await screening.close()
    async with database.sessions.begin() as session:
        session.add(
            audit_entry(Actor.cli(), AuditAction.LIST_CREATE, at=NOW - timedelta(days=5000))
        )
    result = await purge(database, settings)
    assert (result.calls, result.audit_entries) == (0, 0)
    assert await _count(database, Call, [ancient]) == 1


async def test_the_background_task_purges_and_logs(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    screening = ScreeningService(settings, call_reader(database.url, database.sessions))
    try:
        old = await _call(database, screening, 400, None)
    finally:
        await screening.close()
    with caplog.at_level(logging.INFO, logger="screener.retention"):
        task = asyncio.create_task(run_retention(database, settings, first_delay=0))
        try:
            async with asyncio.timeout(30):
                while await _count(database, Call, [old]):
                    await asyncio.sleep(0.05)
                while not [r for r in caplog.records if "retention: deleted" in r.message]:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert any("deleted 1 calls older than 90 days" in r.message for r in caplog.records)
    async with database.sessions() as session:
        assert [e.action for e in await search(session, actor="retention")] == [
            AuditAction.RETENTION_PURGE
        ]


async def test_the_service_runs_retention(settings: Settings, database: Database) -> None:
    from tests.web.live_server import free_port

    settings.agi = AgiSettings(enabled=True, port=free_port())
    settings.web = WebSettings(enabled=False)
    screener = composition.build(settings, database)
    await composition.start(screener)
    try:
        names = {task.get_name() for task in screener._tasks}
        assert "retention" in names
    finally:
        await composition.stop(screener)
    assert all(task.done() for task in screener._tasks)
    settings.retention.calls_days = settings.retention.audit_days = 0
    quiet = composition.build(settings, database)
    await composition.start(quiet)
    try:
        assert "retention" not in {task.get_name() for task in quiet._tasks}
    finally:
        await composition.stop(quiet)
