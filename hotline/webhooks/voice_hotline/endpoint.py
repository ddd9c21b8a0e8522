"""A voice webhook endpoint around one step of a call: the signature check, the step in a thread, valid TwiML
whatever happens inside, then the stored work handed to Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import claim_webhook, remember_answer
from dispatch.phones import mask_phone
from hotline.handover import Decided, hand_over_async
from hotline.webhooks.twilio_sms import IDEMPOTENCY_HEADER, signed_form

if TYPE_CHECKING:
    from hotline.webhooks.voice_hotline.steps import VoiceHotline

log = logging.getLogger(__name__)


@dataclass
class Work:
    """Ids to queue once the transaction has committed."""

    inbound: list[int] = field(default_factory=list)
    outbound: list[int] = field(default_factory=list)


def form_text(form: FormData, name: str) -> str:
    """A form field as text; "" if missing (or an upload)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


Step = Callable[["VoiceHotline", Session, FormData, dict[str, str]], tuple[str, Work]]


def run_step(
    voice: VoiceHotline, step: Step, form: FormData, query: dict[str, str], path: str, token: str
) -> tuple[str, Work]:
    """One step in one transaction. With Twilio's idempotency token, a retry of a webhook already answered gets the
    first answer again and runs nothing: the receipt is claimed in the same transaction as the step's effects."""
    with voice.services.sessions.begin() as session:
        if token:
            answered = claim_webhook(session, token, path)
            if answered is not None:
                log.info("voice %s: a retry of a webhook already answered; nothing done again", path)
                return answered, Work()
        twiml, work = step(voice, session, form, query)
        if token:
            remember_answer(session, token, twiml)
        return twiml, work


def voice_endpoint(step: Step) -> Callable:  # type: ignore[type-arg]
    """A Starlette endpoint for one step: signature check, the step in a thread, valid TwiML whatever happens,
    then the queued work handed to Redis."""

    async def endpoint(request: Request) -> Response:
        form = await signed_form(request)
        if isinstance(form, Response):
            return form
        voice: VoiceHotline = request.app.state.voice
        services = voice.services
        token = request.headers.get(IDEMPOTENCY_HEADER, "")
        query, path = dict(request.query_params), request.url.path
        try:
            twiml, work = await run_in_threadpool(run_step, voice, step, form, query, path, token)
        except InvalidInboundMessage:
            raise
        except Exception:
            log.exception("voice %s failed for caller %s", request.url.path, mask_phone(form_text(form, "From")))
            duty = services.settings.duty_phone or voice.known_duty_phone
            return Response(voice.render.failure(services.settings.language, duty), media_type="text/xml")
        await hand_over_async(services, Decided(inbound=work.inbound, sends=work.outbound))
        if not twiml:
            return Response(status_code=204)
        return Response(twiml, media_type="text/xml")

    return endpoint
