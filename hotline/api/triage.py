"""Triage of messages from numbers not on the register, for API tokens of admins and clerks: the items, one item,
and linking it to a resident (`dry_run` first, to see what it would do), registering a new resident from it, or
closing it with a note. Each action runs `dispatch.triage.actions` in one transaction, scoped to the token and
recorded under its name, then queues the SMS it decided after the commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.models import ApiToken, StaffRole
from dispatch.register.edit import MAX_NAME
from dispatch.staff_accounts import household_scope
from dispatch.triage import actions
from dispatch.triage.items import triage_scope
from dispatch.triage.views import item_detail, list_items, statuses
from hotline.api.common import (
    ApiError,
    Body,
    Query,
    json_body,
    ok,
    path_id,
    plain,
    services_of,
    token_of,
    token_only,
)
from hotline.console.render import CONSOLE_TEXTS
from hotline.exceptions import VoicemailUnavailable
from hotline.handover import Decided, hand_over_async
from hotline.services import Services
from hotline.voicemail_audio import audio_response, open_triage_voicemail

TRIAGERS = (StaffRole.ADMIN, StaffRole.CLERK)
PAGE_LIMIT = 500


@token_only(*TRIAGERS)
async def items(request: Request) -> Response:
    """Items in scope: open ones by default (the longest waiting first); `status` chooses others, or "all"."""
    query = Query(request, {"status", "limit", "offset"})
    status = query.choice("status", statuses()) or "open"
    limit = query.integer("limit", default=100, low=1, high=PAGE_LIMIT) or 100
    offset = query.integer("offset", default=0) or 0
    services, token = services_of(request), token_of(request)

    def load() -> list[Any]:
        with services.readonly() as session:
            found = list_items(
                session, triage_scope(token), services.clock(), status=status, limit=limit, offset=offset
            )
            return [plain(row) for row in found]

    return ok({"items": await run_in_threadpool(load), "limit": limit, "offset": offset})


def _detail(session: Session, item_id: int, token: ApiToken, services: Services) -> dict[str, Any]:
    """The item as JSON, each voicemail with the hotline's URL for its audio (never the provider's)."""
    detail = item_detail(session, item_id, triage_scope(token), household_scope(token)).as_dict()
    for message in detail["messages"]:
        path = f"/api/v1/triage/{item_id}/voicemails/{message['id']}"
        message["audio_url"] = services.settings.callback_url(path) if message["voicemail"] else None
    return detail


@token_only(*TRIAGERS)
async def item(request: Request) -> Response:
    """One item with its messages, oldest first; the view is recorded in the audit log."""
    Query(request, set())
    item_id = path_id(request, "id", "triage item")
    services, token = services_of(request), token_of(request)

    def load() -> dict[str, Any]:
        with services.sessions.begin() as session:
            detail = _detail(session, item_id, token, services)
            audit.record(session, token, "view", "triage", item_id, at=services.clock())
            return detail

    return ok(await run_in_threadpool(load))


def _result(session: Session, services: Services, done: actions.Handled, token: ApiToken) -> dict[str, Any]:
    return {
        "item": _detail(session, done.item_id, token, services),
        "resident_id": done.resident_id,
        "phone_added": done.phone_added,
        "task_ids": done.task_ids,
        "messages_decided": len(done.outbound_ids),
    }


@token_only(*TRIAGERS)
async def item_voicemail(request: Request) -> Response:
    """An unknown caller's voicemail on the item: its audio, fetched from the provider for this token; audited."""
    Query(request, set())
    item_id = path_id(request, "id", "triage item")
    message_id = path_id(request, "message_id", "voicemail")
    services, token = services_of(request), token_of(request)
    try:
        media = await open_triage_voicemail(services, token, triage_scope(token), item_id, message_id)
    except VoicemailUnavailable as exc:
        raise ApiError(exc.status, CONSOLE_TEXTS.render(exc.text, services.settings.language)) from None
    return audio_response(media)


Act = Callable[[Session, Services, int, ApiToken, Body], tuple[dict[str, Any], list[int]]]


def _action(name: str, fields: set[str], act: Act) -> Callable[[Request], Any]:
    """A POST endpoint for one action: read the body, act, answer, then queue what it decided (after the commit)."""

    @token_only(*TRIAGERS)
    async def endpoint(request: Request) -> Response:
        Query(request, set())
        item_id = path_id(request, "id", "triage item")
        body = await json_body(request, fields)
        services, token = services_of(request), token_of(request)

        def run() -> tuple[dict[str, Any], list[int]]:
            with services.sessions.begin() as session:
                return act(session, services, item_id, token, body)

        answer, outbound = await run_in_threadpool(run)
        await hand_over_async(services, Decided(sends=outbound))
        return ok(answer)

    endpoint.__name__ = endpoint.__qualname__ = f"triage_{name}"
    return endpoint


def _link(session: Session, services: Services, item_id: int, token: ApiToken, body: Body) -> tuple[Any, list[int]]:
    resident_id = body.integer("resident_id", required=True)
    assert resident_id is not None
    where, resident_where = triage_scope(token), household_scope(token)
    preview = actions.link_preview(session, item_id, resident_id, where=where, resident_where=resident_where)
    if body.flag("dry_run"):
        return {"dry_run": True, "preview": asdict(preview), "result": None}, []
    done = actions.link_resident(
        session,
        item_id,
        resident_id,
        actor=token,
        where=where,
        resident_where=resident_where,
        now=services.clock(),
        context=services.intake,
    )
    return {
        "dry_run": False,
        "preview": asdict(preview),
        "result": _result(session, services, done, token),
    }, done.outbound_ids


def _register(session: Session, services: Services, item_id: int, token: ApiToken, body: Body) -> tuple[Any, list[int]]:
    done = actions.register_resident(
        session,
        item_id,
        name=body.text("name", required=True, limit=MAX_NAME) or "",
        building=body.text("building", limit=actions.ADDRESS_LIMIT) or "",
        unit=body.text("unit", limit=actions.ADDRESS_LIMIT) or "",
        room=body.text("room", limit=actions.ADDRESS_LIMIT) or "",
        liaison_id=body.integer("liaison_id"),
        community_id=body.integer("community_id"),
        actor=token,
        where=triage_scope(token),
        resident_where=household_scope(token),
        now=services.clock(),
        context=services.intake,
    )
    return _result(session, services, done, token), done.outbound_ids


def _close(session: Session, services: Services, item_id: int, token: ApiToken, body: Body) -> tuple[Any, list[int]]:
    note = body.text("note", required=True, limit=actions.NOTE_LIMIT) or ""
    done = actions.close_item(session, item_id, note, actor=token, where=triage_scope(token), now=services.clock())
    return _result(session, services, done, token), []


ROUTES: list[BaseRoute] = [
    Route("/triage", items),
    Route("/triage/{id}", item),
    Route("/triage/{id}/voicemails/{message_id}", item_voicemail),
    Route("/triage/{id}/link", _action("link", {"resident_id", "dry_run"}, _link), methods=["POST"]),
    Route(
        "/triage/{id}/register",
        _action("register", {"name", "building", "unit", "room", "liaison_id", "community_id"}, _register),
        methods=["POST"],
    ),
    Route("/triage/{id}/close", _action("close", {"note"}, _close), methods=["POST"]),
]
