"""Bulk import and export of a list's entries (admins)."""

from __future__ import annotations

import re

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse
from starlette.background import BackgroundTask
from starlette.responses import Response

from screener.db.models import NumberList
from screener.lists.export import ExportFormat
from screener.lists.import_reader import ImportFormat
from screener.web.context import web_context
from screener.web.deps import Admin, actor
from screener.web.list_io import export_to_file, jobs, save_upload, start_import, work_dir
from screener.web.rendering import render

router = APIRouter()


@router.post("/admin/lists/{list_id}/import")
async def upload(
    request: Request,
    user: Admin,
    list_id: int,
    file: UploadFile = File(...),
    format: str = Form("auto", max_length=8),
    skip_invalid: bool = Form(False),
    replace: bool = Form(False),
) -> Response:
    ctx = web_context(request)
    try:
        import_format = ImportFormat(format)
    except ValueError as exc:
        raise HTTPException(400, "format must be auto, csv or text") from exc
    async with ctx.database.sessions() as session:
        number_list = await session.get(NumberList, list_id)
    if number_list is None:
        raise HTTPException(404, "no such list")
    try:
        path, size = await save_upload(file, work_dir(ctx))
    except ValueError as exc:
        raise HTTPException(413, str(exc)) from exc
    job = start_import(
        ctx,
        number_list,
        actor(request, user),
        path,
        size,
        file.filename or "upload",
        import_format,
        skip_invalid,
        replace,
    )
    target = f"/admin/imports/{job.id}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _job(request: Request, job_id: str) -> object:
    if not re.fullmatch(r"[0-9a-f]{16}", job_id):
        raise HTTPException(404, "no such import")
    job = jobs(web_context(request)).get(job_id)
    if job is None:
        raise HTTPException(404, "no such import (finished imports are kept a while)")
    return job


@router.get("/admin/imports/{job_id}")
async def import_status(request: Request, user: Admin, job_id: str) -> Response:
    job = _job(request, job_id)
    template = "_import_status.html" if request.headers.get("hx-request") else "import.html"
    return render(request, template, {"job": job})


@router.get("/admin/imports/{job_id}/rejects.csv")
async def import_rejects(request: Request, user: Admin, job_id: str) -> Response:
    job = _job(request, job_id)
    path = getattr(job, "rejects_path", None)
    if path is None or not path.is_file():
        raise HTTPException(404, "no rejected lines")
    return FileResponse(path, media_type="text/csv", filename=f"rejected-{job_id}.csv")


@router.get("/admin/lists/{list_id}/export")
async def export(request: Request, user: Admin, list_id: int, format: str = "csv") -> Response:
    ctx = web_context(request)
    try:
        export_format = ExportFormat(format)
    except ValueError as exc:
        raise HTTPException(400, "format must be csv or text") from exc
    async with ctx.database.sessions() as session:
        number_list = await session.get(NumberList, list_id)
    if number_list is None:
        raise HTTPException(404, "no such list")
    path, _written = await export_to_file(ctx, actor(request, user), number_list, export_format)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", number_list.name).strip("-") or "list"
    suffix = "csv" if export_format is ExportFormat.CSV else "txt"
    return FileResponse(
        path,
        media_type="text/csv" if suffix == "csv" else "text/plain",
        filename=f"{safe}.{suffix}",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
