"""The board, the tasks and what staff do to them, and the liaisons a task can go to, for API tokens.

Each action runs the domain's own function (`dispatch.tasks.staff_actions`) in one transaction, scoped to the token,
recorded under the token's name, then queues the SMS it decided after the commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.at_risk import at_risk
from dispatch.board import open_tasks
from dispatch.checkins.report import Coverage, coverage
from dispatch.models import ApiToken, TaskCategory
from dispatch.register.away import AwayResident, away_residents
from dispatch.staff_accounts import household_scope
from dispatch.tasks import staff_actions, staff_made, staff_owner
from dispatch.tasks.staff_views import TaskFilter, list_tasks, task_detail, task_statuses
from dispatch.triage.items import triage_scope
from dispatch.triage.views import open_items
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
from hotline.voicemail_audio import audio_response, open_voicemail

PAGE_LIMIT = 500
IDEMPOTENCY_KEY = "Idempotency-Key"
ATTENTION = ("not_reached", "unwell", "visit_pending")


def coverage_row(row: Coverage) -> dict[str, Any]:
    return {"community": row.community, "grid": row.grid, **row.counts, "known_percent": round(row.known_percent, 1)}


def away_row(row: AwayResident, language: str) -> dict[str, Any]:
    """One resident away as the board lists them: the reason as its code and in the console's words; no note (it
    may say what they are in hospital for), no phone."""
    return {
        "resident_id": row.resident_id,
        "name": row.name,
        "community": row.community,
        "grid": row.grid,
        "reason": row.reason,
        "reason_text": CONSOLE_TEXTS.render(f"away_reason_{row.reason}", language),
        "starts_on": row.starts_on.isoformat(),
        "return_on": row.return_on.isoformat(),
    }


@token_only()
async def board(request: Request) -> Response:
    """Today: coverage per grid, who to look at first (not reached, unwell, visit pending), the open tasks, the open
    triage items, who is not in hand before the deadline, and who is away or in hospital."""
    Query(request, set())
    services, token = services_of(request), token_of(request)
    now = services.clock()
    where = household_scope(token)

    def load() -> dict[str, Any]:
        today = now.astimezone(services.settings.timezone).date()
        with services.readonly() as session:
            report = coverage(session, today, now, where)
            tasks = open_tasks(session, now, where)
            behind = at_risk(session, today, now, where, services.intake.checkin)
            triage = open_items(session, now, triage_scope(token))
            away = away_residents(session, where)
        attention = [r for r in report.residents if r.standing in ATTENTION]
        attention.sort(key=lambda r: (r.standing != "not_reached", r.standing != "unwell", r.grid, r.name))
        return {
            "day": today.isoformat(),
            "now": now.astimezone(services.settings.timezone).isoformat(),
            "coverage": [coverage_row(row) for row in report.rows],
            "total": coverage_row(report.total),
            "attention": [asdict(r) for r in attention],
            "open_tasks": [asdict(t) for t in tasks],
            "triage": [plain(item) for item in triage],
            "at_risk": [
                {**asdict(r), "deadline": r.deadline.astimezone(services.settings.timezone).isoformat()} for r in behind
            ],
            "away": [away_row(row, services.settings.language) for row in away],
        }

    return ok(await run_in_threadpool(load))


@token_only()
async def tasks(request: Request) -> Response:
    """Tasks in scope, filtered, urgent and open first; `limit` and `offset` page through them."""
    query = Query(request, {"status", "category", "grid_id", "liaison_id", "owner", "owner_id", "limit", "offset"})
    owner_id = query.integer("owner_id", low=1)
    filters = TaskFilter(
        status=query.choice("status", task_statuses()),
        category=query.choice("category", list(TaskCategory)),
        grid_id=query.integer("grid_id", low=1),
        liaison_id=query.integer("liaison_id", low=1),
        owner=query.choice("owner", ["unassigned"]) or owner_id,
    )
    limit = query.integer("limit", default=100, low=1, high=PAGE_LIMIT) or 100
    offset = query.integer("offset", default=0) or 0
    services, token = services_of(request), token_of(request)

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            rows = list_tasks(session, household_scope(token), filters, limit=limit, offset=offset)
            return [row.as_dict() for row in rows]

    return ok({"tasks": await run_in_threadpool(load), "limit": limit, "offset": offset})


@token_only()
async def make(request: Request) -> Response:
    """POST /tasks: a task staff make for a resident (a call to the office), offered to the liaison like any other.
    The `Idempotency-Key` header is required: the same key again answers 200 with the task it made, sending nothing;
    a new task is a 201."""
    Query(request, set())
    body = await json_body(request, {"resident_id", "category", "words", "urgent"})  # its size and text first
    key = request.headers.get(IDEMPOTENCY_KEY, "")
    if not re.fullmatch(f"[!-~]{{1,{staff_made.KEY_LIMIT}}}", key):
        raise ApiError(
            400, f"send an {IDEMPOTENCY_KEY} header of 1 to {staff_made.KEY_LIMIT} printable ASCII characters, no space"
        )
    resident_id = body.integer("resident_id", required=True)
    category = body.choice("category", list(TaskCategory), required=True)
    words = body.text("words", required=True, limit=staff_made.WORDS_LIMIT)
    assert resident_id is not None and category is not None and words is not None
    urgent = body.flag("urgent")
    services, token = services_of(request), token_of(request)

    def run() -> tuple[staff_made.Made, dict[str, Any]]:
        with services.sessions.begin() as session:
            made = staff_made.make_task(
                session,
                resident_id,
                category,
                words,
                urgent=urgent,
                request_key=key,
                actor=token,
                channel="api",
                where=household_scope(token),
                now=services.clock(),
                context=services.intake,
            )
            detail = task_detail(session, made.task_id, household_scope(token)).as_dict()
            return made, with_links(services, detail)

    try:
        made, detail = await run_in_threadpool(run)
    except staff_made.RequestKeyReused as exc:  # the IETF draft's answer to a key reused for another request
        raise ApiError(422, str(exc)) from None
    await hand_over_async(services, Decided(sends=made.outbound))
    return ok({"task": detail, "messages_decided": len(made.outbound)}, 201 if made.created else 200)


@token_only()
async def task(request: Request) -> Response:
    """One task and its whole history, oldest first. The view is recorded in the audit log."""
    Query(request, set())
    task_id = path_id(request, "id", "task")
    services, token = services_of(request), token_of(request)

    def load() -> dict[str, Any]:
        with services.sessions.begin() as session:
            detail = task_detail(session, task_id, household_scope(token)).as_dict()
            audit.record(session, token, "view", "task", task_id, at=services.clock())
            return detail

    return ok(with_links(services, await run_in_threadpool(load)))


def with_links(services: Services, detail: dict[str, Any]) -> dict[str, Any]:
    """The task as JSON, each voicemail with the hotline's URL for its audio (never the provider's)."""
    for voicemail in detail["voicemails"]:
        path = f"/api/v1/tasks/{detail['id']}/voicemails/{voicemail['message_id']}"
        voicemail["audio_url"] = services.settings.callback_url(path)
    return detail


@token_only()
async def task_voicemail(request: Request) -> Response:
    """A voicemail left on the task: its audio, fetched from the provider for this token; each listen is audited."""
    Query(request, set())
    task_id = path_id(request, "id", "task")
    message_id = path_id(request, "message_id", "voicemail")
    services, token = services_of(request), token_of(request)
    try:
        media = await open_voicemail(services, token, household_scope(token), task_id, message_id)
    except VoicemailUnavailable as exc:
        raise ApiError(exc.status, CONSOLE_TEXTS.render(exc.text, services.settings.language)) from None
    return audio_response(media)


@token_only()
async def liaisons(request: Request) -> Response:
    """Active liaisons with a phone who serve a household in scope or belong to one of its grids."""
    Query(request, set())
    services, token = services_of(request), token_of(request)

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            found = staff_actions.liaisons_in_scope(session, household_scope(token))
            return [
                {"id": li.id, "name": li.name, "phone": li.phone, "role": li.role, "grid_id": li.grid_id}
                for li in found
            ]

    return ok({"liaisons": await run_in_threadpool(load)})


# ── Actions ──────────────────────────────────────────────────────────────────────────────────────────────────

Act = Callable[[Session, Services, int, ApiToken, Body], list[int]]


def _action(name: str, fields: set[str], act: Act, *, optional: bool = False) -> Callable[[Request], Any]:
    """A POST endpoint for one action: read the body, act, answer with the task as it now is, then queue what the
    action decided (after the commit)."""

    @token_only()
    async def endpoint(request: Request) -> Response:
        Query(request, set())
        task_id = path_id(request, "id", "task")
        body = await json_body(request, fields, optional=optional)
        services, token = services_of(request), token_of(request)

        def run() -> tuple[list[int], dict[str, Any]]:
            with services.sessions.begin() as session:
                outbound = act(session, services, task_id, token, body)
                return outbound, with_links(services, task_detail(session, task_id, household_scope(token)).as_dict())

        outbound, detail = await run_in_threadpool(run)
        await hand_over_async(services, Decided(sends=outbound))
        return ok({"task": detail, "messages_decided": len(outbound)})

    endpoint.__name__ = endpoint.__qualname__ = f"task_{name}"
    return endpoint


def _assign(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    liaison_id = body.integer("liaison_id", required=True)
    assert liaison_id is not None
    return staff_actions.assign(
        session,
        task_id,
        liaison_id,
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        context=services.intake,
    )


def _note(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    text = body.text("text", required=True, limit=staff_actions.NOTE_LIMIT) or ""
    staff_actions.add_note(
        session,
        task_id,
        text,
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        for_liaison=body.flag("for_liaison"),
    )
    return []


def _owner(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    if "staff_id" not in body:
        raise ApiError(422, "staff_id is required: a staff member's id, or null to release the task")
    staff_owner.set_owner(
        session,
        task_id,
        body.integer("staff_id"),
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        seen_owner_id=body.integer("expected_owner_id") if "expected_owner_id" in body else staff_owner.UNCHECKED,
    )
    return []


def _close(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    note = body.text("note", limit=staff_actions.NOTE_LIMIT) or ""
    return staff_actions.close(
        session,
        task_id,
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        context=services.intake,
        note=note,
    )


def _reopen(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    reason = body.text("reason", limit=staff_actions.NOTE_LIMIT) or ""
    return staff_actions.reopen(
        session,
        task_id,
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        context=services.intake,
        reason=reason,
    )


def _cancel(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    reason = body.text("reason", limit=staff_actions.NOTE_LIMIT) or ""
    return staff_actions.cancel(
        session,
        task_id,
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        context=services.intake,
        reason=reason,
    )


def _triage(session: Session, services: Services, task_id: int, token: ApiToken, body: Body) -> list[int]:
    category = body.choice("category", staff_actions.TRIAGE_CATEGORIES, required=True)
    assert category is not None
    return staff_actions.triage(
        session,
        task_id,
        category,
        actor=token,
        where=household_scope(token),
        now=services.clock(),
        context=services.intake,
    )


ROUTES: list[BaseRoute] = [
    Route("/board", board),
    Route("/tasks", tasks),
    Route("/tasks", make, methods=["POST"]),
    Route("/tasks/{id}", task),
    Route("/tasks/{id}/voicemails/{message_id}", task_voicemail),
    Route("/tasks/{id}/assign", _action("assign", {"liaison_id"}, _assign), methods=["POST"]),
    Route("/tasks/{id}/note", _action("note", {"text", "for_liaison"}, _note), methods=["POST"]),
    Route("/tasks/{id}/owner", _action("owner", {"staff_id", "expected_owner_id"}, _owner), methods=["POST"]),
    Route("/tasks/{id}/close", _action("close", {"note"}, _close, optional=True), methods=["POST"]),
    Route("/tasks/{id}/cancel", _action("cancel", {"reason"}, _cancel, optional=True), methods=["POST"]),
    Route("/tasks/{id}/reopen", _action("reopen", {"reason"}, _reopen, optional=True), methods=["POST"]),
    Route("/tasks/{id}/triage", _action("triage", {"category"}, _triage), methods=["POST"]),
    Route("/liaisons", liaisons),
]
