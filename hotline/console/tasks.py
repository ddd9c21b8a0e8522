"""Tasks: the list with filters, one task's whole history, and what staff do to it (assign, note, close, cancel,
triage). Every action is recorded under the staff member's name, in the task's history and the audit log."""

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
from dispatch.models import StaffUser, TaskCategory
from dispatch.register.places import grids_in_scope
from dispatch.staff_accounts import household_scope
from dispatch.tasks import staff_actions, staff_owner
from dispatch.tasks.staff_views import TASK_PAGE, TaskFilter, list_tasks, task_detail, task_statuses
from hotline.console.auth import staff_only
from hotline.console.history_words import actor, history_lines
from hotline.console.params import as_id
from hotline.console.refusals import refusal
from hotline.console.render import CONSOLE_TEXTS, page
from hotline.exceptions import VoicemailUnavailable
from hotline.handover import Decided, hand_over_async
from hotline.services import Services
from hotline.voicemail_audio import audio_response, open_voicemail

OWNER_FILTERS = ("mine", "unassigned")


_int = as_id


def _filters(request: Request, user: StaffUser) -> tuple[TaskFilter, str]:
    """The list's filters from the query string, and the owner filter as named ("mine", "unassigned" or "");
    unknown values are ignored rather than refused."""
    params = request.query_params
    status = params.get("status", "open")
    category = params.get("category") or None
    owner = params.get("owner", "")
    owner = owner if owner in OWNER_FILTERS else ""
    filters = TaskFilter(
        status=status if status in task_statuses() else None,
        category=category if category in set(TaskCategory) else None,
        grid_id=_int(params.get("grid_id")),
        liaison_id=_int(params.get("liaison_id")),
        owner=user.id if owner == "mine" else owner or None,
    )
    return filters, owner


def _grids(session: Session, user: StaffUser) -> list[tuple[int, str]]:
    return grids_in_scope(session, household_scope(user))


@staff_only()
async def task_list(request: Request) -> Response:
    """All tasks in scope, filtered; the open "other" tasks waiting for triage on top."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    filters, owner = _filters(request, user)
    offset = _int(request.query_params.get("offset")) or 0
    where = household_scope(user)

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            return {
                "tasks": list_tasks(session, where, filters, limit=TASK_PAGE, offset=offset),
                "to_triage": list_tasks(session, where, TaskFilter(status="open", category=TaskCategory.OTHER)),
                "grids": _grids(session, user),
                "liaisons": [(li.id, li.name) for li in staff_actions.liaisons_in_scope(session, where)],
            }

    data = await run_in_threadpool(load)
    return page(
        request,
        "tasks.html",
        user,
        filters=filters,
        owner=owner,
        owner_filters=OWNER_FILTERS,
        offset=offset,
        page_size=TASK_PAGE,
        statuses=task_statuses(),
        categories=list(TaskCategory),
        triage_categories=staff_actions.TRIAGE_CATEGORIES,
        catalog=services.catalog,
        **data,
    )


async def _detail_page(request: Request, task_id: int, *, error: str | None = None, status_code: int = 200) -> Response:
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    where = household_scope(user)

    def load() -> dict[str, Any] | None:
        with services.sessions.begin() as session:
            try:
                detail = task_detail(session, task_id, where)
            except NotFound:
                return None
            audit.record(session, user, "view", "task", task_id, at=services.clock())
            liaisons = [(li.id, li.name) for li in staff_actions.liaisons_in_scope(session, where)]
            owners = [(s.id, s.display_name) for s in staff_owner.possible_owners(session, task_id, where)]
            return {"detail": detail, "liaisons": liaisons, "owners": owners}

    data = await run_in_threadpool(load)
    if data is None:
        return page(request, "not_found.html", user, status_code=404)
    language, zone = user.language, services.settings.timezone

    def t(key: str, **fields: object) -> str:
        return CONSOLE_TEXTS.render(key, language, **fields)

    lines = history_lines(
        data["detail"].history,
        t,
        lambda category: services.catalog.render(f"category_{category}", language),
        lambda moment: moment.astimezone(zone).strftime("%m-%d %H:%M"),
    )
    return page(
        request,
        "task.html",
        user,
        error=error,
        done=request.query_params.get("done"),
        triage_categories=staff_actions.TRIAGE_CATEGORIES,
        history=lines,
        note_by=[actor(t, note.actor) for note in data["detail"].notes],
        catalog=services.catalog,
        status_code=status_code,
        **data,
    )


@staff_only()
async def task_page(request: Request) -> Response:
    """One task and its whole history: every event, offer, reply, delivery status and call."""
    return await _detail_page(request, request.path_params["task_id"])


@staff_only()
async def task_voicemail(request: Request) -> Response:
    """A voicemail left on the task, fetched from the provider for this staff member; each listen is audited."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    task_id: int = request.path_params["task_id"]
    try:
        media = await open_voicemail(services, user, household_scope(user), task_id, request.path_params["message_id"])
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except VoicemailUnavailable as exc:
        return page(request, "voicemail_error.html", user, status_code=exc.status, reason=exc.text, task_id=task_id)
    return audio_response(media)


