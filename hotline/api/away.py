"""Away and in hospital for API tokens: set a resident away until a return date (or change their absence), and end
it early. The domain is `dispatch.register.away`; a resident's absences are also in `GET /residents/{id}`."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.register.away import KEY_LIMIT, NOTE_LIMIT, away_of, end_absence, set_absence
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Query, json_body, ok, path_id, plain, services_of, token_of, token_only
from hotline.api.register import _refusals
from hotline.api.tasks import IDEMPOTENCY_KEY
from hotline.handover import Decided, hand_over_async


@token_only()
async def set_away(request: Request) -> Response:
    """POST /residents/{id}/absence: away until `return_on` for `reason` (hospital, family, travel, other), with a
    `note`; `tell_family` (a hospital stay's, true unless false). A running absence is changed instead. The
    `Idempotency-Key` header is required: the same key again answers 200 with the absence it set, changing
    nothing; a new absence is a 201."""
    Query(request, set())
    body = await json_body(request, {"reason", "note", "return_on", "tell_family"})  # its size and text first
    key = request.headers.get(IDEMPOTENCY_KEY, "")
    if not re.fullmatch(f"[!-~]{{1,{KEY_LIMIT}}}", key):
        raise ApiError(
            400, f"send an {IDEMPOTENCY_KEY} header of 1 to {KEY_LIMIT} printable ASCII characters, no space"
        )
    resident_id = path_id(request, "id", "resident")
    reason = body.text("reason", required=True, limit=16)
    note = body.text("note", limit=NOTE_LIMIT + 100) or ""
    return_on = body.text("return_on", limit=40) or ""
    tell = body.flag("tell_family") if body.data.get("tell_family") is not None else None
    services, token = services_of(request), token_of(request)

    def run() -> tuple[Any, dict[str, Any]]:
        with services.sessions.begin() as session, _refusals():
            done = set_absence(
                session,
                services.intake.checkin,
                resident_id,
                reason=reason,
                note=note,
                return_on=return_on,
                tell_family=tell,
                request_key=key,
                actor=token,
                where=household_scope(token),
                now=services.clock(),
                catalog=services.catalog,
            )
            return done, plain(away_of(session, resident_id))

    done, away = await run_in_threadpool(run)
    await hand_over_async(services, Decided(sends=list(done.sends)))  # the care circle, told of a hospital stay
    found = {"away": away, "created": done.created, "changed": done.changed}
    return ok(found, 201 if done.created else 200)


@token_only()
async def end_away(request: Request) -> Response:
    """POST /residents/{id}/absence/end: back early, check-ins resume now (no welcome-back call). Nothing running:
    `ended` false, and nothing changes."""
    Query(request, set())
    await json_body(request, set(), optional=True)
    resident_id = path_id(request, "id", "resident")
    services, token = services_of(request), token_of(request)

    def run() -> dict[str, Any]:
        with services.sessions.begin() as session:
            ended = end_absence(session, resident_id, actor=token, where=household_scope(token), now=services.clock())
            return {"ended": ended is not None, "away": plain(away_of(session, resident_id))}

    return ok(await run_in_threadpool(run))


ROUTES: list[BaseRoute] = [
    Route("/residents/{id}/absence", set_away, methods=["POST"]),
    Route("/residents/{id}/absence/end", end_away, methods=["POST"]),
]
