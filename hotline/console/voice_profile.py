"""The resident's profile for hearing and memory on their page: how the hotline's calls speak to them (slower,
louder, said twice, short menus, an SMS copy). Staff tick the switches; `dispatch.register.hearing_profiles`
checks the resident is in scope, records what changed, and changes nothing when nothing did."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import InvalidAction, NotFound
from dispatch.ivr.hearing import SWITCHES
from dispatch.register.hearing_profiles import read_switches, set_profile
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.register import resident_page
from hotline.services import Services


@staff_only()
async def save_voice_profile(request: Request) -> Response:
    """POST: the ticked switches (a box left unticked is off). Saved, or already so: the page again, saying so."""
    services: Services = request.app.state.services
    user = request.state.user
    resident_id: int = request.path_params["resident_id"]
    form = await request.form()
    ticked = {name: str(form.get(name, "")) for name in SWITCHES}

    def run() -> None:
        with services.sessions.begin() as session:
            set_profile(session, resident_id, read_switches(ticked, form=True), actor=user, where=household_scope(user))

    try:
        await run_in_threadpool(run)
    except (NotFound, InvalidAction):
        return await resident_page(request, resident_id)  # the same answer as the page: 404 out of scope
    return RedirectResponse(f"/register/residents/{resident_id}?profile=saved#voice-profile", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/register/residents/{resident_id:id}/voice-profile", save_voice_profile, methods=["POST"]),
]
