"""Ring to check in on the resident's page: `POST /register/residents/<id>/ring` sets the resident's ring mode
(`dispatch.checkins.ring_settings`); the section itself: `ring_section` and `_resident_ring.html`."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.checkins.ring_settings import change_ring_mode
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.register import resident_page
from hotline.console.render import page
from hotline.console.ring_section import ERROR
from hotline.services import Services


@staff_only()
async def set_ring_mode(request: Request) -> Response:
    """POST: the resident's ring mode. Saved (or unchanged): back to the page's section. Refused: the page, 422."""
    services: Services = request.app.state.services
    user = request.state.user
    resident_id: int = request.path_params["resident_id"]
    form = await request.form()
    mode = form.get("mode", "")

    def run() -> None:
        with services.sessions.begin() as session:
            change_ring_mode(
                session,
                resident_id,
                mode if isinstance(mode, str) else "",
                actor=user,
                where=household_scope(user),
                now=services.clock(),
            )

    try:
        await run_in_threadpool(run)
    except NotFound:
        return page(request, "resident.html", user, status_code=404, history=None)
    except InvalidAction:
        setattr(request.state, ERROR, True)
        return await resident_page(request, resident_id, status_code=422)
    return RedirectResponse(f"/register/residents/{resident_id}?ring=saved#ring", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/register/residents/{resident_id:id}/ring", set_ring_mode, methods=["POST"]),
]
