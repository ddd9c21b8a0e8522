"""The register: search, one resident's page and last 14 days, edits, CSV import with its error report, export."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from dispatch import audit
from dispatch.checkins.plans import plan_of
from dispatch.exceptions import NotFound
from dispatch.models import (
    Channel,
    CheckinPlan,
    ResidentCategory,
    ResidentStatus,
    RiskColour,
    StaffRole,
    StaffUser,
)
from dispatch.phones import national_format
from dispatch.register.csv_export import count_residents, export_residents
from dispatch.register.csv_import import ImportReport, import_residents
from dispatch.register.csv_read import Vocabulary
from dispatch.register.edit import (
    EDITABLE,
    LANGUAGES,
    EditRefused,
    FieldProblem,
    assignable_liaisons,
    phone_for_form,
    set_liaisons,
    update_plan,
    update_resident,
)
from dispatch.register.history import HISTORY_DAYS, details, resident_history, resident_in_scope
from dispatch.register.places import community_name
from dispatch.register.search import MAX_QUERY, SEARCH_PAGE, search_residents, standings_today
from dispatch.staff_accounts import household_scope
from hotline.console.auth import Endpoint, current_user, staff_only
from hotline.console.params import as_id
from hotline.console.render import CONSOLE_TEXTS, page
from hotline.services import Services

UPLOAD_LIMIT = 5 * 1024 * 1024  # a register of 200,000 residents is smaller than this
UPLOAD_SLACK = 64 * 1024  # the form's own fields and boundaries around the file
PLAN_FIELDS = ("plan_mode", "plan_times", "plan_channel", "plan_ends_on", "primary_liaison", "backup_liaison")
# Call outcomes the page has words for (Twilio's statuses and the check-in call's results); others are shown as is.
_OUTCOME = "register_outcome_"
OUTCOMES = {key.removeprefix(_OUTCOME) for key in CONSOLE_TEXTS.texts["en"] if key.startswith(_OUTCOME)}
CHOICES = {
    "language": LANGUAGES,
    "channel": tuple(Channel),
    "risk": tuple(RiskColour),
    "status": tuple(ResidentStatus),
    "categories": tuple(ResidentCategory),
}


@functools.cache
def _vocabulary() -> Vocabulary:
    return Vocabulary.load()


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _missing(request: Request, user: StaffUser) -> Response:
    """A resident that does not exist and one outside the account's scope get this same answer."""
    return page(request, "resident.html", user, status_code=404, history=None)


@staff_only()
async def search(request: Request) -> Response:
    """`?q=`: residents in scope by name, phone in any format (or its last digits), or address; `?page=`."""
    services, user = _services(request), request.state.user
    query = request.query_params.get("q", "")[:MAX_QUERY]
    raw_page = request.query_params.get("page", "1")
    page_no = min(as_id(raw_page) or 1, 10_000)
    now = services.clock()

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            rows = search_residents(
                session,
                household_scope(user),
                query,
                region=services.settings.region,
                limit=SEARCH_PAGE + 1,
                offset=(page_no - 1) * SEARCH_PAGE,
            )
            today = now.astimezone(services.settings.timezone).date()
            standings = standings_today(session, [r.id for r in rows[:SEARCH_PAGE]], today, now)
        return {"rows": rows[:SEARCH_PAGE], "more": len(rows) > SEARCH_PAGE, "standings": standings}

    data = await run_in_threadpool(load)
    return page(
        request,
        "register.html",
        user,
        query=query,
        page_no=page_no,
        can_import=user.role != StaffRole.GRID_LEADER,
        **data,
    )


@staff_only()
async def resident(request: Request) -> Response:
    """One resident: details with their numbers in full, household, liaisons, plan, and the last 14 days. The view
    is recorded in the audit log."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    now = services.clock()

    def load() -> Any:
        with services.sessions.begin() as session:
            history = resident_history(session, resident_id, household_scope(user), now, rules=services.intake.checkin)
            audit.record(session, user, "view", "resident", resident_id, at=now)
        return history

    try:
        history = await run_in_threadpool(load)
    except NotFound:
        return _missing(request, user)
    return page(
        request,
        "resident.html",
        user,
        history=history,
        national=national_format,
        days=HISTORY_DAYS,
        saved=request.query_params.get("saved") == "1",
        catalog=services.catalog,
        outcomes=OUTCOMES,
        fever=services.settings.fever_threshold,
    )


def _form_of(record: Any, plan: CheckinPlan | None, region: str) -> dict[str, Any]:
    """The edit form's fields as the register has them."""
    return {
        "name": record.name,
        "phones": "; ".join(phone_for_form(p.phone, region) for p in record.phones),
        "language": record.language,
        "channel": record.channel,
        "categories": list(record.categories),
        "risk": record.risk,
        "emergency_contact_name": record.emergency_contact_name or "",
        "emergency_contact_phone": phone_for_form(record.emergency_contact_phone, region),
        "notes": record.notes,
        "status": record.status,
        "plan_mode": "own" if plan is not None else "default",
        "plan_times": ", ".join(plan.times) if plan is not None else "",
        "plan_channel": (plan.channel or "") if plan is not None else "",
        "plan_ends_on": plan.ends_on.isoformat() if plan is not None and plan.ends_on else "",
        "primary_liaison": str(record.liaison.id) if record.liaison else "",
        "backup_liaison": str(record.backup_liaison.id) if record.backup_liaison else "",
    }


