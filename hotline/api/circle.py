"""A resident's care circle for API tokens: read it, add a contact (with an `Idempotency-Key`), opt one out,
remove one. Within the token's scope; the domain (`dispatch.circle_staff`) records each change in the audit log."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import circle_staff
from dispatch.care_circle import LANGUAGES, ContactFields
from dispatch.models import ConsentWay, TellBy
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Query, json_body, ok, path_id, services_of, token_of, token_only
from hotline.handover import Decided, hand_over_async

IDEMPOTENCY_KEY = "Idempotency-Key"
KEY_LIMIT = 64
FIELDS = {"name", "relation", "phone", "language", "consent_way", "tell_by"}


@token_only()
async def circle(request: Request) -> Response:
    """GET: the resident's care circle: contacts, their consent and opt-out, recent answers by family."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    services, token = services_of(request), token_of(request)

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            return circle_staff.circle_view(session, resident_id, household_scope(token)).as_dict()

    return ok(await run_in_threadpool(load))


@token_only()
async def add(request: Request) -> Response:
    """POST: add a contact. With `consent_way` (in_person, by_phone) the resident's consent is recorded in the
    token's name and the contact gets one welcome, by SMS or, with `tell_by` "call", by an automated call; without
    it, they are never messaged until it is. The same
    `Idempotency-Key` again answers 200 with the contact it made, sending nothing; a new contact is a 201."""
    Query(request, set())
    body = await json_body(request, FIELDS)
    key = request.headers.get(IDEMPOTENCY_KEY, "")
    if not re.fullmatch(f"[!-~]{{1,{KEY_LIMIT}}}", key):
        raise ApiError(
            400, f"send an {IDEMPOTENCY_KEY} header of 1 to {KEY_LIMIT} printable ASCII characters, no space"
        )
    fields = ContactFields(
        name=body.text("name", required=True, limit=100) or "",
        relation=body.text("relation", required=True, limit=40) or "",
        phone=body.text("phone", required=True, limit=40) or "",
        language=body.choice("language", LANGUAGES) or "zh-CN",
        consent_way=body.choice("consent_way", tuple(ConsentWay)) or "",
        tell_by=body.choice("tell_by", tuple(TellBy)) or TellBy.SMS,
    )
    resident_id = path_id(request, "id", "resident")
    services, token = services_of(request), token_of(request)

    def run() -> tuple[circle_staff.ContactLine, list[int], bool]:
        with services.sessions.begin() as session:
            return circle_staff.add(
                session,
                resident_id,
                fields,
                actor=token,
                where=household_scope(token),
                now=services.clock(),
                catalog=services.catalog,
                region=services.settings.region,
                request_key=f"api:{token.id}:{key}",
            )

    line, outbound, created = await run_in_threadpool(run)
    await hand_over_async(services, Decided(sends=outbound))
    return ok({"contact": line.as_dict(), "messages_decided": len(outbound)}, 201 if created else 200)


@token_only()
async def opt_out(request: Request) -> Response:
    """POST: the contact asked for no more messages (kept on record; never messaged again)."""
    Query(request, set())
    await json_body(request, set(), optional=True)
    resident_id, contact_id = path_id(request, "id", "resident"), path_id(request, "contact", "contact")
    services, token = services_of(request), token_of(request)

    def run() -> dict[str, Any]:
        with services.sessions.begin() as session:
            line = circle_staff.opt_out(
                session, resident_id, contact_id, actor=token, where=household_scope(token), now=services.clock()
            )
            return line.as_dict()

    return ok({"contact": await run_in_threadpool(run)})


@token_only()
async def remove(request: Request) -> Response:
    """DELETE: take the contact out of the circle (kept on record, with any opt-out). It takes no body; one sent is
    read and checked first, as every route's is."""
    Query(request, set())
    await json_body(request, set(), optional=True)
    resident_id, contact_id = path_id(request, "id", "resident"), path_id(request, "contact", "contact")
    services, token = services_of(request), token_of(request)

    def run() -> None:
        with services.sessions.begin() as session:
            circle_staff.remove(
                session, resident_id, contact_id, actor=token, where=household_scope(token), now=services.clock()
            )

    await run_in_threadpool(run)
    return ok({"removed": contact_id})


ROUTES: list[BaseRoute] = [
    Route("/residents/{id}/circle", circle),
    Route("/residents/{id}/circle", add, methods=["POST"]),
    Route("/residents/{id}/circle/{contact}/opt-out", opt_out, methods=["POST"]),
    Route("/residents/{id}/circle/{contact}", remove, methods=["DELETE"]),
]
