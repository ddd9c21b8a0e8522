"""The register: search, one resident's page and last 14 days, edits. The CSV import and export are in
`hotline.console.register_csv`."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.checkins.plans import plan_of
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import (
    Channel,
    CheckinPlan,
    ResidentCategory,
    ResidentStatus,
    RiskColour,
    StaffRole,
    StaffUser,
    TaskCategory,
)
from dispatch.phones import national_format
from dispatch.register.edit import (
    EDITABLE,
    LANGUAGES,
    EditRefused,
    FieldProblem,
    phone_for_form,
    update_plan,
    update_resident,
)
from dispatch.register.hearing_profiles import profile_page
from dispatch.register.history import HISTORY_DAYS, details, resident_history, resident_in_scope
from dispatch.register.household_liaisons import assignable_liaisons, set_liaisons
from dispatch.register.search import MAX_QUERY, SEARCH_PAGE, search_residents, standings_today
from dispatch.register.sms_thread import sms_thread
from dispatch.staff_accounts import household_scope
from dispatch.staff_sms import BODY_LIMIT as SMS_LIMIT
from dispatch.staff_sms import recipients
from dispatch.tasks.staff_made import WORDS_LIMIT, Made, RequestKeyReused, make_task
from hotline.console.access import access_for_page
from hotline.console.auth import staff_only
from hotline.console.away_section import away_context
from hotline.console.circle import circle_section
from hotline.console.medicines import resident_medicines
from hotline.console.params import as_id
from hotline.console.refusals import refusal
from hotline.console.register_csv import UPLOAD_LIMIT as UPLOAD_LIMIT  # re-exported: the limits were read here
from hotline.console.register_csv import UPLOAD_SLACK as UPLOAD_SLACK
from hotline.console.register_csv import export_csv, import_csv, import_progress
from hotline.console.render import CONSOLE_TEXTS, language_of, page
from hotline.console.ring_section import ring_section
from hotline.handover import Decided, hand_over_async
from hotline.services import Services

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
    return await resident_page(request, request.path_params["resident_id"])


async def resident_page(
    request: Request,
    resident_id: int,
    *,
    status_code: int = 200,
    task_error: str = "",
    sms_error: str = "",
    sms_body: str | None = None,
    sms_chosen: str | None = None,
    circle_error: str = "",
    **extra: Any,
) -> Response:
    """The resident's page (see `resident`), with a fresh key for its make-a-task and send-an-SMS forms and, after
    a refused one, the reason why (and the SMS's words and recipient, to correct)."""
    services, user = _services(request), request.state.user
    now = services.clock()

    def load() -> Any:
        with services.sessions.begin() as session:
            history = resident_history(session, resident_id, household_scope(user), now, rules=services.intake.checkin)
            thread = sms_thread(session, [p.phone for p in history.resident.phones], history.since)
            people = recipients(resident_in_scope(session, resident_id, household_scope(user)))
            audit.record(session, user, "view", "resident", resident_id, at=now)
            ring = ring_section(session, request, resident_id, history.since)
            profile = profile_page(session, resident_id)
            medicines = resident_medicines(session, resident_id, household_scope(user), now, services.intake)
            circle = circle_section(session, resident_id, user)
        return history, thread, people, ring, profile, medicines, circle

    try:
        history, thread, people, ring, profile, medicines, circle = await run_in_threadpool(load)
    except NotFound:
        return _missing(request, user)
    response = page(
        request,
        "resident.html",
        user,
        status_code=status_code,
        history=history,
        thread=thread,
        national=national_format,
        days=HISTORY_DAYS,
        saved=request.query_params.get("saved") == "1",
        catalog=services.catalog,
        outcomes=OUTCOMES,
        fever=services.settings.fever_threshold,
        request_key=secrets.token_urlsafe(16),
        task_categories=list(TaskCategory),
        words_limit=WORDS_LIMIT,
        task_error=task_error,
        sms_to=people,
        sms_limit=SMS_LIMIT,
        sms_cap=services.settings.staff_sms_per_hour,
        sms_key=secrets.token_urlsafe(16),
        sms_error=sms_error,
        sms_body=sms_body or "",
        sms_chosen=sms_chosen or "",
        sms_sent=request.query_params.get("sms", ""),
        ring=ring,
        **profile,
        profile_saved=request.query_params.get("profile") == "saved",
        **(await away_context(request, resident_id)),
        **extra,
        **medicines,
        access=await run_in_threadpool(access_for_page, services, history.resident.household_id),
        circle_error=circle_error,
        circle_saved=request.query_params.get("circle") == "saved",
        **circle,
    )
    response.headers["Cache-Control"] = "no-store"  # its form's key is for one request: never brought back by Back
    return response


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


@staff_only()
async def make_task_for_resident(request: Request) -> Response:
    """POST: a task for this resident, as a neighbour or relative phoned it in (`dispatch.tasks.staff_made`). The
    form carries a key of its own, so a double click or a resubmitted form makes one task. Made, or found made: to
    the task's page. Refused: this resident's page again, saying why."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}

    def run() -> Made:
        with services.sessions.begin() as session:
            return make_task(
                session,
                resident_id,
                form.get("category", ""),
                form.get("words", ""),
                urgent=form.get("urgent") == "1",
                request_key=form.get("request_key", ""),
                actor=user,
                channel="console",
                where=household_scope(user),
                now=services.clock(),
                context=services.intake,
            )

    try:
        made = await run_in_threadpool(run)
    except NotFound:
        return _missing(request, user)
    except RequestKeyReused as exc:  # a form the browser brought back and filled in again: never read as the first
        language = language_of(request, user)
        said = CONSOLE_TEXTS.render("register_make_task_reused", language, task_id=exc.task_id)
        return await resident_page(request, resident_id, status_code=422, task_error=said)
    except InvalidAction as exc:
        said = refusal(exc, language_of(request, user), services.catalog)
        return await resident_page(request, resident_id, status_code=422, task_error=said)
    await hand_over_async(services, Decided(sends=made.outbound))
    return RedirectResponse(f"/tasks/{made.task_id}?done=made", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/register", search),
    Route("/register/residents/{resident_id:id}", resident),
    Route("/register/residents/{resident_id:id}/edit", edit, methods=["GET", "POST"]),
    Route("/register/residents/{resident_id:id}/tasks", make_task_for_resident, methods=["POST"]),
    Route("/register/import", import_csv, methods=["GET", "POST"]),
    Route("/register/import/progress", import_progress),
    Route("/register/export.csv", export_csv),
    Route("/register/export.xlsx", export_csv),
]
