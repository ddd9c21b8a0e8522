"""The care-circle section of a resident's page: add a family contact, record the resident's consent, opt a
contact out, remove one. Scoped like the page (a resident outside the account's scope is "not found"); every form
carries the CSRF token (`staff_only` checks it), and the add form a key of its own, so a double click adds one
contact. Done: back to the page's section. Refused: the page again, saying why in words."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch import circle_staff
from dispatch.care_circle import LANGUAGES, MAX_CONTACTS, ContactFields
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import ConsentWay, StaffUser, TellBy
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.refusals import refusal
from hotline.console.render import language_of
from hotline.handover import Decided, hand_over_async
from hotline.services import Services

KEY_LIMIT = 64


def circle_section(session: Session, resident_id: int, user: StaffUser) -> dict[str, Any]:
    """What the resident page's care-circle section shows (its template: `_resident_circle.html`)."""
    return {
        "circle": circle_staff.circle_view(session, resident_id, household_scope(user)),
        "circle_key": secrets.token_urlsafe(16),
        "circle_ways": list(ConsentWay),
        "circle_languages": LANGUAGES,
        "circle_tell_bys": list(TellBy),
        "circle_limit": MAX_CONTACTS,
    }


def _fields(form: dict[str, str]) -> ContactFields:
    return ContactFields(
        name=form.get("name", "")[:200],
        relation=form.get("relation", "")[:200],
        phone=form.get("phone", "")[:60],
        language=form.get("language", "zh-CN"),
        consent_way=form.get("consent_way", ""),
        tell_by=form.get("tell_by", TellBy.SMS)[:20],
    )


async def _form(request: Request) -> dict[str, str]:
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


async def _done(request: Request, resident_id: int, act: Any) -> Response:
    """Run `act(session, services, user)` → outbound ids; then back to the section, or the page saying why."""
    from hotline.console.register import resident_page  # the page this section is part of

    services: Services = request.app.state.services
    user = request.state.user

    def run() -> list[int]:
        with services.sessions.begin() as session:
            return list(act(session, services, user))

    try:
        outbound = await run_in_threadpool(run)
    except NotFound:
        return await resident_page(request, resident_id, status_code=404)
    except InvalidAction as exc:
        said = refusal(exc, language_of(request, user), services.catalog)
        return await resident_page(request, resident_id, status_code=422, circle_error=said)
    await hand_over_async(services, Decided(sends=outbound))
    return RedirectResponse(f"/register/residents/{resident_id}?circle=saved#circle", status_code=303)


@staff_only()
async def add_contact(request: Request) -> Response:
    """POST: a family contact for the resident's circle, with the resident's consent if staff recorded it."""
    resident_id: int = request.path_params["resident_id"]
    form = await _form(request)
    key = form.get("request_key", "")[:KEY_LIMIT]

    def act(session: Session, services: Services, user: StaffUser) -> list[int]:
        _, outbound, _ = circle_staff.add(
            session,
            resident_id,
            _fields(form),
            actor=user,
            where=household_scope(user),
            now=services.clock(),
            catalog=services.catalog,
            region=services.settings.region,
            request_key=f"console:{user.id}:{key}" if key else None,
        )
        return outbound

    return await _done(request, resident_id, act)


@staff_only()
async def edit_contact(request: Request) -> Response:
    """POST: change a contact, or record the resident's consent to telling them."""
    resident_id: int = request.path_params["resident_id"]
    contact_id: int = request.path_params["contact_id"]
    form = await _form(request)

    def act(session: Session, services: Services, user: StaffUser) -> list[int]:
        _, outbound = circle_staff.update(
            session,
            resident_id,
            contact_id,
            _fields(form),
            actor=user,
            where=household_scope(user),
            now=services.clock(),
            catalog=services.catalog,
            region=services.settings.region,
        )
        return outbound

    return await _done(request, resident_id, act)


def _contact_step(step: Callable[..., object], doc: str) -> Callable[[Request], Awaitable[Response]]:
    """A POST on one contact that takes no fields (`circle_staff.opt_out`, `circle_staff.remove`) and sends
    nothing."""

    async def endpoint(request: Request) -> Response:
        await _form(request)  # read first, as every form is: a body over the cap is refused before anything
        resident_id: int = request.path_params["resident_id"]
        contact_id: int = request.path_params["contact_id"]

        def act(session: Session, services: Services, user: StaffUser) -> list[int]:
            step(session, resident_id, contact_id, actor=user, where=household_scope(user), now=services.clock())
            return []

        return await _done(request, resident_id, act)

    endpoint.__name__ = endpoint.__qualname__ = f"{step.__name__}_contact"
    endpoint.__doc__ = doc
    return staff_only()(endpoint)


opt_out_contact = _contact_step(circle_staff.opt_out, "POST: the contact asked for no more messages.")
remove_contact = _contact_step(circle_staff.remove, "POST: take the contact out of the circle (kept on record).")


BASE = "/register/residents/{resident_id:id}/circle"
ROUTES: list[BaseRoute] = [
    Route(BASE, add_contact, methods=["POST"]),
    Route(BASE + "/{contact_id:id}", edit_contact, methods=["POST"]),
    Route(BASE + "/{contact_id:id}/opt-out", opt_out_contact, methods=["POST"]),
    Route(BASE + "/{contact_id:id}/remove", remove_contact, methods=["POST"]),
]
