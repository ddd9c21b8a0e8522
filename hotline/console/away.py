"""Away and in hospital on the resident's page: set a resident away until a return date (or change it), end it
early. Each form carries a key of its own (a double click sets one absence) and the CSRF token; a refusal shows the
resident's page again, saying why in words. The domain is `dispatch.register.away`."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import InvalidAction, NotFound
from dispatch.register.away import end_absence, set_absence
from dispatch.register.edit import EditRefused
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.refusals import refusal
from hotline.console.register import resident_page
from hotline.console.render import CONSOLE_TEXTS, language_of
from hotline.handover import Decided, hand_over_async
from hotline.services import Services


@staff_only()
async def set_away(request: Request) -> Response:
    """POST: set the resident away (reason, note, return date, tell the family), or change their absence."""
    services: Services = request.app.state.services
    user = request.state.user
    resident_id: int = request.path_params["resident_id"]
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}

    def run() -> Any:
        with services.sessions.begin() as session:
            return set_absence(
                session,
                services.intake.checkin,
                resident_id,
                reason=form.get("reason", ""),
                note=form.get("note", ""),
                return_on=form.get("return_on", ""),
                tell_family=form.get("tell_family") == "1",
                request_key=form.get("request_key", ""),
                actor=user,
                where=household_scope(user),
                now=services.clock(),
                catalog=services.catalog,
            )

    language = language_of(request, user)
    try:
        done = await run_in_threadpool(run)
    except NotFound:
        return await resident_page(request, resident_id, status_code=404)
    except EditRefused as exc:
        said = " ".join(CONSOLE_TEXTS.render(f"away_err_{p.field}_{p.code}", language) for p in exc.problems)
        return await resident_page(request, resident_id, status_code=422, away_error=said, away_form=form)
    except InvalidAction as exc:
        said = refusal(exc, language, services.catalog)
        return await resident_page(request, resident_id, status_code=422, away_error=said, away_form=form)
    await hand_over_async(services, Decided(sends=list(done.sends)))  # the care circle, told of a hospital stay
    outcome = "set" if done.created else "changed" if done.changed else "none"
    return RedirectResponse(f"/register/residents/{resident_id}?away={outcome}#away", status_code=303)


@staff_only()
async def end_away(request: Request) -> Response:
    """POST: end the resident's absence now (back early). A second click finds nothing to end and changes
    nothing."""
    services: Services = request.app.state.services
    user = request.state.user
    resident_id: int = request.path_params["resident_id"]
    await request.form()  # read first, as every form is: a body over the cap is refused before anything

    def run() -> int | None:
        with services.sessions.begin() as session:
            return end_absence(session, resident_id, actor=user, where=household_scope(user), now=services.clock())

    try:
        ended = await run_in_threadpool(run)
    except NotFound:
        return await resident_page(request, resident_id, status_code=404)
    outcome = "ended" if ended is not None else "none"
    return RedirectResponse(f"/register/residents/{resident_id}?away={outcome}#away", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/register/residents/{resident_id:id}/absence", set_away, methods=["POST"]),
    Route("/register/residents/{resident_id:id}/absence/end", end_away, methods=["POST"]),
]
