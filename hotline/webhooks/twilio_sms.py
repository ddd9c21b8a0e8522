"""`POST /twilio/sms` and `POST /twilio/status`.

The inbound SMS webhook stores first (a group commit with the webhooks that arrive with it), queues its processing
after the commit, and answers. If Redis is down the message is still stored and answered 200; the sweeper queues
it when Redis is back.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.twiml.messaging_response import MessagingResponse

from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import InboundSms
from dispatch.phones import mask_phone
from dispatch.tasks import escalation
from hotline.handover import Decided, hand_over_async
from hotline.request_log import note
from hotline.services import Services
from hotline.webhooks.capped_body import capped_body
from hotline.webhooks.signatures import SIGNATURE_HEADER

log = logging.getLogger(__name__)
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
MAX_WEBHOOK_BODY = 64 * 1024  # Twilio's largest webhook (a 1,600-character SMS, all its fields) is a few kB
MAX_FIELDS = 200
_EMPTY_TWIML = str(MessagingResponse())


def _twiml(body: str) -> Response:
    return Response(body, media_type="text/xml")


def form_pairs(text: str) -> list[tuple[str, str | UploadFile]]:
    """`text` (`application/x-www-form-urlencoded`) as (name, value) pairs, blanks kept: what
    `parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)` gives, in about half its time (a field
    needs no unquoting unless it holds a `%`, and most of Twilio's do not).

    Raises:
        ValueError: more than MAX_FIELDS fields.
    """
    if text and text.count("&") + 1 > MAX_FIELDS:
        raise ValueError("Max number of fields exceeded")
    pairs: list[tuple[str, str | UploadFile]] = []
    for piece in text.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((_unquote_plus(name), _unquote_plus(value)))
    return pairs


def _unquote_plus(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


async def signed_form(request: Request) -> FormData | Response:
    """The request's form if Twilio's signature on it is good, else a 403 (or 413, 400) response.

    Twilio posts `application/x-www-form-urlencoded` bodies of a few kilobytes. They are read as the standard
    library's `parse_qsl` reads them (`form_pairs`), a fraction of the cost of a general form parser on this, the
    busiest path.
    """
    services: Services = request.app.state.services
    body = await capped_body(request, MAX_WEBHOOK_BODY, "a Twilio webhook")
    if isinstance(body, Response):
        return body
    try:
        pairs = form_pairs(body.decode("utf-8", "replace"))
    except ValueError:
        return PlainTextResponse("Too many form fields for a Twilio webhook", status_code=400)
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(str(value))
    signature = request.headers.get(SIGNATURE_HEADER)
    # The path and query as sent (what `request.url` would give, without building the whole URL first).
    path, query = request.scope["path"], request.scope["query_string"].decode()
    if not services.signature.is_valid(path, query, params, signature):
        log.warning("webhook %s refused: %s signature", path, "bad" if signature else "no")
        return PlainTextResponse("Twilio signature missing or invalid", status_code=403)
    # A NUL means nothing in any Twilio field, and PostgreSQL cannot store one in text: dropped, once checked.
    return FormData([(key, str(value).replace("\x00", "")) for key, value in pairs])


def whole_number(text: str | None, most_digits: int = 9) -> int | None:
    """`text` as a number if it is 1 to `most_digits` ASCII digits (9 fit any integer column), else None: "²"
    passes isdigit() but not int(), and 30 digits overflow the database."""
    if text and text.isascii() and text.isdigit() and len(text) <= most_digits:
        return int(text)
    return None


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInboundMessage(name, "must be a text field")
    return value


async def inbound_sms(request: Request) -> Response:
    """Store an inbound SMS once (keyed by MessageSid) and queue its processing, then answer empty TwiML.

    The store is a group commit (`InboundBatcher`): webhooks arriving together share one transaction and one job.
    """
    form = await signed_form(request)
    if isinstance(form, Response):
        return form
    services: Services = request.app.state.services
    message = InboundSms.parse(
        message_sid=_field(form, "MessageSid") or _field(form, "SmsSid"),
        from_phone=_field(form, "From"),
        to_phone=_field(form, "To"),
        body=_field(form, "Body"),
        region=services.settings.region,
        idempotency_token=request.headers.get(IDEMPOTENCY_HEADER),
        # Twilio's form: from Twilio itself, or from the phone simulator when the hotline runs on the local gateway
        gateway="twilio" if "twilio" in services.settings.gateways else "local",
    )
    stored = await request.app.state.inbound_batcher.store(message)
    # On the request's one log line (RequestLog), not a line of its own.
    outcome = "stored" if stored.created else "duplicate"
    note(request, f"inbound sms message={stored.message_id} from={mask_phone(message.from_phone)} {outcome}")
    # Replies go out through the outbox, never in this response, so a retried webhook cannot reply twice.
    return _twiml(_EMPTY_TWIML)


async def message_status(request: Request) -> Response:
    """Record a delivery report for one of our outbound SMS. Reports may come late and out of order."""
    form = await signed_form(request)
    if isinstance(form, Response):
        return form
    services: Services = request.app.state.services
    sid, status = _field(form, "MessageSid"), _field(form, "MessageStatus")
    if not sid or not status:
        raise InvalidInboundMessage("MessageSid and MessageStatus", "are required")
    outbound_id = request.query_params.get("o")
    if outbound_id is not None and whole_number(outbound_id) is None:
        raise InvalidInboundMessage("o", "must be a message id")
    raw_code = _field(form, "ErrorCode")
    if raw_code and whole_number(raw_code) is None:
        raise InvalidInboundMessage("ErrorCode", "must be a number")
    error_code = whole_number(raw_code)

    def apply() -> tuple[bool, escalation.AfterFailure]:
        # Never reached the phone: a task offer climbs now, a check-in SMS moves on to its call; throttled: sent
        # again once, later.
        with services.sessions.begin() as session:
            return escalation.after_delivery_report(
                session,
                sid,
                status,
                int(outbound_id) if outbound_id else None,
                services.clock(),
                services.intake,
                error_code,
            )

    known, then = await run_in_threadpool(apply)
    note(request, f"status report for {sid}: {status}{'' if known else ' (unknown message)'}")
    await hand_over_async(services, Decided(sends=then.now, resends=then.later))
    return Response(status_code=204)
