"""A household's access notes for visits, for API tokens: read them, set them (`dispatch.register.access_notes`),
within the token's scope. A read of them is audited (the door code is a secret); no answer or audit entry beyond
this one carries them."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.register.access_notes import ACCESS_FIELDS, read_access, set_access
from dispatch.register.edit import EditRefused
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Query, json_body, ok, path_id, services_of, token_of, token_only


@token_only()
async def access(request: Request) -> Response:
    """GET: the access notes of the resident's household. PUT: set those named (null or "" clears one; the same
    values again change nothing and record nothing); the answer names the fields that changed."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    services, token = services_of(request), token_of(request)
    body = await json_body(request, set(ACCESS_FIELDS)) if request.method == "PUT" else None
    if body is not None and not body.data:
        raise ApiError(422, f"name at least one field to set: {', '.join(ACCESS_FIELDS)}")

    def run() -> dict[str, Any]:
        where, now = household_scope(token), services.clock()
        with services.sessions.begin() as session:
            changed: list[str] = []
            if body is not None:
                try:
                    changed = set_access(
                        session, resident_id, body.data, actor=token, where=where, region=services.settings.region
                    )
                except EditRefused as exc:
                    problems = [{"field": p.field, "code": p.code, "message": p.message} for p in exc.problems]
                    raise ApiError(422, str(exc), {"problems": problems}) from None
            notes = read_access(session, resident_id, where)
            if body is None:
                audit.record(session, token, "view", "resident", resident_id, "access", at=now)
            answer: dict[str, Any] = {"resident_id": resident_id, "access": notes.as_dict()}
            return answer if body is None else {**answer, "changed": changed}

    return ok(await run_in_threadpool(run))


ROUTES: list[BaseRoute] = [Route("/residents/{id}/access", access, methods=["GET", "PUT"])]
