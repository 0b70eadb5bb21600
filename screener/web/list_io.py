"""Bulk import (upload, background job with progress, rejection report) and export."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from fastapi import UploadFile

from screener.db.models import NumberList
from screener.db.sqlite_files import is_sqlite, sqlite_path
from screener.domain.model import Actor
from screener.lists.export import ExportFormat, export_list
from screener.lists.import_reader import (
    EntryReader,
    ImportFileError,
    ImportFormat,
    ImportStats,
    Rejection,
    RejectionLog,
)
from screener.lists.importer import import_entries
from screener.web.context import WebContext

log = logging.getLogger(__name__)

SHOWN_REJECTIONS = 200
MAX_UPLOAD_BYTES = 4 * 1024**3
KEEP_JOBS = 20
CHUNK = 1 << 20


@dataclass
class ImportJob:
    id: str
    list_id: int
    list_name: str
    actor: Actor
    filename: str
    size: int
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    bytes_read: int = 0
    state: str = "running"  # running | done | rejected | failed
    stats: ImportStats | None = None
    rejections: list[Rejection] = field(default_factory=list)
    rejected_total: int = 0
    error: str | None = None
    rejects_path: Path | None = None

    @property
    def percent(self) -> int:
        if self.state != "running":
            return 100
        return min(99, int(self.bytes_read * 100 / self.size)) if self.size else 0


def jobs(ctx: WebContext) -> dict[str, ImportJob]:
    hit = ctx.cache.get("import-jobs")
    if hit is None:
        hit = (0.0, {})
        ctx.cache["import-jobs"] = hit
    found: dict[str, ImportJob] = hit[1]
    return found


def _temp_file(directory: Path, prefix: str, suffix: str) -> tuple[int, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def save_upload(upload: UploadFile, directory: Path) -> tuple[Path, int]:
    """Copy the upload to a private temporary file (bounded size)."""
    fd, name = await asyncio.to_thread(_temp_file, directory, "import-", ".upload")
    size = 0
    with os.fdopen(fd, "wb") as handle:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                break
            await asyncio.to_thread(handle.write, chunk)
    if size > MAX_UPLOAD_BYTES:
        await asyncio.to_thread(_remove, Path(name))
        raise ValueError("the file is too large")
    return Path(name), size


def work_dir(ctx: WebContext) -> Path:
    url = ctx.settings.database.url
    base = (
        Path(sqlite_path(url)).resolve().parent if is_sqlite(url) else Path(tempfile.gettempdir())
    )
    return base / "screener-imports"


def start_import(
    ctx: WebContext,
    number_list: NumberList,
    actor: Actor,
    path: Path,
    size: int,
    filename: str,
    import_format: ImportFormat,
    skip_invalid: bool,
    replace: bool,
) -> ImportJob:
    job = ImportJob(
        id=secrets.token_hex(8),
        list_id=number_list.id,
        list_name=number_list.name,
        actor=actor,
        filename=filename[:200],
        size=size,
    )
    registry = jobs(ctx)
    registry[job.id] = job
    while len(registry) > KEEP_JOBS:
        old = registry.pop(next(iter(registry)))
        if old.rejects_path:
            old.rejects_path.unlink(missing_ok=True)
    task = asyncio.create_task(_run(ctx, job, path, import_format, skip_invalid, replace))
    ctx.cache[f"import-task:{job.id}"] = (0.0, task)
    return job


async def _run(
    ctx: WebContext,
    job: ImportJob,
    path: Path,
    import_format: ImportFormat,
    skip_invalid: bool,
    replace: bool,
) -> None:
    rejects_path = path.with_suffix(".rejects.csv")
    try:
        with (
            path.open("rb") as stream,
            rejects_path.open("w", encoding="utf-8", newline="") as sink,
        ):
            rejections = RejectionLog(keep=SHOWN_REJECTIONS, sink=sink)
            reader = EntryReader(
                stream, ctx.analyser, rejections, import_format, f"upload {job.filename}"[:200]
            )

            def progress(done: int) -> None:
                job.bytes_read = done

            result = await import_entries(
                ctx.database,
                job.actor,
                job.list_id,
                reader,
                skip_invalid=skip_invalid,
                replace=replace,
                file_name=job.filename,
                progress=progress,
                bus=ctx.bus,
            )
        stats = result.stats
        job.stats = stats
        job.rejections = list(rejections.kept)
        job.rejected_total = rejections.total
        job.rejects_path = rejects_path if rejections.total else None
        job.state = "done" if stats.applied else "rejected"
    except ImportFileError as exc:
        job.state, job.error = "failed", f"{exc}; nothing was imported"
    except Exception as exc:
        log.exception("import into list %s failed", job.list_id)
        job.state, job.error = "failed", f"the import failed: {type(exc).__name__}"
    finally:
        await asyncio.to_thread(_remove, path)
        if job.rejects_path is None:
            await asyncio.to_thread(_remove, rejects_path)
        ctx.cache.pop(f"import-task:{job.id}", None)


async def export_to_file(
    ctx: WebContext, actor: Actor, number_list: NumberList, export_format: ExportFormat
) -> tuple[Path, int]:
    """Write the export to a temporary file (removed after it is sent)."""
    fd, name = await asyncio.to_thread(_temp_file, work_dir(ctx), "export-", ".tmp")
    handle: IO[str]
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        written = await export_list(ctx.database, actor, number_list.id, handle, export_format)
    return Path(name), written
