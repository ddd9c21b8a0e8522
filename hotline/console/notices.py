"""Notices (防控信息) in the console: one text to a community, a grid or a category, by SMS or call.

`/notices`: the notices in scope with their time, status and progress; `/notices/new` writes one, previews who it
reaches, what it costs and how long it takes, then sends it, now or at a time given (the hotline's local time,
24-hour); `/notices/{id}` follows it as it goes, and `/notices/{id}/cancel` cancels one before it starts. What is
decided is queued after the commit, in campaign batches at the configured rate.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch import notices
from dispatch.checkins.staff_calls import scope_options
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import ResidentCategory, StaffUser
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.refusals import refusal
from hotline.console.render import page
from hotline.handover import Decided, hand_over_async
from hotline.services import Services, sms_templates

log = logging.getLogger(__name__)


def _choice(value: object) -> tuple[str, str]:
    """The target select's value, "<kind>:<name>", as (kind, name)."""
    kind, _, name = str(value or "").partition(":")
    return kind, name


def _rates(services: Services) -> dict[str, float]:
    settings = services.settings
    return {"sms_per_second": settings.sms_per_second, "calls_per_second": settings.calls_per_second}


FORM_FIELDS = ("target", "channels", "body", "request_key", "start_date", "start_time")


def _form_fields(form: FormData) -> dict[str, str]:
    fields = {key: str(form.get(key, "")) for key in FORM_FIELDS}
    fields["channels"] = fields["channels"] or "sms"
    return fields


def _starts_at(services: Services, fields: dict[str, str]) -> datetime | None:
    """The start the form asks for (the hotline's local time, 24-hour), as UTC; None: at once.

    Raises:
        ValueError: a date without a time, or either not one.
    """
    return notices.local_start(fields["start_date"], fields["start_time"], services.settings.timezone)


def _preview(services: Services, where: Any, fields: dict[str, str]) -> notices.NoticePreview:
    kind, target = _choice(fields["target"])
    starts_at = _starts_at(services, fields)
    with services.readonly() as session:
        return notices.preview(
            session,
            where,
            target_kind=kind,
            target=target,
            channels=fields["channels"],
            body=fields["body"],
            now=services.clock(),
            rules=services.intake.checkin,
            templates=sms_templates(services.settings),
            starts_at=starts_at,
            **_rates(services),
        )


async def _form_page(
    request: Request, user: StaffUser, fields: dict[str, str], status_code: int = 200, **context: Any
) -> Response:
    services: Services = request.app.state.services
    where = household_scope(user)

    def load() -> dict[str, list[str]]:
        with services.readonly() as session:
            options = scope_options(session, where)
        grids = [f"{community}/{grid}" for _, community, grid in options.grids]
        return {"community": options.communities, "grid": grids, "category": list(ResidentCategory)}

    targets = await run_in_threadpool(load)
    context.setdefault("preview", None)
    context.setdefault("error", None)
    return page(
        request,
        "notices.html",
        user,
        status_code=status_code,
        mode="new",
        targets=targets,
        fields=fields,
        channels=notices.CHANNELS,
        body_limit=notices.BODY_LIMIT,
        quiet=_quiet(services),
        **context,
    )


@staff_only()
async def notice_list(request: Request) -> Response:
    """The notices in scope, newest first, each with its progress."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    where = household_scope(user)

    def load() -> list[notices.NoticeProgress]:
        with services.readonly() as session:
            return notices.list_notices(session, where)

    return page(request, "notices.html", user, mode="list", items=await run_in_threadpool(load))


@staff_only()
async def notice_new(request: Request) -> Response:
    """GET: an empty form with a fresh request key. POST step=preview: the form again, with the preview.
    POST step=send: send it (a second post with the same request key finds the first notice) and follow it."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    where = household_scope(user)
    if request.method == "GET":
        fields = {**dict.fromkeys(FORM_FIELDS, ""), "channels": "sms", "request_key": secrets.token_urlsafe(16)}
        return await _form_page(request, user, fields)
    form = await request.form()
    fields = _form_fields(form)
    if not fields["request_key"]:
        fields["request_key"] = secrets.token_urlsafe(16)
    try:
        preview = await run_in_threadpool(_preview, services, where, fields)
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except InvalidAction as exc:
        return await _form_page(request, user, fields, 400, error=refusal(exc, user.language, services.catalog))
    except ValueError:
        return await _form_page(request, user, fields, 400, start_error=True)
    starts_at = _starts_at(services, fields)  # read once already, by the preview
    if form.get("step") != "send" or preview.problems:
        status_code = 400 if form.get("step") == "send" else 200  # a refused send; a preview shows its problems
        return await _form_page(request, user, fields, status_code, preview=preview, starts_at=starts_at)
    kind, target = _choice(fields["target"])

    def send() -> tuple[int, list[int]]:
        with services.sessions.begin() as session:
            notice, outbound = notices.send_notice(
                session,
                actor=user,
                where=where,
                target_kind=kind,
                target=target,
                channels=fields["channels"],
                body=fields["body"],
                now=services.clock(),
                rules=services.intake.checkin,
                templates=sms_templates(services.settings),
                request_key=fields["request_key"],
                starts_at=starts_at,
                **_rates(services),
            )
            return notice.id, outbound

    try:
        notice_id, outbound = await run_in_threadpool(send)
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except InvalidAction as exc:
        error = refusal(exc, user.language, services.catalog)
        return await _form_page(request, user, fields, 400, preview=preview, starts_at=starts_at, error=error)
    if outbound:
        await hand_over_async(services, Decided(campaign=outbound))
        log.info("staff %s sent notice %s: %s copies", user.id, notice_id, len(outbound))
    elif starts_at is not None:
        log.info("staff %s scheduled notice %s", user.id, notice_id)
    return RedirectResponse(f"/notices/{notice_id}", status_code=303)


