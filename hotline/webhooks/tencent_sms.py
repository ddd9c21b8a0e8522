"""`POST /tencent/sms/reply` and `POST /tencent/sms/status`: Tencent Cloud SMS's callbacks.

Tencent signs no callback, so each URL carries a secret (`?s=`, TENCENT_CALLBACK_SECRET), compared in constant
time; without it the request is refused and nothing is stored. A reply becomes the one inbound SMS the domain
knows and is stored exactly as Twilio's is; its id is a hash of what it says, so a callback delivered twice is
stored once. Delivery reports are applied as Twilio's are. Both answer Tencent's `{"result": 0, "errmsg": "OK"}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import InboundSms
from dispatch.phones import mask_phone
from dispatch.tasks import escalation
from hotline.handover import Decided, hand_over_async
from hotline.request_log import note
from hotline.services import Services
from hotline.webhooks.capped_body import capped_body
from hotline.webhooks.twilio_sms import whole_number

log = logging.getLogger(__name__)
MAX_CALLBACK_BODY = 64 * 1024  # a status push carries at most 100 reports of about 250 bytes each
MAX_REPORTS = 1000
_STATUSES = {"SUCCESS": "delivered", "FAIL": "undelivered"}
ANSWER = {"result": 0, "errmsg": "OK"}


async def callback_json(request: Request) -> Any:
    """The request's JSON if it carries our secret, else a 403 (or 413, 400) response. As with Twilio's webhooks,
    the body is read within its cap first, then the secret checked, and only then is the JSON read."""
    services: Services = request.app.state.services
    body = await capped_body(request, MAX_CALLBACK_BODY, "a Tencent callback")
    if isinstance(body, Response):
        return body
    configured = services.settings.tencent_callback_secret
    given = request.query_params.get("s", "")
    if configured is None or not hmac.compare_digest(given.encode(), str(configured).encode()):
        log.warning("webhook %s refused: %s secret", request.url.path, "wrong" if given else "no")
        return PlainTextResponse("Callback secret missing or wrong", status_code=403)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInboundMessage("body", "must be JSON, as Tencent posts it") from None


def _text(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInboundMessage(name, "must be a text" + (" and is required" if required else ""))
    return value.replace("\x00", "")


def reply_message(data: object, region: str) -> InboundSms:
    """A reply callback (extend, mobile, nationcode, sign, text, time) as the inbound SMS it is.

    Its id is "TC" and a hash of (nationcode, mobile, time, text): the callback carries no message id.

    Raises:
        InvalidInboundMessage: not an object, or a field missing or of the wrong type.
    """
    if not isinstance(data, dict):
        raise InvalidInboundMessage("body", "must be a JSON object")
    mobile, nationcode = _text(data, "mobile"), _text(data, "nationcode")
    if not isinstance(data.get("text"), str):  # present, but it may be blank: the message is kept all the same
        raise InvalidInboundMessage("text", "must be a text and is required")
    text = data["text"].replace("\x00", "")
    for optional in ("sign", "extend"):
        _text(data, optional, required=False)
    sent_at = data.get("time")
    if isinstance(sent_at, str):
        sent_at = whole_number(sent_at, most_digits=12)
    if not isinstance(sent_at, int) or isinstance(sent_at, bool) or sent_at < 0:
        raise InvalidInboundMessage("time", "must be a whole number of seconds")
    if not (nationcode.isascii() and nationcode.isdigit() and len(nationcode) <= 4):
        raise InvalidInboundMessage("nationcode", "must be the country code's digits")
    key = json.dumps([nationcode, mobile, sent_at, text], ensure_ascii=False).encode()
    return InboundSms.parse(
        message_sid="TC" + hashlib.sha256(key).hexdigest()[:32],
        from_phone=f"+{nationcode}{mobile.strip()}",
        to_phone="",
        body=text,
        region=region,
        gateway="tencent",
    )


async def sms_reply(request: Request) -> Response:
    """Store a resident's SMS once and queue its processing, as `twilio_sms.inbound_sms` does."""
    data = await callback_json(request)
    if isinstance(data, Response):
        return data
    services: Services = request.app.state.services
    message = reply_message(data, services.settings.region)
    stored = await request.app.state.inbound_batcher.store(message)
    outcome = "stored" if stored.created else "duplicate"
    note(request, f"inbound sms (tencent) message={stored.message_id} from={mask_phone(message.from_phone)} {outcome}")
    return JSONResponse(ANSWER)


def status_reports(data: object) -> list[tuple[str, str, int | None]]:
    """A status push (a JSON array) as (SerialNo, our status, our row's id if `ext` echoes it) per report.

    Raises:
        InvalidInboundMessage: not an array of reports with a `sid` and a `report_status` each.
    """
    if not isinstance(data, list) or len(data) > MAX_REPORTS:
        raise InvalidInboundMessage("body", f"must be a JSON array of at most {MAX_REPORTS} reports")
    reports = []
    for item in data:
        if not isinstance(item, dict):
            raise InvalidInboundMessage("report", "must be a JSON object")
        sid, status = _text(item, "sid"), _text(item, "report_status")
        ext = item.get("ext")
        outbound_id = whole_number(ext) if isinstance(ext, str) else None
        reports.append((sid[:64], _STATUSES.get(status.upper(), status.lower()), outbound_id))
    return reports


async def sms_status(request: Request) -> Response:
    """Record Tencent's delivery reports on our SMS, one transaction each, as `twilio_sms.message_status` does: a
    failure climbs a task offer's ladder, or moves a check-in on to its call."""
    data = await callback_json(request)
    if isinstance(data, Response):
        return data
    services: Services = request.app.state.services
    reports = status_reports(data)

    def apply(sid: str, status: str, outbound_id: int | None) -> tuple[bool, escalation.AfterFailure]:
        with services.sessions.begin() as session:
            return escalation.after_delivery_report(
                session, sid, status, outbound_id, services.clock(), services.intake
            )

    for sid, status, outbound_id in reports:
        known, then = await run_in_threadpool(apply, sid, status, outbound_id)
        log.info("status report (tencent) for %s: %s%s", sid, status, "" if known else " (unknown message)")
        await hand_over_async(services, Decided(sends=then.now, resends=then.later))
    return JSONResponse(ANSWER)
