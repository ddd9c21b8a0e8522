"""`POST /twilio/voice/message?o=<id>`: what an automated call from the hotline says (feedback to residents on
voice). Signed like every webhook. Whatever goes wrong, the caller hears valid TwiML, never silence."""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from dispatch.ivr.call_facts import placed_call_words
from dispatch.ivr.hearing import NO_PROFILE, Profile
from dispatch.register.hearing_profiles import profile_for_outbound
from hotline.services import Services
from hotline.webhooks.twilio_sms import signed_form
from hotline.webhooks.voice_render import Speaker

log = logging.getLogger(__name__)


def _say_twice(speaker: Speaker, text: str, language: str, profile: Profile = NO_PROFILE) -> str:
    """Said twice with a pause, in the voice the settings name (slower or louder as the resident's profile
    asks): the people this calls may not hear well the first time."""
    response = VoiceResponse()
    once = replace(profile, twice=False)  # said twice here whatever the profile
    speaker.say(response, text, language, once)
    response.pause(length=1)
    speaker.say(response, text, language, once)
    return str(response)


async def voice_message(request: Request) -> Response:
    """The words of one outbound call, read from the outbox row the call was placed for."""
    form = await signed_form(request)
    if isinstance(form, Response):
        return form
    services: Services = request.app.state.services
    speaker: Speaker = request.app.state.voice.render.speaker
    raw = request.query_params.get("o", "")

    def load() -> tuple[str, str, Profile] | None:
        if not raw.isdigit():
            return None
        with services.readonly() as session:
            words = placed_call_words(session, int(raw))
            return (*words, profile_for_outbound(session, int(raw))) if words is not None else None

    try:
        found = await run_in_threadpool(load)
    except Exception:  # the database is down: still say something kind, never dead air
        log.exception("voice message %s could not be loaded", raw)
        found = None
    if found is None:
        language = services.settings.language
        twiml = _say_twice(speaker, services.catalog.render("voice_message_unavailable", language), language)
    else:
        twiml = _say_twice(speaker, *found)
    return Response(twiml, media_type="text/xml")
