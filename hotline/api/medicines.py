"""A resident's medicines for API tokens: list them with their run-out and task days, add one, change one, record a
refill, stop one (`dispatch.medicine_register`, the console's own functions), within the token's scope."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import InvalidAction
from dispatch.medicine_register import (
    DOSE_LIMIT,
    KEY_LIMIT,
    NAME_LIMIT,
    MedicineFields,
    MedicineView,
    add_medicine,
    medicine_fields,
    medicines_of,
    record_refill,
    stop_medicine,
    update_medicine,
)
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Body, Query, json_body, ok, path_id, plain, services_of, token_of, token_only

IDEMPOTENCY_KEY = "Idempotency-Key"
FIELDS = {"name", "dose", "days_supply", "last_refill", "lead_days"}
CHANGEABLE = ("name", "dose", "days_supply", "lead_days")  # a PATCH's; a refill has its own route


def _key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_KEY, "")
    if not re.fullmatch(f"[!-~]{{1,{KEY_LIMIT}}}", key):
        raise ApiError(
            400, f"send an {IDEMPOTENCY_KEY} header of 1 to {KEY_LIMIT} printable ASCII characters, no space"
        )
    return key


def _refused(exc: InvalidAction) -> ApiError:
    """Bad input is a 422 naming the field; a stopped medicine refuses a change or a refill (409)."""
    if exc.key == "medicine_stopped":
        return ApiError(409, str(exc))
    field = {"medicine_days": "days_supply", "medicine_lead": "lead_days", "medicine_name": "name"}.get(exc.key or "")
    field = field or {"medicine_dose": "dose"}.get(exc.key or "", "last_refill")
    return ApiError(422, str(exc), {"problems": [{"field": field, "code": exc.key, "message": str(exc)}]})


def _date(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be a date as YYYY-MM-DD, or null")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(422, f"{name} must be a date as YYYY-MM-DD, or null") from None


def _shown(view: MedicineView) -> dict[str, Any]:
    shown: dict[str, Any] = plain(view)
    shown.pop("own_lead")
    return shown


@token_only()
async def medicines(request: Request) -> Response:
    """GET: the resident's medicines, current first, each with its last refill, run-out day, the day its next task
    is made, and its state. POST: add one (`Idempotency-Key`: the same key again answers 200 with what it added)."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    services, token = services_of(request), token_of(request)
    if request.method == "GET":

        def load() -> list[dict[str, Any]]:
            with services.readonly() as session:
                found = medicines_of(session, resident_id, household_scope(token), services.clock(), services.intake)
                return [_shown(m) for m in found]

        return ok({"medicines": await run_in_threadpool(load)})
    body = await json_body(request, FIELDS)  # its size and text first
    key = _key(request)
    name = body.text("name", required=True, limit=NAME_LIMIT)
    dose = body.text("dose", limit=DOSE_LIMIT) or ""
    days = body.integer("days_supply", required=True)
    lead = body.integer("lead_days", low=0)
    last = _date(body.data.get("last_refill"), "last_refill")
    assert name is not None and days is not None
    fields = MedicineFields(name=name, days_supply=days, last_refill=last, dose=dose, lead_days=lead)

    def run() -> tuple[bool, dict[str, Any]]:
        with services.sessions.begin() as session:
            medicine_id, added = add_medicine(
                session,
                resident_id,
                fields,
                request_key=key,
                actor=token,
                where=household_scope(token),
                now=services.clock(),
                context=services.intake,
            )
            found = medicines_of(session, resident_id, household_scope(token), services.clock(), services.intake)
            return added, _shown(next(m for m in found if m.id == medicine_id))

    try:
        added, shown = await run_in_threadpool(run)
    except InvalidAction as exc:
        raise _refused(exc) from None
    return ok({"medicine": shown}, 201 if added else 200)