def _liaison_id(raw: str) -> int | None:
    """A chosen liaison: blank is none; anything but a number is no liaison anyone may assign (-1)."""
    raw = raw.strip()
    if not raw:
        return None
    found = as_id(raw)
    return found if found is not None else -1


@staff_only()
async def edit(request: Request) -> Response:
    """GET: the form. POST: the record, the household's liaisons and the plan, all or nothing; each bad field is
    shown beside it."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    where, region, now = household_scope(user), services.settings.region, services.clock()
    submitted: dict[str, Any] | None = None
    if request.method == "POST":
        form = await request.form()
        submitted = {key: str(form.get(key, "")) for key in (*EDITABLE, *PLAN_FIELDS) if key != "categories"}
        submitted["categories"] = [str(c) for c in form.getlist("categories")]

    def save(values: dict[str, Any]) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        with services.sessions() as session:
            try:
                update_resident(
                    session, resident_id, {key: values[key] for key in EDITABLE}, actor=user, where=where, region=region
                )
            except EditRefused as exc:
                problems += exc.problems
            try:
                set_liaisons(
                    session,
                    resident_id,
                    primary_id=_liaison_id(values["primary_liaison"]),
                    backup_id=_liaison_id(values["backup_liaison"]),
                    actor=user,
                    where=where,
                )
            except EditRefused as exc:
                problems += exc.problems
            try:
                update_plan(
                    session,
                    services.intake.checkin,
                    resident_id,
                    own=values["plan_mode"] == "own",
                    times=values["plan_times"],
                    channel=values["plan_channel"] or None,
                    ends_on=values["plan_ends_on"],
                    actor=user,
                    where=where,
                    now=now,
                )
            except EditRefused as exc:
                problems += exc.problems
            if problems:
                session.rollback()
            else:
                session.commit()
        return problems

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            record = details(resident_in_scope(session, resident_id, where))
            plan = plan_of(session, resident_id)
            liaisons = [(x.id, x.name, x.phone) for x in assignable_liaisons(session, where)]
        for chosen in (record.liaison, record.backup_liaison):  # keep the current ones choosable, whoever they are
            if chosen is not None and chosen.id not in {x[0] for x in liaisons}:
                liaisons.append((chosen.id, chosen.name, chosen.phone))
        return {"record": record, "form": _form_of(record, plan, region), "liaisons": liaisons}

    try:
        problems = await run_in_threadpool(save, submitted) if submitted is not None else []
        if submitted is not None and not problems:
            return RedirectResponse(f"/register/residents/{resident_id}?saved=1", status_code=303)
        data = await run_in_threadpool(load)
    except NotFound:
        return _missing(request, user)
    if submitted is not None:
        data["form"] = submitted
    errors = {p.field: p for p in problems}
    return page(
        request,
        "resident_edit.html",
        user,
        status_code=400 if problems else 200,
        errors=errors,
        choices=CHOICES,
        national=national_format,
        **data,
    )


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
    """GET: the form. POST: a residents CSV (UTF-8 or GB18030), every row checked, then all imported or none;
    the errors row by row, or the counts. A clerk imports into their own community only."""
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


@staff_only()
async def export_csv(request: Request) -> Response:
    """The residents in scope as the CLI exports them (`?headers=en` for English headers), so the file imports
    back. Recorded in the audit log."""
    services, user = _services(request), request.state.user
    language = 1 if request.query_params.get("headers") == "en" else 0
    where, now = household_scope(user), services.clock()

    def run() -> bytes:
        with services.readonly() as session:
            data = export_residents(session, _vocabulary(), language, services.settings.region, where=where)
            count = count_residents(session, where)
        with services.sessions.begin() as session:
            audit.record(session, user, "export", "register", None, f"{count or 0} residents", at=now)
        return data

    data = await run_in_threadpool(run)
    day = now.astimezone(services.settings.timezone).strftime("%Y%m%d")
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="register-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )


ROUTES: list[BaseRoute] = [
    Route("/register", search),
    Route("/register/residents/{resident_id:id}", resident),
    Route("/register/residents/{resident_id:id}/edit", edit, methods=["GET", "POST"]),
    Route("/register/import", import_csv, methods=["GET", "POST"]),
    Route("/register/export.csv", export_csv),
]
