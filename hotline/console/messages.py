"""Messages: the inbox, the outbox and the failed deliveries (`dispatch.message_views`), and the one SMS staff send
from a resident's page (`dispatch.staff_sms`)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import NotFound
from dispatch.message_views import MESSAGES_PAGE, Box, communities_in_scope, list_messages
from dispatch.phones import mask_phone
from dispatch.register.liaison_admin import managed_among
from dispatch.staff_accounts import household_scope
from dispatch.staff_sms import StaffSms, StaffSmsRefused, send_staff_sms
from dispatch.triage.items import triage_scope
from hotline.console.auth import staff_only
from hotline.console.params import as_id
from hotline.console.register import resident_page
from hotline.console.render import CONSOLE_TEXTS, language_of, page
from hotline.handover import Decided, hand_over_async
from hotline.logs import mask_digits
from hotline.services import Services, sms_templates

BOXES: dict[str, Box] = {"/messages": "in", "/messages/sent": "out", "/messages/failed": "failed"}


@staff_only()
async def message_box(request: Request) -> Response:
    """`/messages` (what came in), `/messages/sent` (what went out), `/messages/failed` (what was not delivered):
    SMS in scope, newest first, 50 a page, numbers masked (in the words too: a list is for finding people, as the
    register's is); `?community=` (staff who see several), `?page=`."""
    services: Services = request.app.state.services
    user = request.state.user
    box = BOXES[request.url.path]
    page_no = min(as_id(request.query_params.get("page")) or 1, 10_000)
    chosen = as_id(request.query_params.get("community"))
    where, triage_where = household_scope(user), triage_scope(user)

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            communities = communities_in_scope(session, where)
            community = chosen if chosen in {id_ for id_, _ in communities} else None
            found = list_messages(
                session, box, where, triage_where, community_id=community, page=page_no, size=MESSAGES_PAGE
            )
            # The liaisons whose details this account may open (admins, and a clerk their community's).
            named = {line.person.liaison_id for line in found.lines if line.person.liaison_id is not None}
            managed = managed_among(session, user, named)
        return {"communities": communities, "community": community, "found": found, "managed": managed}

    data = await run_in_threadpool(load)
    return page(
        request,
        "messages.html",
        user,
        box=box,
        path=request.url.path,
        page_no=page_no,
        masked=mask_phone,
        mask_body=mask_digits,  # a number in a message's words is masked as the list's own numbers are
        **data,
    )


@staff_only()
async def send_sms(request: Request) -> Response:
    """POST: one SMS to this resident or their liaison. The form's key makes a double click send once. Sent (or
    found sent): back to the resident's page, which says so. Refused: the page again, saying why in words."""
    services: Services = request.app.state.services
    user = request.state.user
    resident_id: int = request.path_params["resident_id"]
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}

    def run() -> StaffSms:
        with services.sessions.begin() as session:
            return send_staff_sms(
                session,
                resident_id,
                form.get("to", ""),
                form.get("body", ""),
                request_key=form.get("request_key", ""),
                actor=user,
                where=household_scope(user),
                now=services.clock(),
                per_hour=services.settings.staff_sms_per_hour,
                templates=sms_templates(services.settings),
            )

    try:
        sent = await run_in_threadpool(run)
    except NotFound:
        return await resident_page(request, resident_id)  # the same 404 as the page itself
    except StaffSmsRefused as exc:
        said = CONSOLE_TEXTS.render(f"messages_refused_{exc.code}", language_of(request, user), **exc.values)
        status = 429 if exc.code == "over_cap" else 422
        return await resident_page(
            request,
            resident_id,
            status_code=status,
            sms_error=said,
            sms_body=form.get("body"),
            sms_chosen=form.get("to"),
        )
    await hand_over_async(services, Decided(sends=sent.outbound))
    return RedirectResponse(f"/register/residents/{resident_id}?sms={sent.recipient.kind}#send-sms", status_code=303)


ROUTES: list[BaseRoute] = [
    *(Route(path, message_box) for path in BOXES),
    Route("/register/residents/{resident_id:id}/sms", send_sms, methods=["POST"]),
]
