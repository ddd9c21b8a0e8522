"""The register as a CSV file: the import with its error report, all rows or none, and the export that
imports back. The upload is capped before anything reads all of it. While an import runs, the page asks
`/register/import/progress` how far it has come (`hotline/console/import_progress.py`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message

from dispatch import audit
from dispatch.models import StaffRole
from dispatch.progress import QUIET, Progress
from dispatch.register.csv_export import FileFormat, count_residents, export_residents
from dispatch.register.csv_import import ImportReport, import_residents
from dispatch.register.csv_read import Vocabulary
from dispatch.register.places import community_name
from dispatch.staff_accounts import household_scope
from hotline.console.auth import Endpoint, current_user, staff_only
from hotline.console.import_progress import TOKEN, ImportProgress, progress_key, read_progress
from hotline.console.render import CONSOLE_TEXTS, page
from hotline.services import Services

UPLOAD_LIMIT = 5 * 1024 * 1024  # a register of 200,000 residents is smaller than this
UPLOAD_SLACK = 64 * 1024  # the form's own fields and boundaries around the file
MEDIA_TYPES: dict[FileFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@functools.cache
def _vocabulary() -> Vocabulary:
    return Vocabulary.load()


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


class _TooLarge(Exception):
    """The request body went past the upload limit."""


def _capped(limit: int) -> Callable[[Endpoint], Endpoint]:
    """Refuse a request body over `limit` bytes before anything reads all of it: by its Content-Length, or
    while it streams in (a body sent in chunks declares none). Goes outside `staff_only`, which reads the form
    for its CSRF token."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def capped(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > limit:
                return await _too_large(request)
            seen = 0

            async def receive() -> Message:
                nonlocal seen
                message = await request.receive()
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
                return message

            inner = Request(request.scope, receive)
            try:
                return await endpoint(inner)
            except _TooLarge:
                return await _too_large(request)
            finally:
                await inner.close()

        return capped

    return decorate


async def _too_large(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    return page(
        request,
        "register_import.html",
        user,
        status_code=413,
        report=None,
        error="register_import_too_large",
        limit_mb=UPLOAD_LIMIT // (1024 * 1024),
        dry_run=False,
    )


@_capped(UPLOAD_LIMIT + UPLOAD_SLACK)
@staff_only(StaffRole.ADMIN, StaffRole.CLERK)
async def import_csv(request: Request) -> Response:
    """GET: the form. POST: a residents CSV (UTF-8 or GB18030) or .xlsx workbook, every row checked, then all
    imported or none; the errors row by row, or the counts. A clerk imports into their own community only."""
    services, user = _services(request), request.state.user
    context: dict[str, Any] = {"report": None, "error": None, "limit_mb": UPLOAD_LIMIT // (1024 * 1024)}
    if request.method == "GET":
        return page(request, "register_import.html", user, dry_run=False, **context)
    form = await request.form()
    upload, dry_run = form.get("file"), form.get("dry_run") == "1"
    data = await upload.read(UPLOAD_LIMIT + 1) if isinstance(upload, UploadFile) else b""
    if len(data) > UPLOAD_LIMIT:
        return await _too_large(request)
    if not data:
        context["error"] = "register_import_no_file"
        return page(request, "register_import.html", user, status_code=400, dry_run=dry_run, **context)
    now = services.clock()
    token = form.get("progress")
    progress: Progress = QUIET
    if isinstance(token, str) and TOKEN.match(token):
        progress = ImportProgress(services.redis, progress_key(user.id, token))

    def run() -> ImportReport | None:
        with services.sessions() as session:
            only = None
            if user.role == StaffRole.CLERK:
                only = community_name(session, user.community_id)
                if only is None:
                    return None
            where = None if user.role == StaffRole.ADMIN else household_scope(user)
            report = import_residents(
                session,
                data,
                region=services.settings.region,
                vocabulary=_vocabulary(),
                where=where,
                only_community=only,
                progress=progress,
            )
            if not report.ok or dry_run:
                session.rollback()
                return report
            counts = f"created {len(report.created)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}"
            audit.record(session, user, "import", "register", None, counts, at=now)
            session.commit()
            return report

    report = await run_in_threadpool(run)
    if report is None:
        return JSONResponse({"error": "your account has no community to import into"}, status_code=403)
    context["report"] = report
    return page(
        request, "register_import.html", user, status_code=200 if report.ok else 422, dry_run=dry_run, **context
    )


@staff_only(StaffRole.ADMIN, StaffRole.CLERK)
async def import_progress(request: Request) -> Response:
    """How far the signed-in account's import with `?token=` has come: its stage, rows done and of how many, and
    the same in words. An import this account has not started (yet: the upload may still be on its way) is
    waiting, stage "", whatever the token."""
    services, user = _services(request), request.state.user
    token = request.query_params.get("token", "")
    found = None
    if TOKEN.match(token):
        found = await run_in_threadpool(read_progress, services.redis, progress_key(user.id, token))
    stage, done, total = found or ("", 0, 0)
    words = CONSOLE_TEXTS.render(f"progress_{stage}" if stage else "progress_waiting", user.language)
    if total:
        words = CONSOLE_TEXTS.render("progress_of", user.language, stage=words, done=done, total=total)
    return JSONResponse(
        {"stage": stage, "done": done, "total": total, "words": words}, headers={"Cache-Control": "no-store"}
    )


@staff_only()
async def export_csv(request: Request) -> Response:
    """The residents in scope as the CLI exports them, as CSV or, at `/register/export.xlsx`, a workbook
    (`?headers=en` for English headers), so the file imports back. Recorded in the audit log."""
    services, user = _services(request), request.state.user
    fmt: FileFormat = "xlsx" if request.url.path.endswith(".xlsx") else "csv"
    language = 1 if request.query_params.get("headers") == "en" else 0
    where, now = household_scope(user), services.clock()

    def run() -> bytes:
        with services.readonly() as session:
            data = export_residents(session, _vocabulary(), language, services.settings.region, where=where, fmt=fmt)
            count = count_residents(session, where)
        with services.sessions.begin() as session:
            audit.record(session, user, "export", "register", None, f"{count or 0} residents", at=now)
        return data

    data = await run_in_threadpool(run)
    day = now.astimezone(services.settings.timezone).strftime("%Y%m%d")
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="register-{day}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
