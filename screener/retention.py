"""Retention: call records and the audit log are deleted once they are old enough.

UK GDPR's storage limitation: personal data (callers' numbers, names, recorded voices,
who reviewed what) is kept no longer than needed. ``[retention]`` says how long:

- ``calls_days`` (default 90): calls that started longer ago are deleted, with their
  timeline and reasons (``ON DELETE CASCADE``) and their recording files in
  ``ari.recordings_dir``; 0 keeps calls for ever;
- ``audit_days`` (default 730): older audit records are deleted; 0 keeps them for ever;
- ``interval_hours`` (default 6): how often the service looks.

Deletion runs in batches of :data:`BATCH` rows, each in its own short transaction, so a
purge of millions of old calls never holds SQLite's write lock (or PostgreSQL row locks)
for long: calls being recorded and list imports go on in between. Each run writes one
audit record with the counts and logs them.

Recording files are only ever deleted inside ``ari.recordings_dir`` itself: a name is
checked against a strict pattern, symbolic links are left alone, and nothing outside the
directory (or in a directory below it) is touched. Files named ``screener-*`` older than
``calls_days`` are swept too, so a recording whose call was deleted elsewhere (another
site on the same database) does not stay behind.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select

from screener.audit.log import audit_entry
from screener.db.lifecycle import Database
from screener.db.models import AuditEntry, Call
from screener.domain.model import Actor
from screener.domain.vocabulary import AuditAction
from screener.recordings import RECORDING_NAME
from screener.settings import Settings

log = logging.getLogger(__name__)

BATCH = 5_000
"""Rows deleted per transaction."""
ACTOR = Actor.system("retention")
FIRST_RUN_DELAY_SECONDS = 60.0
SWEPT_PREFIX = "screener-"
"""Recordings Screener makes are named ``screener-<call id>`` (see the call flow)."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    calls: int = 0
    recordings: int = 0
    audit_entries: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "recordings": self.recordings,
            "audit_entries": self.audit_entries,
        }


def _inside(base: Path, path: Path) -> bool:
    """A regular file directly in ``base``, reached without a symbolic link."""
    try:
        return path.parent == base and not path.is_symlink() and path.is_file()
    except OSError:
        return False


def recording_files(recordings_dir: Path, name: str | None) -> list[Path]:
    """The files of the recording ``name`` (``name`` itself, or ``name.<format>``)."""
    if not name or not RECORDING_NAME.match(name):
        return []
    found = []
    for path in [recordings_dir / name, *recordings_dir.glob(f"{name}.*")]:
        if _inside(recordings_dir, path) and (path.name == name or path.stem == name):
            found.append(path)
    return found


def _unlink(paths: list[Path]) -> int:
    removed = failed = 0
    first_error = ""
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed += 1
            first_error = first_error or f"{path}: {exc.strerror or exc}"
    if failed:
        log.warning(
            "retention: cannot delete %d recording files (%s); let Screener's user write "
            "to ari.recordings_dir",
            failed,
            first_error,
        )
    return removed


def _recordings_dir(settings: Settings) -> Path | None:
    if not settings.ari.recordings_dir:
        return None
    base = Path(settings.ari.recordings_dir).resolve()
    return base if base.is_dir() else None


async def purge_calls(
    database: Database, settings: Settings, before: datetime, batch: int = BATCH
) -> tuple[int, int]:
    """Delete calls started before ``before`` and their recordings; (calls, files)."""
    base = _recordings_dir(settings)
    calls = files = 0
    while True:
        async with database.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(Call.id, Call.recording)
                    .where(Call.started_at < before)
                    .order_by(Call.started_at)
                    .limit(batch)
                )
            ).all()
            if not rows:
                break
            ids = [row.id for row in rows]
            await session.execute(
                delete(Call).where(Call.id.in_(ids)).execution_options(synchronize_session=False)
            )
        calls += len(ids)
        if base is not None:
            paths = [p for row in rows for p in recording_files(base, row.recording)]
            files += await asyncio.to_thread(_unlink, paths)
        if len(rows) < batch:
            break
        await asyncio.sleep(0)  # let calls and imports have the database in between
    if base is not None:
        files += await asyncio.to_thread(sweep_recordings, base, before)
    return calls, files


def sweep_recordings(base: Path, before: datetime) -> int:
    """Delete ``screener-*`` recordings in ``base`` last changed before ``before``."""
    cutoff = before.timestamp()
    old = []
    try:
        entries = list(base.iterdir())
    except OSError as exc:
        log.warning("retention: cannot list %s: %s", base, exc.strerror or exc)
        return 0
    for path in entries:
        if not path.name.startswith(SWEPT_PREFIX) or not RECORDING_NAME.match(path.name):
            continue
        try:
            if _inside(base, path) and path.stat().st_mtime < cutoff:
                old.append(path)
        except OSError:
            continue
    return _unlink(old)


async def purge_audit(database: Database, before: datetime, batch: int = BATCH) -> int:
    """Delete audit records written before ``before``; how many."""
    deleted = 0
    while True:
        async with database.sessions.begin() as session:
            ids = list(
                (
                    await session.execute(
                        select(AuditEntry.id)
                        .where(AuditEntry.at < before)
                        .order_by(AuditEntry.id)
                        .limit(batch)
                    )
                ).scalars()
            )
            if not ids:
                break
            await session.execute(
                delete(AuditEntry)
                .where(AuditEntry.id.in_(ids))
                .execution_options(synchronize_session=False)
            )
        deleted += len(ids)
        if len(ids) < batch:
            break
        await asyncio.sleep(0)
    return deleted


async def purge(
    database: Database, settings: Settings, now: datetime | None = None, batch: int = BATCH
) -> PurgeResult:
    """One retention run: old calls (with recordings), old audit records, one audit record."""
    retention = settings.retention
    now = now or datetime.now(UTC)
    calls = files = audit = 0
    if retention.calls_days:
        calls, files = await purge_calls(
            database, settings, now - timedelta(days=retention.calls_days), batch
        )
    if retention.audit_days:
        audit = await purge_audit(database, now - timedelta(days=retention.audit_days), batch)
    result = PurgeResult(calls, files, audit)
    detail: dict[str, object] = {
        **result.as_dict(),
        "calls_days": retention.calls_days,
        "audit_days": retention.audit_days,
    }
    async with database.sessions.begin() as session:
        session.add(audit_entry(ACTOR, AuditAction.RETENTION_PURGE, "calls and audit log", detail))
    log.info(
        "retention: deleted %d calls older than %d days, %d recording files, "
        "%d audit records older than %d days",
        calls,
        retention.calls_days,
        files,
        audit,
        retention.audit_days,
    )
    return result


async def run_retention(
    database: Database, settings: Settings, first_delay: float = FIRST_RUN_DELAY_SECONDS
) -> None:
    """Purge ``first_delay`` seconds after the start (the service has settled), then every
    ``retention.interval_hours``, until cancelled."""
    interval = settings.retention.interval_hours * 3600
    await asyncio.sleep(first_delay)
    while True:
        try:
            await purge(database, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention run failed; trying again in %.1f hours", interval / 3600)
        await asyncio.sleep(interval)
