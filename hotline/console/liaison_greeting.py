"""A liaison's recorded check-in greeting in the console: staff who keep the liaison (`managed_liaison`: admins,
a clerk their community's) see their recordings, hear the current one (audited, as a voicemail) and may remove
it, after which their households' check-in calls greet in text-to-speech again."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import NotFound
from dispatch.register.liaison_admin import managed_liaison
from dispatch.voice_greetings import greeting_history, remove_greeting
from hotline.console.auth import staff_only
from hotline.console.people import KEEPERS
from hotline.console.render import CONSOLE_TEXTS, page
from hotline.exceptions import VoicemailUnavailable
from hotline.greeting_audio import open_staff_greeting
from hotline.services import Services
from hotline.voicemail_audio import audio_response


@staff_only(*KEEPERS)
async def liaison_greeting(request: Request) -> Response:
    """GET: the liaison's greetings, the current one playable. POST: remove the current one (a second click finds
    none and changes nothing)."""
    services: Services = request.app.state.services
    user = request.state.user
    liaison_id: int = request.path_params["liaison_id"]
    removing = request.method == "POST"
    if removing:
        await request.form()  # a body over the cap is refused (413) before anything else

    def act() -> dict[str, Any]:
        with services.sessions.begin() as session:
            liaison = managed_liaison(session, user, liaison_id)
            removed = remove_greeting(session, user, liaison.id, services.clock()) if removing else False
            history = greeting_history(session, liaison.id)
            return {
                "liaison": {"id": liaison.id, "name": liaison.name},
                "current": next((g for g in history if g.status == "current"), None),
                "history": history,
                "removed": removed,
                "posted": removing,
            }

    try:
        data = await run_in_threadpool(act)
    except NotFound:
        return page(request, "liaison_missing.html", user, status_code=404)
    return page(request, "liaison_greeting.html", user, **data)


@staff_only(*KEEPERS)
async def liaison_greeting_audio(request: Request) -> Response:
    """The liaison's current greeting, fetched from the provider for staff who keep the liaison; audited."""
    services: Services = request.app.state.services
    user = request.state.user
    liaison_id: int = request.path_params["liaison_id"]

    def scoped() -> None:
        with services.readonly() as session:
            managed_liaison(session, user, liaison_id)

    try:
        await run_in_threadpool(scoped)
        media = await open_staff_greeting(services, user, liaison_id)
    except NotFound:
        return page(request, "liaison_missing.html", user, status_code=404)
    except VoicemailUnavailable as exc:
        words = CONSOLE_TEXTS.render(exc.text, user.language)
        return Response(words, status_code=exc.status, media_type="text/plain; charset=utf-8")
    return audio_response(media)


ROUTES: list[BaseRoute] = [
    Route("/people/liaisons/{liaison_id:id}/greeting", liaison_greeting, methods=["GET", "POST"]),
    Route("/people/liaisons/{liaison_id:id}/greeting/audio", liaison_greeting_audio),
]
