"""A resident's medicines in the console: add one (from the resident's page), and one medicine's page to change,
record a refill or stop it (`dispatch.medicine_register`). The calendar is the resident's page's own section
(`hotline/console/templates/_resident_medicines.html`, its data from `resident_medicines`)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.context import DispatchContext
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.medicine_register import (
    DOSE_LIMIT,
    MAX_DAYS,
    NAME_LIMIT,
    MedicineCalendar,
    MedicineFields,
    add_medicine,
    medicine_calendar,
    record_refill,
    stop_medicine,
    update_medicine,
)
from dispatch.register.history import resident_in_scope
from dispatch.staff_accounts import household_scope
from dispatch.tasks.medicine_refills import MAX_LEAD_DAYS
from hotline.console.auth import staff_only
from hotline.console.refusals import refusal
from hotline.console.render import language_of, page
from hotline.services import Services

FIELDS = ("name", "dose", "days_supply", "last_refill", "lead_days")


def resident_medicines(
    session: Session, resident_id: int, where: ColumnElement[bool], now: datetime, context: DispatchContext
) -> dict[str, Any]:
    """What the resident's page's medicines section shows: the calendar, the add form's key and the limits."""
    return {
        "medicines": medicine_calendar(session, resident_id, where, now, context),
        "medicine_key": secrets.token_urlsafe(16),
        "medicine_limits": _limits(),
    }


def _limits() -> dict[str, int]:
    return {"name": NAME_LIMIT, "dose": DOSE_LIMIT, "days": MAX_DAYS, "lead": MAX_LEAD_DAYS}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _fields(form: dict[str, str]) -> MedicineFields:
    return MedicineFields(
        name=form.get("name", ""),
        days_supply=form.get("days_supply", ""),
        last_refill=form.get("last_refill", ""),
        dose=form.get("dose", ""),
        lead_days=form.get("lead_days", ""),
    )


async def _form(request: Request) -> dict[str, str]:
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


async def _page(
    request: Request,
    resident_id: int,
    medicine_id: int | None,
    *,
    status_code: int = 200,
    error: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    """The medicine's page (or, with no medicine, the add form again), saying why a form was refused."""
    services, user = _services(request), request.state.user
    now = services.clock()

    def load() -> tuple[str, MedicineCalendar]:
        with services.readonly() as session:
            resident = resident_in_scope(session, resident_id, household_scope(user))
            return resident.name, medicine_calendar(session, resident_id, household_scope(user), now, services.intake)

    try:
        name, calendar = await run_in_threadpool(load)
    except NotFound:
        return page(request, "medicine.html", user, status_code=404, medicine=None, resident_name=None)
    medicine = next((m for m in calendar.medicines if m.id == medicine_id), None)
    if medicine_id is not None and medicine is None:
        return page(request, "medicine.html", user, status_code=404, medicine=None, resident_name=None)
    if typed is None and medicine is not None:
        typed = {
            "name": medicine.name,
            "dose": medicine.dose,
            "days_supply": str(medicine.days_supply),
            "last_refill": medicine.last_refill.isoformat() if medicine.last_refill else "",
            "lead_days": str(medicine.lead_days) if medicine.own_lead else "",
        }
    response = page(
        request,
        "medicine.html",
        user,
        status_code=status_code,
        resident_id=resident_id,
        resident_name=name,
        medicine=medicine,
        adding=medicine_id is None,
        typed=typed or {},
        error=error,
        today=calendar.today,
        default_lead=calendar.default_lead,
        limits=_limits(),
        medicine_key=secrets.token_urlsafe(16),
        saved=request.query_params.get("saved", ""),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(request: Request, exc: InvalidAction) -> str:
    return refusal(exc, language_of(request, request.state.user), _services(request).catalog)


@staff_only()
async def add(request: Request) -> Response:
    """POST: add a medicine (the form on the resident's page). Its key makes a double click add it once."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    form = await _form(request)

    def run() -> tuple[int, bool]:
        with services.sessions.begin() as session:
            return add_medicine(
                session,
                resident_id,
                _fields(form),
                request_key=form.get("request_key", ""),
                actor=user,
                where=household_scope(user),
                now=services.clock(),
                context=services.intake,
            )

    try:
        await run_in_threadpool(run)
    except NotFound:
        return page(request, "medicine.html", user, status_code=404, medicine=None, resident_name=None)
    except InvalidAction as exc:
        typed = {key: form.get(key, "") for key in FIELDS}
        return await _page(request, resident_id, None, status_code=422, error=_refused(request, exc), typed=typed)
    return RedirectResponse(f"/register/residents/{resident_id}?medicine=added#medicines", status_code=303)


@staff_only()
async def medicine_page(request: Request) -> Response:
    """GET: one medicine, with its forms. POST: change it (the same form twice changes nothing)."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    medicine_id: int = request.path_params["medicine_id"]
    if request.method != "POST":
        return await _page(request, resident_id, medicine_id)
    form = await _form(request)

    def run() -> bool:
        with services.sessions.begin() as session:
            return update_medicine(
                session,
                resident_id,
                medicine_id,
                _fields(form),
                actor=user,
                where=household_scope(user),
                now=services.clock(),
                context=services.intake,
            )

    return await _act(request, resident_id, medicine_id, run, form, "saved")


@staff_only()
async def refill(request: Request) -> Response:
    """POST: staff record a refill by hand (blank date: today); the count starts again from it."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    medicine_id: int = request.path_params["medicine_id"]
    form = await _form(request)

    def run() -> bool:
        with services.sessions.begin() as session:
            return record_refill(
                session,
                resident_id,
                medicine_id,
                form.get("refill_date", ""),
                actor=user,
                where=household_scope(user),
                now=services.clock(),
                context=services.intake,
            )

    return await _act(request, resident_id, medicine_id, run, None, "refilled")


@staff_only()
async def stop(request: Request) -> Response:
    """POST: stop the medicine: no more tasks, kept for the record."""
    services, user = _services(request), request.state.user
    resident_id: int = request.path_params["resident_id"]
    medicine_id: int = request.path_params["medicine_id"]
    await _form(request)  # read first, as every form is: a body over the cap is refused before anything

    def run() -> bool:
        with services.sessions.begin() as session:
            return stop_medicine(
                session, resident_id, medicine_id, actor=user, where=household_scope(user), now=services.clock()
            )

    return await _act(request, resident_id, medicine_id, run, None, "stopped")


async def _act(
    request: Request, resident_id: int, medicine_id: int, run: Any, typed: dict[str, str] | None, done: str
) -> Response:
    try:
        await run_in_threadpool(run)
    except NotFound:
        return page(request, "medicine.html", request.state.user, status_code=404, medicine=None, resident_name=None)
    except InvalidAction as exc:
        status = 409 if exc.key == "medicine_stopped" else 422
        kept = {key: typed.get(key, "") for key in FIELDS} if typed is not None else None
        return await _page(
            request, resident_id, medicine_id, status_code=status, error=_refused(request, exc), typed=kept
        )
    return RedirectResponse(f"/register/residents/{resident_id}/medicines/{medicine_id}?saved={done}", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/register/residents/{resident_id:id}/medicines", add, methods=["POST"]),
    Route("/register/residents/{resident_id:id}/medicines/{medicine_id:id}", medicine_page, methods=["GET", "POST"]),
    Route("/register/residents/{resident_id:id}/medicines/{medicine_id:id}/refill", refill, methods=["POST"]),
    Route("/register/residents/{resident_id:id}/medicines/{medicine_id:id}/stop", stop, methods=["POST"]),
]