Action = Callable[[Session, Services, int, StaffUser, dict[str, str]], list[int]]


def _action(name: str, act: Action) -> Callable[[Request], Any]:
    """A POST endpoint for one action: do it, commit, queue what it decided, and go back to the task's page."""

    @staff_only()
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        user: StaffUser = request.state.user
        task_id: int = request.path_params["task_id"]
        form = {key: str(value) for key, value in (await request.form()).items()}

        def run() -> list[int]:
            with services.sessions.begin() as session:
                return act(session, services, task_id, user, form)

        try:
            outbound = await run_in_threadpool(run)
        except NotFound:
            return page(request, "not_found.html", user, status_code=404)
        except InvalidAction as exc:
            return await _detail_page(
                request, task_id, error=refusal(exc, user.language, services.catalog), status_code=409
            )
        await hand_over_async(services, Decided(sends=outbound))
        return RedirectResponse(f"/tasks/{task_id}?done={name}", status_code=303)

    endpoint.__name__ = f"task_{name}"
    return endpoint


def _assign(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    liaison_id = _int(form.get("liaison_id"))
    if liaison_id is None:
        raise InvalidAction("choose a liaison", "choose_liaison")
    return staff_actions.assign(
        session,
        task_id,
        liaison_id,
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        context=services.intake,
    )


def _note(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    staff_actions.add_note(
        session,
        task_id,
        form.get("text", ""),
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        for_liaison=form.get("for_liaison") == "1",
    )
    return []


def _owner(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    """Take the task ("I'll follow this up"), give it to another staff member, or release it (no staff_id)."""
    staff_id = user.id if form.get("take") else _int(form.get("staff_id"))
    if staff_id is None and not form.get("release"):
        raise InvalidAction("choose a staff member")
    staff_owner.set_owner(
        session,
        task_id,
        staff_id,
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        seen_owner_id=_int(form.get("seen_owner_id")) if "seen_owner_id" in form else staff_owner.UNCHECKED,
    )
    return []


def _close(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    return staff_actions.close(
        session,
        task_id,
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        context=services.intake,
        note=form.get("note", ""),
    )


def _reopen(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    return staff_actions.reopen(
        session,
        task_id,
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        context=services.intake,
        reason=form.get("reason", ""),
    )


def _cancel(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    return staff_actions.cancel(
        session,
        task_id,
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        context=services.intake,
        reason=form.get("reason", ""),
    )


def _triage(session: Session, services: Services, task_id: int, user: StaffUser, form: dict[str, str]) -> list[int]:
    return staff_actions.triage(
        session,
        task_id,
        form.get("category", ""),
        actor=user,
        where=household_scope(user),
        now=services.clock(),
        context=services.intake,
    )


ROUTES: list[BaseRoute] = [
    Route("/tasks", task_list),
    Route("/tasks/{task_id:id}", task_page),
    Route("/tasks/{task_id:id}/voicemails/{message_id:id}", task_voicemail),
    *(
        Route(f"/tasks/{{task_id:id}}/{name}", _action(name, act), methods=["POST"])
        for name, act in (
            ("assign", _assign),
            ("owner", _owner),
            ("note", _note),
            ("close", _close),
            ("reopen", _reopen),
            ("cancel", _cancel),
            ("triage", _triage),
        )
    ),
]
