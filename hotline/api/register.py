"""The register for API tokens: find residents, read one with their last 14 days, edit them, their liaisons and
their check-in plan. Each uses the domain's own functions (`dispatch.register.search`, `.history`, `.edit`),
within the token's scope; edits are recorded in the audit log by the domain, views here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.exceptions import InvalidAction
from dispatch.ivr.hearing import SWITCHES
from dispatch.models import ApiToken, Channel
from dispatch.register.away import away_of
from dispatch.register.edit import EDITABLE, EditRefused, update_plan, update_resident
from dispatch.register.hearing_profiles import profile_of, read_switches, set_profile
from dispatch.register.history import HISTORY_DAYS, details, resident_history, resident_in_scope
from dispatch.register.household_liaisons import set_liaisons
from dispatch.register.search import MAX_QUERY, search_residents
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Body, Query, json_body, ok, path_id, plain, services_of, token_of, token_only
from hotline.services import Services

PAGE_LIMIT = 200
LISTS = ("phones", "categories")  # fields that take a list of strings (or one string with separators)
NULLABLE = ("emergency_contact_name", "emergency_contact_phone")


@contextmanager
def _refusals() -> Iterator[None]:
    """An edit the domain refuses field by field: 422, naming each field."""
    try:
        yield
    except EditRefused as exc:
        problems = [{"field": p.field, "code": p.code, "message": p.message} for p in exc.problems]
        raise ApiError(422, str(exc), {"problems": problems}) from None


@token_only()
async def residents(request: Request) -> Response:
    """Residents in scope matching `q` (name, phone in any format or its last digits, address), by name. Phones
    are masked in the list; read one resident for their numbers."""
    query = Query(request, {"q", "limit", "offset"})
    text = query.text("q", MAX_QUERY) or ""
    limit = query.integer("limit", default=50, low=1, high=PAGE_LIMIT) or 50
    offset = query.integer("offset", default=0) or 0
    services, token = services_of(request), token_of(request)

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            found = search_residents(
                session, household_scope(token), text, region=services.settings.region, limit=limit, offset=offset
            )
            return [plain(row) for row in found]

    return ok({"residents": await run_in_threadpool(load), "limit": limit, "offset": offset})


@token_only()
async def resident(request: Request) -> Response:
    """One resident: their record, household, liaisons, plan, and the last `days` (default 14) days of check-ins,
    readings, tasks and calls. The view is recorded in the audit log."""
    query = Query(request, {"days"})
    days = query.integer("days", default=HISTORY_DAYS, low=1, high=90) or HISTORY_DAYS
    resident_id = path_id(request, "id", "resident")
    services, token = services_of(request), token_of(request)

    def load() -> dict[str, Any]:
        now = services.clock()
        with services.sessions.begin() as session:
            history = resident_history(
                session, resident_id, household_scope(token), now, days, rules=services.intake.checkin
            )
            audit.record(session, token, "view", "resident", resident_id, at=now)
            found: dict[str, Any] = plain(history)
            found["voice_profile"] = asdict(profile_of(session, resident_id))  # how calls speak to them
            found["away"] = plain(away_of(session, resident_id))
            return found

    return ok(await run_in_threadpool(load))


def _changes(body: Body) -> dict[str, object]:
    """The fields of a PATCH, each of the type it must have (the domain checks the values)."""
    changes: dict[str, object] = {}
    for key, value in body.data.items():
        if key in LISTS and isinstance(value, list):
            if not all(isinstance(item, str) and len(item) <= 100 for item in value) or len(value) > 20:
                raise ApiError(422, f"{key} must be a list of at most 20 strings")
        elif value is None and key in NULLABLE:
            value = ""
        elif not isinstance(value, str) or len(value) > 4000:
            raise ApiError(422, f"{key} must be a string" + (" or a list of strings" if key in LISTS else ""))
        changes[key] = value
    if not changes:
        raise ApiError(422, f"name at least one field to change: {', '.join(EDITABLE)}")
    return changes


Edit = Callable[[Session, Services, int, ApiToken, Body], list[str]]


def _edit(fields: set[str], act: Edit) -> Callable[..., Any]:
    """An endpoint that edits one resident and answers with the fields that changed (none: it was so already,
    and nothing was recorded) and the record as it now is."""

    @token_only()
    async def endpoint(request: Request) -> Response:
        Query(request, set())
        resident_id = path_id(request, "id", "resident")
        body = await json_body(request, fields)
        services, token = services_of(request), token_of(request)

        def run() -> dict[str, Any]:
            with services.sessions.begin() as session, _refusals():
                changed = act(session, services, resident_id, token, body)
                session.flush()
                session.expire_all()  # read the record as it is now, not as it was loaded
                record = details(resident_in_scope(session, resident_id, household_scope(token)))
                profile = asdict(profile_of(session, resident_id))
                return {"changed": changed, "resident": {**plain(record), "voice_profile": profile}}

        return ok(await run_in_threadpool(run))

    return endpoint


def _update(session: Session, services: Services, resident_id: int, token: ApiToken, body: Body) -> list[str]:
    return update_resident(
        session, resident_id, _changes(body), actor=token, where=household_scope(token), region=services.settings.region
    )


def _liaisons(session: Session, services: Services, resident_id: int, token: ApiToken, body: Body) -> list[str]:
    missing = [key for key in ("primary_id", "backup_id") if key not in body]
    if missing:
        raise ApiError(422, "give both primary_id and backup_id (null removes one)")
    primary, backup = body.integer("primary_id"), body.integer("backup_id")
    where = household_scope(token)
    household = resident_in_scope(session, resident_id, where).household
    before = (household.primary_liaison_id, household.backup_liaison_id)
    set_liaisons(session, resident_id, primary_id=primary, backup_id=backup, actor=token, where=where)
    return [
        name
        for name, old, new in zip(("primary_liaison", "backup_liaison"), before, (primary, backup), strict=True)
        if old != new
    ]


def _plan(session: Session, services: Services, resident_id: int, token: ApiToken, body: Body) -> list[str]:
    own = body.flag("own") if body.data.get("own") is not None else True  # null, like leaving it out
    times = body.data.get("times", [])
    if not isinstance(times, list) or len(times) > 12 or not all(isinstance(t, str) and len(t) <= 8 for t in times):
        raise ApiError(422, 'times must be a list of at most 12 local times such as "09:00"')
    if own and "times" not in body:
        raise ApiError(422, "times is required for a resident's own plan ([] for no check-ins)")
    changed = update_plan(
        session,
        services.intake.checkin,
        resident_id,
        own=own,
        times=times,
        channel=body.choice("channel", tuple(Channel)),
        ends_on=body.text("ends_on", limit=10),
        actor=token,
        where=household_scope(token),
        now=services.clock(),
    )
    return ["plan"] if changed else []


def _voice_profile(session: Session, services: Services, resident_id: int, token: ApiToken, body: Body) -> list[str]:
    """The resident's profile for hearing and memory: every switch given (a switch left out is off)."""
    try:
        profile = read_switches(body.data)
    except InvalidAction as exc:
        raise ApiError(422, str(exc)) from None
    return set_profile(session, resident_id, profile, actor=token, where=household_scope(token))


ROUTES: list[BaseRoute] = [
    Route("/residents", residents),
    Route("/residents/{id}", resident),
    Route("/residents/{id}", _edit(set(EDITABLE), _update), methods=["PATCH"]),
    Route("/residents/{id}/liaisons", _edit({"primary_id", "backup_id"}, _liaisons), methods=["PUT"]),
    Route("/residents/{id}/plan", _edit({"own", "times", "channel", "ends_on"}, _plan), methods=["PUT"]),
    Route("/residents/{id}/voice-profile", _edit(set(SWITCHES), _voice_profile), methods=["PUT"]),
]
