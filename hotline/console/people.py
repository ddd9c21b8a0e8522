"""The register's liaisons in the console (`dispatch.register.liaison_admin`): admins keep every one, a clerk
those of their own community. Stopping a liaison first shows which households pass to their backups and which
are left with no one; those stay listed as uncovered on the liaisons page until someone is assigned.

Staff accounts and API tokens are in `hotline.console.staff`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import NotFound
from dispatch.models import Household, Liaison, StaffRole, StaffUser
from dispatch.phones import national_format
from dispatch.register.coverage import Deactivation, describe_address, households_without_liaison
from dispatch.register.edit import EditRefused, FieldProblem, phone_for_form
from dispatch.register.liaison_admin import (
    LiaisonForm,
    add_managed_liaison,
    deactivate_managed_liaison,
    grid_choices,
    household_names,
    list_managed,
    managed_liaison,
    preview_deactivation,
    update_managed_liaison,
)
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.params import as_id
from hotline.console.render import page
from hotline.handover import Decided, hand_over_async
from hotline.services import Services

KEEPERS = (StaffRole.ADMIN, StaffRole.CLERK)
NO_GRID = -1  # a grid field naming no grid anyone may use (not a number, or one that does not exist)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _household(household: Household) -> dict[str, str]:
    """A household as a page shows it: its residents' names and its address."""
    return {"names": household_names(household), "address": describe_address(household)}


def _liaison(liaison: Liaison) -> dict[str, Any]:
    grid = liaison.grid
    return {
        "id": liaison.id,
        "name": liaison.name,
        "phone": national_format(liaison.phone) if liaison.phone else "",
        "grid": f"{grid.community.name} {grid.name}" if grid is not None else "",
        "grid_id": liaison.grid_id,
        "active": liaison.active,
    }


def _form(form: FormData) -> LiaisonForm:
    raw_grid = str(form.get("grid", "")).strip()
    grid_id = None if not raw_grid else (as_id(raw_grid) or NO_GRID)
    return LiaisonForm(name=str(form.get("name", "")), phone=str(form.get("phone", "")), grid_id=grid_id)


def _missing(request: Request, user: StaffUser) -> Response:
    """A liaison that does not exist and one outside the account's reach get this same answer."""
    return page(request, "liaison_missing.html", user, status_code=404)


def _list_data(services: Services, user: StaffUser) -> dict[str, Any]:
    with services.readonly() as session:
        return {
            "liaisons": [_liaison(x) for x in list_managed(session, user)],
            "grids": grid_choices(session, user),
            "uncovered": [_household(h) for h in households_without_liaison(session, household_scope(user))],
        }


async def _list_page(
    request: Request, user: StaffUser, *, status_code: int = 200, form: dict[str, str] | None = None, **extra: Any
) -> Response:
    data = await run_in_threadpool(_list_data, _services(request), user)
    form = form or {"name": "", "phone": "", "grid": ""}
    return page(
        request,
        "liaisons.html",
        user,
        status_code=status_code,
        form=form,
        errors=extra.pop("errors", {}),
        done=request.query_params.get("done", ""),
        **data,
        **extra,
    )


@staff_only(*KEEPERS)
async def liaisons(request: Request) -> Response:
    """GET: the liaisons this account keeps, the households no liaison covers, and a form to add one. POST: add
    one; the same name and number again finds the one already added."""
    user: StaffUser = request.state.user
    if request.method == "GET":
        return await _list_page(request, user)
    services = _services(request)
    raw = await request.form()
    form = _form(raw)

    def add() -> int:
        with services.sessions.begin() as session:
            return add_managed_liaison(session, user, user, form, services.settings.region).id

    try:
        await run_in_threadpool(add)
    except EditRefused as exc:
        typed = {key: str(raw.get(key, "")) for key in ("name", "phone", "grid")}
        return await _list_page(request, user, status_code=400, form=typed, errors=_errors(exc.problems))
    return RedirectResponse("/people/liaisons?done=added", status_code=303)


def _errors(problems: list[FieldProblem]) -> dict[str, str]:
    return {p.field: p.code for p in problems}


