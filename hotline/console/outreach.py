"""Calls: outbound check-in calls to a selection of residents. (Notices, the other outreach: `notices`.)

`/calls`: choose residents (by id from the register, or: not reached today, a grid, a building, a category, all
within the staff member's scope), see who that is (GET), then place the calls (POST) and see who was called and
who was not, and why. What is decided is queued after the commit, in campaign batches at the configured rate.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.checkins.staff_calls import (
    ScopeOptions,
    Selection,
    StaffCalls,
    describe,
    place_staff_calls,
    scope_options,
    scoped_selection,
    select_residents,
)
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import ResidentCategory, StaffUser
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.params import as_id
from hotline.console.refusals import refusal
from hotline.console.render import page
from hotline.handover import Decided, hand_over_async
from hotline.services import Services

log = logging.getLogger(__name__)

PREVIEW_NAMES = 200  # residents listed by name before calling; the count is always whole
# call_residents' reasons → the page's words
SKIP_WORDS = {
    "not active": "outreach_skip_not_active",
    "no phone": "outreach_skip_no_phone",
    "quiet hours": "outreach_skip_quiet_hours",
    "called this minute already": "outreach_skip_this_minute",
    "a call is on its way": "outreach_skip_on_its_way",
}


_int = as_id


def _building(value: object) -> tuple[int, str] | None:
    """A building choice, "<community id>:<building>"."""
    community, _, name = str(value or "").partition(":")
    community_id = as_id(community)
    return (community_id, name) if community_id is not None and name else None


def _selection(session: Session, where: Any, params: ImmutableMultiDict[str, Any]) -> Selection:
    """The calls page's filters, from a query string or a form; names and ids are checked against the scope."""
    ids = tuple(i for i in (_int(v) for v in params.getlist("resident_id")) if i is not None)
    return scoped_selection(
        session,
        where,
        resident_ids=ids,
        not_reached_today=params.get("not_reached") in ("1", "on", "true"),
        grid_id=_int(params.get("grid")),
        building=_building(params.get("building")),
        category=str(params.get("category") or "") or None,
    )


def _values(params: ImmutableMultiDict[str, Any]) -> dict[str, Any]:
    """The filters as given, to show them chosen again."""
    return {
        "resident_ids": [i for i in (_int(v) for v in params.getlist("resident_id")) if i is not None],
        "not_reached": params.get("not_reached") in ("1", "on", "true"),
        "grid": _int(params.get("grid")),
        "building": str(params.get("building") or ""),
        "category": str(params.get("category") or ""),
    }


def _options(services: Services, where: Any) -> ScopeOptions:
    with services.readonly() as session:
        return scope_options(session, where)


@staff_only()
async def calls(request: Request) -> Response:
    """GET: the form, and with any filter, who it selects (nobody is called yet). POST: place the calls."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    where = household_scope(user)
    now = services.clock()
    params = await request.form() if request.method == "POST" else request.query_params

    def place() -> dict[str, Any]:
        with services.sessions.begin() as session:
            selection = _selection(session, where, params)
            if selection.empty:
                return {"empty": True}  # never "everyone"
            result = place_staff_calls(session, selection, actor=user, where=where, now=now, context=services.intake)
            named = describe(session, [*result.called, *result.skipped], where)
        return {"result": result, "named": {s.resident_id: s for s in named}}

    def look() -> dict[str, Any]:
        with services.readonly() as session:
            selection = _selection(session, where, params)
            if selection.empty:
                return {}
            chosen = select_residents(session, selection, now, services.intake, where=where)
            return {"chosen": chosen, "listed": describe(session, chosen[:PREVIEW_NAMES], where)}

    context: dict[str, Any] = {
        "values": _values(params),
        "chosen": None,
        "result": None,
        "error": None,
        "named": {},
        "empty": False,
    }
    status_code = 200
    try:
        context.update(await run_in_threadpool(place if request.method == "POST" else look))
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except InvalidAction as exc:
        context["error"], status_code = refusal(exc, user.language, services.catalog), 400
    if context["empty"]:
        status_code = 400
    result: StaffCalls | None = context["result"]
    if result is not None:
        await hand_over_async(services, Decided(campaign=result.outbound_ids))
        log.info("staff %s placed %s calls (%s skipped)", user.id, len(result.called), len(result.skipped))
    options = await run_in_threadpool(_options, services, where)
    return page(
        request,
        "calls.html",
        user,
        status_code=status_code,
        options=options,
        categories=list(ResidentCategory),
        skip_words=SKIP_WORDS,
        calls_per_second=services.settings.calls_per_second,
        **context,
    )


ROUTES: list[BaseRoute] = [
    Route("/calls", calls, methods=["GET", "POST"]),
]
