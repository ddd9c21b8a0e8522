"""`POST /android/events?phone=<name>`: every webhook of SMS Gateway for Android, from the phone `name` of
`ANDROID_PHONES`.

Each is checked first: `X-Signature` is the hex HMAC-SHA256 of the raw body followed by `X-Timestamp` (Unix
seconds), keyed with `ANDROID_SIGNING_KEY`, and the timestamp must be within five minutes of ours, so a recorded
webhook cannot be played again later. A bad, missing or old one is refused (403) and nothing is stored, not even
that the phone was heard from. Then, by event:

- `sms:received`: stored as an inbound SMS, exactly as a Twilio SMS is (`InboundBatcher`), under a SID made from
  the phone and the message's own fields, so a webhook the phone sends again is stored once.
- `sms:sent`, `sms:delivered`, `sms:failed`: a delivery report on one of our SMS, as Twilio's status callback.
- any event (a `system:ping` too): the phone is heard from; one quiet too long gets no new work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from dispatch import android_phones
from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import InboundSms
from dispatch.models import utcnow
from dispatch.phones import mask_phone
from dispatch.tasks import escalation
from hotline.handover import Decided, hand_over_async
from hotline.request_log import note
from hotline.services import Services
from hotline.webhooks.capped_body import capped_body
from workers.gateways.android_sms import PROVIDER_PREFIX, provider_id

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
REPLAY_WINDOW_SECONDS = 300  # the app's docs: accept a timestamp within five minutes
MAX_BODY = 64 * 1024  # a webhook is a few hundred bytes; a long SMS a few kB
STATUS_EVENTS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}


def signature_ok(key: str, body: bytes, timestamp: str | None, signature: str | None, now: float) -> bool:
    """True if `signature` is the app's signature of `body` at `timestamp` with `key`, and `timestamp` is recent."""
    if not key or not timestamp or not signature:
        return False
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return False
    expected = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def inbound_sid(phone: str, payload_id: str, sender: str, received_at: str, text: str) -> str:
    """The stored SID of an SMS the phone `phone` received: AG and 32 hex digits, the same for every copy of its
    webhook. The app's own messageId is a 32-bit hash, which two different messages can share, so the SID is made
    from it with the message's sender, time and text, never from it alone."""
    fields = "\x1f".join((phone, payload_id, sender, received_at, text))
    return PROVIDER_PREFIX + hashlib.sha256(fields.encode()).hexdigest()[:32]


def _envelope(body: bytes) -> tuple[str, dict[str, Any]]:
    """The webhook's event and payload. Raises InvalidInboundMessage (a 400) for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInboundMessage("body", "must be JSON") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("event"), str)
        or not isinstance(data.get("payload"), dict)
    ):
        raise InvalidInboundMessage("body", "must be a webhook: an object with an event and a payload")
    return data["event"], data["payload"]


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInboundMessage(name, "must be text")
    return value.replace("\x00", "")


async def android_events(request: Request) -> Response:
    """Check the signature, then act on the event (see the module's doc). Answers 204 once acted on."""
    services: Services = request.app.state.services
    settings = services.settings
    body = await capped_body(request, MAX_BODY, "a webhook")
    if isinstance(body, Response):
        return body
    key = settings.android_signing_key
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if key is None or not signature_ok(str(key), body, timestamp, signature, time.time()):
        log.warning("android webhook refused: %s signature", "bad or old" if signature else "no")
        return PlainTextResponse("Signature missing, invalid or too old", status_code=403)
    phone = request.query_params.get("phone", "")
    if phone not in {configured.name for configured in settings.android_phones}:
        raise InvalidInboundMessage("phone", "must name a phone of ANDROID_PHONES (…/android/events?phone=<name>)")
    event, payload = _envelope(body)
    if event == "sms:received":
        return await _received(request, services, phone, payload)
    if event in STATUS_EVENTS:
        return await _status(services, phone, event, payload)
    await run_in_threadpool(_heard, services, phone, event)
    return Response(status_code=204)


# A burst of SMS through one phone marks it heard once in this long, per web process, not once per SMS: each mark is
# a write transaction of its own, and a morning's replies would queue for the database's write lock behind them.
# Far below ANDROID_QUIET_MINUTES; pings and delivery reports still mark it every time.
HEARD_EVERY_SECONDS = 20.0


def _due_a_mark(request: Request, phone: str) -> bool:
    """True if this process has not marked `phone` heard within HEARD_EVERY_SECONDS (and it now counts as marked)."""
    marks: dict[str, float] | None = getattr(request.app.state, "android_heard", None)
    if marks is None:
        marks = request.app.state.android_heard = {}
    now = time.monotonic()
    if now - marks.get(phone, -HEARD_EVERY_SECONDS) < HEARD_EVERY_SECONDS:
        return False
    marks[phone] = now
    return True


def _heard(services: Services, phone: str, event: str) -> None:
    with services.sessions.begin() as session:
        android_phones.mark_heard(session, phone, event, utcnow())


async def _received(request: Request, services: Services, phone: str, payload: dict[str, Any]) -> Response:
    """Store the SMS once, as a Twilio SMS is stored, and queue its processing."""
    payload_id = _text(payload, "messageId")
    if not payload_id:
        raise InvalidInboundMessage("messageId", "is missing")
    sender = _text(payload, "sender") or _text(payload, "phoneNumber")  # phoneNumber: the app's older name
    text, received_at = _text(payload, "message"), _text(payload, "receivedAt")
    message = InboundSms.parse(
        message_sid=inbound_sid(phone, payload_id, sender, received_at, text),
        from_phone=sender,
        to_phone=_text(payload, "recipient"),
        body=text,
        region=services.settings.region,
        gateway="android",
    )
    stored = await request.app.state.inbound_batcher.store(message)
    if _due_a_mark(request, phone):
        await run_in_threadpool(_heard, services, phone, "sms:received")
    outcome = "stored" if stored.created else "duplicate"
    sender = mask_phone(message.from_phone)
    note(request, f"inbound sms via phone {phone} message={stored.message_id} from={sender} {outcome}")
    return Response(status_code=204)


async def _status(services: Services, phone: str, event: str, payload: dict[str, Any]) -> Response:
    """A delivery report on one of our SMS: forward only; a failure climbs a task offer's ladder, as Twilio's."""
    message_id = _text(payload, "messageId")
    outbound_id = android_phones.outbound_id_of(message_id)
    status = STATUS_EVENTS[event]

    def apply() -> tuple[bool, escalation.AfterFailure]:
        with services.sessions.begin() as session:
            android_phones.mark_heard(session, phone, event, utcnow())
            if outbound_id is None:  # an SMS someone else sent through the phone: not ours
                return False, escalation.AfterFailure()
            return escalation.after_delivery_report(
                session, provider_id(phone, message_id), status, outbound_id, services.clock(), services.intake
            )

    known, then = await run_in_threadpool(apply)
    log.info("android report outbound=%s: %s%s", outbound_id, status, "" if known else " (unknown message)")
    await hand_over_async(services, Decided(sends=then.now, resends=then.later))
    return Response(status_code=204)
