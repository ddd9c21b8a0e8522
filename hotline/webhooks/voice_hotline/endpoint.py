"""A voice webhook endpoint around one step of a call: the signature check, the step run in the process's group
commit (`group_commit`), valid TwiML whatever happens inside."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dispatch.exceptions import InvalidInboundMessage
from dispatch.phones import mask_phone
from hotline.webhooks.twilio_sms import IDEMPOTENCY_HEADER, signed_form
from hotline.webhooks.voice_hotline.group_commit import Step, StepRequest

if TYPE_CHECKING:
    from hotline.webhooks.voice_hotline.steps import VoiceHotline

log = logging.getLogger(__name__)


def form_text(form: FormData, name: str) -> str:
    """A form field as text; "" if missing (or an upload)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def voice_endpoint(step: Step) -> Callable:  # type: ignore[type-arg]
    """A Starlette endpoint for one step: signature check, the step run by the process's writer with the other
    callers' steps waiting (`group_commit.StepWriter`), valid TwiML whatever happens. The caller is answered
    once the step's batch has committed; the request ends when the batch's work has been handed to Redis, after
    the answer was sent."""

    async def endpoint(request: Request) -> Response:
        form = await signed_form(request)
        if isinstance(form, Response):
            return form
        voice: VoiceHotline = request.app.state.voice
        services = voice.services
        token = request.headers.get(IDEMPOTENCY_HEADER, "")
        # As `dict(request.query_params)` and `request.url.path`, without building those objects on every step.
        query = dict(parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True))
        path = request.scope["path"]
        try:
            (twiml, _), handed = await voice.writer.run(StepRequest(step, form, query, path, token))
        except InvalidInboundMessage:
            raise
        except Exception:
            log.exception("voice %s failed for caller %s", path, mask_phone(form_text(form, "From")))
            duty = services.settings.duty_phone or voice.known_duty_phone
            return Response(voice.render.failure(services.settings.language, duty), media_type="text/xml")
        after = None if handed.done() else BackgroundTask(_handed_over, handed)
        if not twiml:
            return Response(status_code=204, background=after)
        return Response(twiml, media_type="text/xml", background=after)

    return endpoint


async def _handed_over(handed: asyncio.Future[None]) -> None:
    """After the answer is sent: the request ends once its batch's work is in Redis (shielded: the other callers
    of the batch wait for the same hand-over)."""
    await asyncio.shield(handed)
