"""A household's access notes on the resident's page: who holds a key, the door code, a short note. Visit tasks
carry them in their SMS (`dispatch.tasks.task_texts.access_words`); the rules are `dispatch.register.access_notes`.

The page shows the door code to staff in scope behind a "show" control (a `<details>`, no script), so it is not
on screen for whoever stands behind the desk; the edit form shows it, to be corrected."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import NotFound
from dispatch.register.access_notes import ACCESS_FIELDS, LIMITS, AccessNotes, household_access, set_access
from dispatch.register.edit import EditRefused, FieldProblem, phone_for_form
from dispatch.register.history import resident_in_scope
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.render import page
from hotline.services import Services


def access_for_page(services: Services, household_id: int) -> AccessNotes:
    """The household's access notes, for the resident's page (which has checked the scope)."""
    with services.readonly() as session:
        return household_access(session, household_id)


@staff_only()
async def edit_access(request: Request) -> Response:
    """GET: the form. POST: the access notes, all or nothing (each bad field shown beside it); the same values again
    change nothing and record nothing. Saved: back to the resident's page."""
    services: Services = request.app.state.services
    user = request.state.user
    resident_id: int = request.path_params["resident_id"]
    where, region = household_scope(user), services.settings.region
    submitted: dict[str, str] | None = None
    if request.method == "POST":
        form = await request.form()
        submitted = {field: str(form.get(field, "")) for field in ACCESS_FIELDS}

    def save(values: dict[str, str]) -> list[FieldProblem]:
        with services.sessions.begin() as session:
            try:
                set_access(session, resident_id, values, actor=user, where=where, region=region)
            except EditRefused as exc:
                session.rollback()
                return exc.problems
        return []

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            resident = resident_in_scope(session, resident_id, where)
            notes = household_access(session, resident.household_id)
            form = {field: getattr(notes, field) for field in ACCESS_FIELDS}
            form["key_holder_phone"] = phone_for_form(notes.key_holder_phone, region)
            return {"resident_id": resident.id, "name": resident.name, "form": form}

    try:
        problems = await run_in_threadpool(save, submitted) if submitted is not None else []
        if submitted is not None and not problems:
            return RedirectResponse(f"/register/residents/{resident_id}?saved=1#access", status_code=303)
        data = await run_in_threadpool(load)
    except NotFound:
        return page(request, "resident.html", user, status_code=404, history=None)
    if submitted is not None:
        data["form"] = submitted
    response = page(
        request,
        "resident_access.html",
        user,
        status_code=400 if problems else 200,
        errors={p.field: p for p in problems},
        limits=LIMITS,
        **data,
    )
    response.headers["Cache-Control"] = "no-store"  # the door code: not kept by the browser
    return response


ROUTES: list[BaseRoute] = [
    Route("/register/residents/{resident_id:id}/access", edit_access, methods=["GET", "POST"]),
]
