"""`POST /tencent/voice/callback?s=<secret>`: Tencent Cloud voice messages' callbacks on the check-in call, one URL
for all of them (set in the VMS console, 事件回调配置), each body a JSON object wrapped in its kind's key:

    voicekey_callback       a key pressed (keypress): a choice at the check-in menu, as on a Twilio call
    voiceprompt_callback    how the call ended (result "0" answered, "1" not answered, "2" a call error)
    voice_failure_callback  why it did not get through (failure_code: busy, off, no such number, …)

Tencent signs no callback: the URL's secret (TENCENT_CALLBACK_SECRET, the SMS callbacks' own) is compared in
constant time, and without it nothing is stored. Each is applied in one transaction by
`dispatch.checkins.template_calls`, keyed by the call id and its kind, so a repeated callback changes nothing and
sends nothing. Answered `{"result": 0, "errmsg": "OK"}`; a call id of no check-in call of ours is answered 404.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch.checkins import template_calls
from dispatch.exceptions import InvalidInboundMessage
from dispatch.ivr.plan_store import Stored
from hotline.handover import Decided, hand_over_async
from hotline.services import Services
from hotline.webhooks.tencent_sms import ANSWER, callback_json
from hotline.webhooks.twilio_sms import whole_number

log = logging.getLogger(__name__)
KINDS = ("voicekey_callback", "voiceprompt_callback", "voice_failure_callback", "voicecode_callback")
_UNKNOWN = {"result": 1, "errmsg": "unknown callid"}


def voice_callback(data: object) -> tuple[str, dict[str, Any], str]:
    """A callback body as (its kind, its fields, the call id).

    Raises:
        InvalidInboundMessage: not one object wrapped in a known kind's key, or no call id.
    """
    if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in KINDS:
        raise InvalidInboundMessage("body", f"must be one JSON object wrapped in one of {', '.join(KINDS)}")
    kind, fields = next(iter(data.items()))
    if not isinstance(fields, dict):
        raise InvalidInboundMessage(kind, "must be a JSON object")
    call_id = fields.get("callid")
    if not isinstance(call_id, str) or not call_id.strip() or len(call_id) > 64:
        raise InvalidInboundMessage("callid", "must be the call's id, a text of at most 64 characters")
    return kind, fields, call_id.strip()


def _code(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or whole_number(value.strip(), most_digits=4) is None:
        raise InvalidInboundMessage(name, "must be a number")
    return value.strip()


async def voice_events(request: Request) -> Response:
    """Apply one voice callback to its check-in call."""
    data = await callback_json(request)
    if isinstance(data, Response):
        return data
    services: Services = request.app.state.services
    kind, fields, call_id = voice_callback(data)
    if kind == "voicecode_callback":  # a verification-code call: the hotline places none
        return JSONResponse(ANSWER)
    keypress, result, failure = "", "", 0
    if kind == "voicekey_callback":
        pressed = fields.get("keypress")
        if not isinstance(pressed, str) or not pressed.strip():
            raise InvalidInboundMessage("keypress", "must be the key pressed")
        keypress = pressed
    elif kind == "voiceprompt_callback":
        result = _code(fields, "result")
    else:
        failure = int(_code(fields, "failure_code"))

    def apply() -> Stored | str | None:
        with services.sessions.begin() as session:
            now, rules = services.clock(), services.intake.checkin
            if kind == "voicekey_callback":
                return template_calls.key_pressed(
                    session,
                    call_id,
                    keypress,
                    script=services.voice_script,
                    context=services.intake,
                    now=now,
                    clock=services.clock,
                )
            if kind == "voiceprompt_callback":
                return template_calls.call_ended(session, call_id, result, now, rules) or ""
            return template_calls.call_failed(session, call_id, failure, now, rules) or ""

    known = await run_in_threadpool(_known, services, call_id)
    phone = _phone(fields)
    if not known and phone:  # placed, but its id not recorded yet: the call to that number takes it
        known = await run_in_threadpool(_adopt, services, call_id, phone)
    if not known:
        log.warning("voice callback (tencent) %s for an unknown call", kind)
        return JSONResponse(_UNKNOWN, status_code=404)
    done = await run_in_threadpool(apply)
    if isinstance(done, Stored):
        await hand_over_async(services, Decided(inbound=done.inbound, sends=done.outbound))
    log.info("voice callback (tencent) %s for call %s…: %s", kind, call_id[:8], _said(done))
    return JSONResponse(ANSWER)


def _known(services: Services, call_id: str) -> bool:
    with services.readonly() as session:
        return template_calls.is_checkin_call(session, call_id)


def _adopt(services: Services, call_id: str, phone: str) -> bool:
    with services.sessions.begin() as session:
        return template_calls.adopt_call(session, call_id, phone)


def _phone(fields: dict[str, Any]) -> str | None:
    """The called number in E.164, from the callback's nationcode and mobile; None if they are not digits."""
    nationcode, mobile = fields.get("nationcode"), fields.get("mobile")
    if not isinstance(nationcode, str) or not isinstance(mobile, str):
        return None
    nationcode, mobile = nationcode.strip() or "86", mobile.strip()
    if not (nationcode.isascii() and nationcode.isdigit() and mobile.isascii() and mobile.isdigit()):
        return None
    return f"+{nationcode}{mobile}"


def _said(done: Stored | str | None) -> str:
    if isinstance(done, Stored):
        return f"{len(done.inbound)} new" if done.inbound else "nothing new"
    return done or "nothing new"
