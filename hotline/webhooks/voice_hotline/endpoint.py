"""A voice webhook endpoint around one step of a call: the signature check, the step in a thread, valid TwiML
whatever happens inside, then the stored work handed to Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dispatch.exceptions import InvalidInboundMessage
from dispatch.phones import mask_phone
from hotline.services import Services
from hotline.webhooks.twilio_sms import signed_form
from workers.queues import enqueue_inbound, enqueue_send

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


def voice_endpoint(step: Callable[[VoiceHotline, FormData, dict[str, str]], tuple[str, Work]]) -> Callable:  # type: ignore[type-arg]
    """A Starlette endpoint for one step: signature check, the step in a thread, valid TwiML whatever happens,
    then the queued work handed to Redis."""

    async def endpoint(request: Request) -> Response:
        form = await signed_form(request)
        if isinstance(form, Response):
            return form
        voice: VoiceHotline = request.app.state.voice
        services = voice.services
        try:
            twiml, work = await run_in_threadpool(step, voice, form, dict(request.query_params))
        except InvalidInboundMessage:
            raise
        except Exception:
            log.exception("voice %s failed for caller %s", request.url.path, mask_phone(form_text(form, "From")))
            duty = services.settings.duty_phone or voice.known_duty_phone
            return Response(voice.render.failure(services.settings.language, duty), media_type="text/xml")
        await _hand_over(services, work)
        if not twiml:
            return Response(status_code=204)
        return Response(twiml, media_type="text/xml")

    return endpoint


async def _hand_over(services: Services, work: Work) -> None:
    """Queue what the step stored. If Redis is down it is still stored; the sweeper queues it later."""
    for queue, ids in ((enqueue_inbound, work.inbound), (enqueue_send, work.outbound)):
        for item in ids:
            try:
                await run_in_threadpool(queue, services.redis, item)
            except RedisError as exc:
                log.error("voice work %s stored but not queued (%s); sweeper will retry", item, exc)
