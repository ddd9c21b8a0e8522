"""Triage (分流) of messages from numbers not on the register: the list, one item with its messages, and the three
things staff do with it: link it to a resident (after a confirmation page), register a new resident from it, or
close it with a note. Admins and clerks only: an item belongs to a community, not to a grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import StaffRole, StaffUser
from dispatch.register import assignable_liaisons, search_residents
from dispatch.register.places import all_communities
from dispatch.register.search import MAX_QUERY
from dispatch.staff_accounts import household_scope
from dispatch.triage import actions
from dispatch.triage.items import triage_scope
from dispatch.triage.views import PAGE, item_detail, list_items, statuses
from hotline.console.auth import staff_only
from hotline.console.params import as_id
from hotline.console.refusals import refusal
from hotline.console.render import page
from hotline.exceptions import VoicemailUnavailable
from hotline.handover import Decided, hand_over_async
from hotline.services import Services
from hotline.voicemail_audio import audio_response, open_triage_voicemail

TRIAGERS = (StaffRole.ADMIN, StaffRole.CLERK)
MATCHES = 20  # residents shown for a search on an item's page


@staff_only(*TRIAGERS)
async def triage_list(request: Request) -> Response:
    """The items in scope: open ones by default, the longest waiting first."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    status = request.query_params.get("status", "open")
    status = status if status in statuses() else "open"
    offset = as_id(request.query_params.get("offset")) or 0

    def load() -> list[Any]:
        with services.readonly() as session:
            return list_items(session, triage_scope(user), services.clock(), status=status, offset=offset)

    items = await run_in_threadpool(load)
    return page(
        request,
        "triage_list.html",
        user,
        items=items,
        status=status,
        statuses=statuses(),
        offset=offset,
        page_size=PAGE,
    )


async def _item_page(request: Request, item_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    resident_where = household_scope(user)

    def load() -> dict[str, Any] | None:
        with services.sessions.begin() as session:
            try:
                detail = item_detail(session, item_id, triage_scope(user), resident_where)
            except NotFound:
                return None
            audit.record(session, user, "view", "triage", item_id, at=services.clock())
            found = (
                search_residents(session, resident_where, query, region=services.settings.region, limit=MATCHES)
                if query
                else []
            )
            liaisons = [(li.id, li.name) for li in assignable_liaisons(session, resident_where)]
            communities = [] if detail.community else all_communities(session)
            return {"detail": detail, "found": found, "liaisons": liaisons, "communities": communities}

    data = await run_in_threadpool(load)
    if data is None:
        return page(request, "not_found.html", user, status_code=404)
    return page(
        request,
        "triage.html",
        user,
        error=error,
        done=request.query_params.get("done"),
        q=query,
        catalog=services.catalog,
        status_code=status_code,
        **data,
    )


@staff_only(*TRIAGERS)
async def triage_item(request: Request) -> Response:
    """One item: its messages, residents who gave the number as their emergency contact, and the actions.
    `?q=` searches the register for the resident to link it to. The view is audited."""
    return await _item_page(request, request.path_params["triage_id"])


@staff_only(*TRIAGERS)
async def triage_link_confirm(request: Request) -> Response:
    """The confirmation step before linking: whose record the number joins, and what then happens."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    item_id: int = request.path_params["triage_id"]
    resident_id = as_id(request.query_params.get("resident_id"))

    def load() -> actions.LinkPreview:
        with services.readonly() as session:
            return actions.link_preview(
                session, item_id, resident_id or 0, where=triage_scope(user), resident_where=household_scope(user)
            )

    try:
        preview = await run_in_threadpool(load)
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except InvalidAction as exc:
        return await _item_page(request, item_id, error=refusal(exc, user.language, services.catalog), status_code=409)
    return page(request, "triage_link.html", user, preview=preview)


@staff_only(*TRIAGERS)
async def triage_voicemail(request: Request) -> Response:
    """An unknown caller's voicemail on the item, fetched from the provider for this staff member; audited."""
    user: StaffUser = request.state.user
    item_id: int = request.path_params["triage_id"]
    try:
        media = await open_triage_voicemail(
            request.app.state.services, user, triage_scope(user), item_id, request.path_params["message_id"]
        )
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except VoicemailUnavailable as exc:
        return page(
            request,
            "voicemail_error.html",
            user,
            status_code=exc.status,
            reason=exc.text,
            task_id=None,
            item_id=item_id,
        )
    return audio_response(media)


Action = Callable[[Session, Services, int, StaffUser, dict[str, str]], actions.Handled]


def _action(name: str, act: Action) -> Callable[[Request], Any]:
    """A POST endpoint for one action: do it, commit, queue what it decided, and go back to the item's page."""

    @staff_only(*TRIAGERS)
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        user: StaffUser = request.state.user
        item_id: int = request.path_params["triage_id"]
        form = {key: str(value) for key, value in (await request.form()).items()}
        if name == "link" and form.get("confirm") != "1":  # only the confirmation page's form links
            resident = form.get("resident_id", "")
            return RedirectResponse(f"/triage/{item_id}/link?resident_id={as_id(resident) or ''}", status_code=303)

        def run() -> actions.Handled:
            with services.sessions.begin() as session:
                return act(session, services, item_id, user, form)

        try:
            done = await run_in_threadpool(run)
        except NotFound:
            return page(request, "not_found.html", user, status_code=404)
        except InvalidAction as exc:
            return await _item_page(
                request, item_id, error=refusal(exc, user.language, services.catalog), status_code=409
            )
        await hand_over_async(services, Decided(sends=done.outbound_ids))
        return RedirectResponse(f"/triage/{item_id}?done={name}", status_code=303)

    endpoint.__name__ = f"triage_{name}"
    return endpoint


def _link(session: Session, services: Services, item_id: int, user: StaffUser, form: dict[str, str]) -> actions.Handled:
    resident_id = as_id(form.get("resident_id"))
    if resident_id is None:
        raise InvalidAction("choose a resident", "choose_resident")
    return actions.link_resident(
        session,
        item_id,
        resident_id,
        actor=user,
        where=triage_scope(user),
        resident_where=household_scope(user),
        now=services.clock(),
        context=services.intake,
    )


def _register(
    session: Session, services: Services, item_id: int, user: StaffUser, form: dict[str, str]
) -> actions.Handled:
    return actions.register_resident(
        session,
        item_id,
        name=form.get("name", ""),
        building=form.get("building", ""),
        unit=form.get("unit", ""),
        room=form.get("room", ""),
        liaison_id=as_id(form.get("liaison_id")),
        community_id=as_id(form.get("community_id")),
        actor=user,
        where=triage_scope(user),
        resident_where=household_scope(user),
        now=services.clock(),
        context=services.intake,
    )


def _close(
    session: Session, services: Services, item_id: int, user: StaffUser, form: dict[str, str]
) -> actions.Handled:
    return actions.close_item(
        session, item_id, form.get("note", ""), actor=user, where=triage_scope(user), now=services.clock()
    )


ROUTES: list[BaseRoute] = [
    Route("/triage", triage_list),
    Route("/triage/{triage_id:id}", triage_item),
    Route("/triage/{triage_id:id}/voicemails/{message_id:id}", triage_voicemail),
    Route("/triage/{triage_id:id}/link", triage_link_confirm),
    Route("/triage/{triage_id:id}/link", _action("link", _link), methods=["POST"]),
    Route("/triage/{triage_id:id}/register", _action("register", _register), methods=["POST"]),
    Route("/triage/{triage_id:id}/close", _action("close", _close), methods=["POST"]),
]
