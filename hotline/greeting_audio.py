"""A liaison's recorded greeting, played to Twilio and to staff.

Twilio fetches the audio of a `<Play>` without our credentials, so the URL it is given is signed and expires:
`/voice/greetings/<id>?e=<expiry>&s=<signature>`, an HMAC of the id and the expiry with the hotline's secret key,
good for `LINK_SECONDS`. Without a valid, unexpired signature the answer is 404, as for a greeting that is not
pending or current (discarded, replaced, removed): nothing can be guessed or replayed later. The audio itself is
opened at the provider as a voicemail's is (`voicemail_audio.open_recorded`: only our account's recordings) and
streamed, never cached. Staff hear it through the console, in their scope, audited like a voicemail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dispatch.audit import Actor
from dispatch.exceptions import NotFound
from dispatch.voice_greetings import current_url, mark_gone, playable_url
from hotline.exceptions import VoicemailUnavailable
from hotline.services import Services
from hotline.settings import Settings
from hotline.voicemail_audio import audio_response, audited, open_recorded
from workers.gateways.recordings import RecordingMedia

log = logging.getLogger(__name__)
GREETING_AUDIO = "/voice/greetings"  # /<id>?e=<expiry>&s=<signature>: fetched by Twilio for <Play>
LINK_SECONDS = 15 * 60  # a check-in call plays its greeting as soon as it is answered


def _signature(settings: Settings, greeting_id: int, expiry: int) -> str:
    message = f"greeting:{greeting_id}:{expiry}".encode()
    return hmac.new(str(settings.secret_key).encode(), message, hashlib.sha256).hexdigest()[:40]


def greeting_link(settings: Settings, greeting_id: int, now: float) -> str:
    """The signed URL Twilio plays greeting `greeting_id` from, good for LINK_SECONDS from `now` (a timestamp)."""
    expiry = int(now) + LINK_SECONDS
    path = f"{GREETING_AUDIO}/{greeting_id}?e={expiry}&s={_signature(settings, greeting_id, expiry)}"
    return settings.callback_url(path)


def link_valid(settings: Settings, greeting_id: int, expiry: str, signature: str, now: float) -> bool:
    """True if `signature` is ours for this greeting and expiry, and the expiry has not passed."""
    if not (expiry.isascii() and expiry.isdigit() and len(expiry) <= 12) or int(expiry) < now:
        return False
    return hmac.compare_digest(signature.encode(), _signature(settings, greeting_id, int(expiry)).encode())


async def played_greeting(request: Request) -> Response:
    """GET /voice/greetings/<id>?e=&s=: a greeting's audio for Twilio's <Play>, with a signed, unexpired link."""
    services: Services = request.app.state.services
    greeting_id: int = request.path_params["greeting_id"]
    query = request.query_params
    expiry, signature = query.get("e", ""), query.get("s", "")
    if not link_valid(services.settings, greeting_id, expiry, signature, time.time()):
        return Response(status_code=404)

    def load() -> str:
        with services.readonly() as session:
            return playable_url(session, greeting_id)

    def forget() -> None:
        with services.sessions.begin() as session:
            if mark_gone(session, greeting_id, services.clock()):
                log.warning("greeting %s is gone at the provider: its check-in calls greet in TTS", greeting_id)

    try:
        url = await run_in_threadpool(load)
        media = await open_recorded(services, url, f"greeting {greeting_id}")
    except NotFound:
        return Response(status_code=404)
    except VoicemailUnavailable as exc:
        if exc.status == 404:  # gone, or not our account's: the next calls greet in text-to-speech
            await run_in_threadpool(forget)
        return Response(status_code=exc.status)
    return audio_response(media)


async def open_staff_greeting(services: Services, actor: Actor, liaison_id: int) -> RecordingMedia:
    """A liaison's current greeting for staff (the caller has checked the scope); each listen is audited.

    Raises:
        NotFound: They have none.
        VoicemailUnavailable: As for a voicemail.
    """

    def load() -> tuple[int, str]:
        with services.readonly() as session:
            return current_url(session, liaison_id)

    greeting_id, url = await run_in_threadpool(load)
    media = await open_recorded(services, url, f"liaison {liaison_id} greeting {greeting_id}")
    await audited(services, media, actor, "liaison", liaison_id, f"greeting:{greeting_id}")
    return media