@staff_only()
async def notice_preview(request: Request) -> Response:
    """JSON: the preview of the posted form (`preview`, as `NoticePreview.as_dict`) and its HTML for the page."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    fields = _form_fields(await request.form())
    try:
        preview = await run_in_threadpool(_preview, services, household_scope(user), fields)
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except InvalidAction as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    except ValueError:
        html = page(request, "_notice_start_error.html", user)
        return JSONResponse({"error": "start", "html": bytes(html.body).decode()}, status_code=400)
    starts_at = _starts_at(services, fields)
    html = page(
        request, "_notice_preview.html", user, preview=preview, body_limit=notices.BODY_LIMIT, starts_at=starts_at
    )
    return JSONResponse({"preview": preview.as_dict(), "html": bytes(html.body).decode()})


@staff_only()
async def notice_page(request: Request) -> Response:
    """One notice and its progress by channel; `?part=1` is the part the page fetches every few seconds."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    notice_id: int = request.path_params["notice_id"]

    def load() -> notices.NoticeProgress | None:
        with services.readonly() as session:
            try:
                return notices.notice_progress(session, notice_id, household_scope(user))
            except NotFound:
                return None

    progress = await run_in_threadpool(load)
    if progress is None:
        return page(request, "not_found.html", user, status_code=404)
    template = "_notice_progress.html" if request.query_params.get("part") else "notice.html"
    return page(request, template, user, notice=progress, now=services.clock(), quiet=_quiet(services))


def _quiet(services: Services) -> dict[str, str]:
    start, end = (t.strftime("%H:%M") for t in services.intake.checkin.quiet_hours)
    return {"start": start, "end": end}


@staff_only()
async def notice_cancel(request: Request) -> Response:
    """Cancel a scheduled notice before it starts; a second post changes nothing. After its start: refused, the
    page says it has already started."""
    await request.form()  # nothing in it is needed, but a body over the cap is refused (413) before anything else
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    notice_id: int = request.path_params["notice_id"]
    where = household_scope(user)

    def cancel() -> str:
        try:
            with services.sessions.begin() as session:
                notices.cancel_notice(session, notice_id, actor=user, where=where, now=services.clock())
        except NotFound:
            return "missing"
        except InvalidAction:
            return "refused"
        return "cancelled"

    def load() -> notices.NoticeProgress:
        with services.readonly() as session:
            return notices.notice_progress(session, notice_id, where)

    outcome = await run_in_threadpool(cancel)
    if outcome == "missing":
        return page(request, "not_found.html", user, status_code=404)
    if outcome == "cancelled":
        log.info("staff %s cancelled notice %s", user.id, notice_id)
        return RedirectResponse(f"/notices/{notice_id}", status_code=303)
    progress = await run_in_threadpool(load)
    problem = "outreach_cancel_started" if progress.status != "scheduled" else "outreach_cancel_not_yours"
    return page(
        request,
        "notice.html",
        user,
        status_code=409,
        notice=progress,
        now=services.clock(),
        quiet=_quiet(services),
        cancel_error=problem,
    )


ROUTES: list[BaseRoute] = [
    Route("/notices", notice_list),
    Route("/notices/new", notice_new, methods=["GET", "POST"]),
    Route("/notices/preview", notice_preview, methods=["POST"]),
    Route("/notices/{notice_id:id}", notice_page),
    Route("/notices/{notice_id:id}/cancel", notice_cancel, methods=["POST"]),
]