@token_only()
async def refill(request: Request) -> Response:
    """POST: a refill of the medicine on `date` (YYYY-MM-DD, not after today; null or absent: today), as when the
    family brought it; the count starts again from it. The `Idempotency-Key` header is required; the same refill
    again changes nothing (`changed` false)."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    medicine_id = path_id(request, "medicine_id", "medicine")
    body = await json_body(request, {"date"}, optional=True)
    _key(request)
    day = _date(body.data.get("date"), "date")
    services, token = services_of(request), token_of(request)

    def run() -> tuple[bool, dict[str, Any]]:
        with services.sessions.begin() as session:
            changed = record_refill(
                session,
                resident_id,
                medicine_id,
                day,
                actor=token,
                where=household_scope(token),
                now=services.clock(),
                context=services.intake,
            )
            found = medicines_of(session, resident_id, household_scope(token), services.clock(), services.intake)
            return changed, _shown(next(m for m in found if m.id == medicine_id))

    try:
        changed, shown = await run_in_threadpool(run)
    except InvalidAction as exc:
        raise _refused(exc) from None
    return ok({"medicine": shown, "changed": changed})


def _changes(body: Body) -> dict[str, Any]:
    """The fields a PATCH names, each of its type (the domain checks the values). null: a dose cleared, the
    hotline's own lead; name and days_supply cannot be null (leave them out to keep them)."""
    changes: dict[str, Any] = {}
    for key in ("name", "days_supply"):
        if key in body and body.data[key] is None:
            raise ApiError(422, f"{key} cannot be null: leave it out to keep it")
    if "name" in body:
        changes["name"] = body.text("name", limit=NAME_LIMIT)
    if "dose" in body:
        changes["dose"] = body.text("dose", limit=DOSE_LIMIT) or ""
    if "days_supply" in body:
        changes["days_supply"] = body.integer("days_supply")
    if "lead_days" in body:
        changes["lead_days"] = body.integer("lead_days", low=0)
    if not changes:
        raise ApiError(422, f"name at least one field to change: {', '.join(CHANGEABLE)}")
    return changes


@token_only()
async def medicine(request: Request) -> Response:
    """PATCH: change the medicine's name, dose, days_supply or lead_days (those left out stay; lead_days null: the
    hotline's own). The answer names the fields that changed: none for the same values again, and nothing is
    recorded. A stopped medicine refuses a change (409)."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    medicine_id = path_id(request, "medicine_id", "medicine")
    changes = _changes(await json_body(request, set(CHANGEABLE)))
    services, token = services_of(request), token_of(request)

    def run() -> tuple[list[str], dict[str, Any]]:
        where, now = household_scope(token), services.clock()
        with services.sessions.begin() as session:
            before = medicine_fields(session, resident_id, medicine_id, where)  # the row locked from here
            changed = update_medicine(
                session,
                resident_id,
                medicine_id,
                dataclasses.replace(before, **changes),
                actor=token,
                where=where,
                now=now,
                context=services.intake,
            )
            after = medicine_fields(session, resident_id, medicine_id, where)
            fields = [key for key in CHANGEABLE if getattr(before, key) != getattr(after, key)] if changed else []
            found = medicines_of(session, resident_id, where, now, services.intake)
            return fields, _shown(next(m for m in found if m.id == medicine_id))

    try:
        changed, shown = await run_in_threadpool(run)
    except InvalidAction as exc:
        raise _refused(exc) from None
    return ok({"medicine": shown, "changed": changed})


@token_only()
async def stop(request: Request) -> Response:
    """POST: stop the medicine: no more tasks for it, kept for the record. Stopped already: `changed` false, and
    nothing is recorded."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    medicine_id = path_id(request, "medicine_id", "medicine")
    await json_body(request, set(), optional=True)
    services, token = services_of(request), token_of(request)

    def run() -> dict[str, Any]:
        where, now = household_scope(token), services.clock()
        with services.sessions.begin() as session:
            changed = stop_medicine(session, resident_id, medicine_id, actor=token, where=where, now=now)
            found = medicines_of(session, resident_id, where, now, services.intake)
            return {"medicine": _shown(next(m for m in found if m.id == medicine_id)), "changed": changed}

    return ok(await run_in_threadpool(run))


ROUTES: list[BaseRoute] = [
    Route("/residents/{id}/medicines", medicines, methods=["GET", "POST"]),
    Route("/residents/{id}/medicines/{medicine_id}", medicine, methods=["PATCH"]),
    Route("/residents/{id}/medicines/{medicine_id}/refill", refill, methods=["POST"]),
    Route("/residents/{id}/medicines/{medicine_id}/stop", stop, methods=["POST"]),
]