@staff_only(*KEEPERS)
async def edit_liaison(request: Request) -> Response:
    """GET: the form with the liaison's name, number and grid. POST: save them, all or nothing."""
    services, user = _services(request), request.state.user
    liaison_id: int = request.path_params["liaison_id"]
    region = services.settings.region
    errors: dict[str, str] = {}
    typed: dict[str, str] | None = None
    if request.method == "POST":
        raw = await request.form()
        form = _form(raw)

        def save() -> None:
            with services.sessions.begin() as session:
                update_managed_liaison(session, user, user, liaison_id, form, region)

        try:
            await run_in_threadpool(save)
        except NotFound:
            return _missing(request, user)
        except EditRefused as exc:
            errors = _errors(exc.problems)
            typed = {key: str(raw.get(key, "")) for key in ("name", "phone", "grid")}
        else:
            return RedirectResponse("/people/liaisons?done=saved", status_code=303)

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            liaison = managed_liaison(session, user, liaison_id)
            shown = _liaison(liaison)
            current = {"name": liaison.name, "phone": phone_for_form(liaison.phone, region)}
            current["grid"] = str(liaison.grid_id) if liaison.grid_id is not None else ""
            return {"liaison": shown, "form": current, "grids": grid_choices(session, user)}

    try:
        data = await run_in_threadpool(load)
    except NotFound:
        return _missing(request, user)
    if typed is not None:
        data["form"] = typed
    return page(request, "liaison_edit.html", user, status_code=400 if errors else 200, errors=errors, **data)


def _outcome(result: Deactivation, category: Callable[[str], str]) -> dict[str, Any]:
    """Who passes to whom, who is left with no one, and who loses this liaison as their backup."""
    return {
        "moved": [
            {**_household(h), "to": h.backup_liaison.name if h.backup_liaison else ""} for h in result.moved_to_backup
        ],
        "uncovered": [_household(h) for h in result.uncovered],
        "backup_removed": [_household(h) for h in result.backup_removed],
        "errands": [
            {"id": str(task.id), "category": category(task.category), "to": to.name if to else ""}
            for task, to in result.errands
        ],
    }


def _moved_after(result: Deactivation) -> list[dict[str, str]]:
    """After the change the backup is the household's primary liaison."""
    return [
        {**_household(h), "to": h.primary_liaison.name if h.primary_liaison else ""} for h in result.moved_to_backup
    ]


@staff_only(*KEEPERS)
async def deactivate(request: Request) -> Response:
    """GET: what stopping this liaison would do, household by household, and a button to confirm. POST: stop
    them and show what was done; a second click finds them stopped and changes nothing."""
    if request.method == "POST":
        await request.form()  # nothing in it is needed, but a body over the cap is refused (413) before anything else
    services, user = _services(request), request.state.user
    liaison_id: int = request.path_params["liaison_id"]

    def category(name: str) -> str:
        return services.catalog.render(f"category_{name}", user.language)

    def preview() -> dict[str, Any]:
        with services.readonly() as session:
            liaison, plan = preview_deactivation(session, user, user, liaison_id)
            return {
                "liaison": _liaison(liaison),
                "plan": _outcome(plan, category),
                "stage": "preview" if liaison.active else "was",
            }

    def confirm() -> dict[str, Any]:
        with services.sessions.begin() as session:
            liaison, result = deactivate_managed_liaison(
                session, user, user, liaison_id, now=services.clock(), context=services.intake
            )
            if result is None:
                return {"liaison": _liaison(liaison), "plan": None, "stage": "was"}
            outcome = _outcome(result, category)
            outcome["moved"] = _moved_after(result)
            return {"liaison": _liaison(liaison), "plan": outcome, "stage": "done", "outbound": result.outbound}

    try:
        data = await run_in_threadpool(preview if request.method == "GET" else confirm)
    except NotFound:
        return _missing(request, user)
    await hand_over_async(services, Decided(sends=data.pop("outbound", [])))
    return page(request, "liaison_deactivate.html", user, **data)


ROUTES: list[BaseRoute] = [
    Route("/people/liaisons", liaisons, methods=["GET", "POST"]),
    Route("/people/liaisons/{liaison_id:id}/edit", edit_liaison, methods=["GET", "POST"]),
    Route("/people/liaisons/{liaison_id:id}/deactivate", deactivate, methods=["GET", "POST"]),
]
