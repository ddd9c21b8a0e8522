"""`/simulator`: the page, and the JSON its script calls. Staff only, local gateway only, CSRF on every POST.

A staff member plays only phones in their part of the register (`household_scope`), and only their own calls.
"""

from __future__ import annotations

import logging
from functools import wraps
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from dispatch.channels import CHANNELS, Ability
from dispatch.models import utcnow
from dispatch.phones import mask_phone
from dispatch.staff_accounts import household_scope
from hotline.console.auth import Endpoint, staff_only
from hotline.console.render import CONSOLE_TEXTS, language_of, page
from hotline.exceptions import UnstorableJson
from hotline.json_text import unstorable_text
from hotline.services import Services
from hotline.simulator import phones
from hotline.simulator.providers import Delivered, hotline_number
from hotline.simulator.twiml import Call, CallOver, InvalidTwiml, Step
from hotline.webhooks import paths
from workers.gateways.local import LocalGateway

log = logging.getLogger(__name__)
MAX_SMS = 1600  # Twilio's longest message body


def local_only(endpoint: Endpoint) -> Endpoint:
    """Refuse (404) when the hotline talks to Twilio: the simulator must never play real people's phones. A body
    with text no database can store is a 400 here, for every simulator route."""

    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        if request.app.state.services.settings.gateway != "local":
            language = request.app.state.services.settings.language
            return PlainTextResponse(CONSOLE_TEXTS.render("sim_refused", language), status_code=404)
        try:
            return await endpoint(request)
        except UnstorableJson as exc:
            return _bad(exc.message)

    guarded.staff_roles = getattr(endpoint, "staff_roles", ())  # type: ignore[attr-defined]
    return guarded


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object posted ({} if none). Raises UnstorableJson (a 400, from `local_only`) for text no
    database can store, before any of it reaches a query."""
    try:
        data = await request.json()
    except ValueError:
        return {}
    bad = unstorable_text(data)
    if bad is not None:
        raise UnstorableJson(bad.field, bad.message)
    return data if isinstance(data, dict) else {}


async def _playable(request: Request, phone: object) -> str | None:
    """`phone` if this staff member may play it."""
    if not isinstance(phone, str) or not phone:
        return None
    services: Services = request.app.state.services
    where = household_scope(request.state.user)

    def check() -> bool:
        with services.readonly() as session:
            return phones.may_play(session, where, phone)

    return phone if await run_in_threadpool(check) else None


def _view(services: Services, call: Call, language: str) -> dict[str, Any]:
    """What the page shows of a call: the words said, and what it waits for."""
    view: dict[str, Any] = {
        "sid": call.sid,
        "said": [{"text": s.text, "language": s.language} for s in call.said],
        "waiting": call.waiting_at,
        "ended": call.ended,
    }
    if call.waiting is not None and call.waiting.tag == "Dial":
        numbers = [n.text or "" for n in call.waiting if n.tag == "Number"]
        with services.readonly() as session:
            duty = CONSOLE_TEXTS.render("sim_duty", language)
            view["ringing"] = ", ".join(phones.name_of(session, n, duty) for n in numbers)
    if call.waiting is not None and call.waiting.tag == "Record":
        view["record_seconds"] = min(int(call.waiting.attrib.get("maxLength", "20")), 20)
    return view


def voice_menu(services: Services) -> bool:
    """Whether the channel the local gateway stands in for has a voice menu to call (and calls to answer)."""
    return CHANNELS[services.settings.channel].can(Ability.VOICE_MENU)


def no_voice(endpoint: Endpoint) -> Endpoint:
    """Refuse (409, saying why) a call where the channel has no voice menu: that provider carries no calls."""

    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        services: Services = request.app.state.services
        if not voice_menu(services):
            language = language_of(request, request.state.user)
            return _bad(CONSOLE_TEXTS.render("sim_no_voice", language, channel=services.settings.channel), 409)
        return await endpoint(request)

    guarded.staff_roles = getattr(endpoint, "staff_roles", ())  # type: ignore[attr-defined]
    return guarded


@local_only
@staff_only()
async def simulator_page(request: Request) -> Response:
    user = request.state.user
    services: Services = request.app.state.services
    language = language_of(request, user)
    words = {
        k: v for k, v in CONSOLE_TEXTS.texts.get(language, CONSOLE_TEXTS.texts["zh-CN"]).items() if k.startswith("sim_")
    }
    channel = services.settings.channel
    return page(
        request,
        "simulator.html",
        user,
        words=words,
        channel=channel,
        voice=voice_menu(services),
        timezone=services.settings.timezone.key,
    )


@local_only
@staff_only()
async def people(request: Request) -> Response:
    services: Services = request.app.state.services
    where = household_scope(request.state.user)
    search = request.query_params.get("q", "").strip()[:40]

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            return [p.__dict__ for p in phones.people(session, where, search)]

    return JSONResponse({"people": await run_in_threadpool(load)})


@local_only
@staff_only()
async def phone_state(request: Request) -> Response:
    """The phone's SMS thread and the calls ringing at it: the page polls this."""
    phone = await _playable(request, request.query_params.get("phone"))
    if phone is None:
        return _bad("pick someone from the list", 404)
    services: Services = request.app.state.services

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            ring = phones.ringing(session, phone, utcnow())  # the gateway stamps its rows with utcnow
            return {"thread": phones.thread(session, phone), "ringing": [{"sid": c.sid} for c in ring]}

    return JSONResponse(await run_in_threadpool(load))


@local_only
@staff_only()
async def send_sms(request: Request) -> Response:
    data = await _body(request)
    phone = await _playable(request, data.get("phone"))
    body = data.get("body")
    if phone is None:
        return _bad("pick someone from the list", 404)
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_SMS:
        return _bad(f"write a message of 1 to {MAX_SMS} characters")
    status = await request.app.state.simulator.send_sms(phone, body)
    log.info("simulator: sms from %s answered %s", mask_phone(phone), status)
    return JSONResponse({"status": status}, status_code=200 if 200 <= status < 300 else 502)


@local_only
@staff_only()
async def report(request: Request) -> Response:
    """The provider reports on an SMS the hotline sent this phone: delivered or failed, once."""
    services: Services = request.app.state.services
    data = await _body(request)
    phone = await _playable(request, data.get("phone"))
    outcome, key = data.get("status"), data.get("id")
    if phone is None:
        return _bad("pick someone from the list", 404)
    number = key.removeprefix("out-") if isinstance(key, str) else ""
    if outcome not in ("delivered", "failed") or not (number.isascii() and number.isdigit() and len(number) < 19):
        return _bad("say which SMS (its id, out-N), and delivered or failed")

    def settle(to: str | None) -> Delivered | None:
        with services.sessions.begin() as session:
            return phones.settle_report(session, int(number), phone, to)

    sms = await run_in_threadpool(settle, outcome)
    if sms is None:
        return _bad("that SMS is not waiting for a report", 409)
    status = await request.app.state.simulator.report(sms, outcome == "delivered")
    if not 200 <= status < 300:
        await run_in_threadpool(settle, None)  # not taken: it may be reported again
    log.info("simulator: report on sms to %s answered %s", mask_phone(phone), status)
    return JSONResponse({"status": status}, status_code=200 if 200 <= status < 300 else 502)


def _voicemail(services: Services, seconds: int) -> tuple[str, str]:
    """A short tone kept by the local gateway as what the caller said, so staff can press play on it."""
    gateway = services.gateway
    assert isinstance(gateway, LocalGateway)  # local_only: the simulator never runs beside Twilio
    return gateway.make_recording(seconds)


async def _drive(request: Request, call: Call, step: Step | None) -> Response:
    services: Services = request.app.state.services
    webhooks: phones.Webhooks = request.app.state.simulator
    try:
        await webhooks.drive(call, step)
    except (InvalidTwiml, RuntimeError) as exc:
        log.error("simulator: call %s: %s", call.sid[-6:], exc)
        return _bad(str(exc), 502)
    await run_in_threadpool(phones.CallStore(services).save, request.state.user.id, call)
    language = language_of(request, request.state.user)
    return JSONResponse(await run_in_threadpool(_view, services, call, language))


@local_only
@staff_only()
@no_voice
async def start_call(request: Request) -> Response:
    """The phone dials the hotline."""
    phone = await _playable(request, (await _body(request)).get("phone"))
    if phone is None:
        return _bad("pick someone from the list", 404)
    services: Services = request.app.state.services
    status_url = services.settings.callback_url(paths.VOICE_STATUS)
    call = Call(
        sid=Call.new_sid(),
        from_phone=phone,
        to_phone=hotline_number(services),
        account_sid=phones.ACCOUNT_SID,
        status_url=status_url,
    )
    return await _drive(request, call, Step(services.settings.callback_url(paths.VOICE), {}))


@local_only
@staff_only()
@no_voice
async def move(request: Request) -> Response:
    """A move in a call: press, silence, answer, no_answer, record, record_nothing, hang_up."""
    services: Services = request.app.state.services
    data = await _body(request)
    store, sid = phones.CallStore(services), request.path_params["sid"]
    if not await run_in_threadpool(store.lock, sid):
        return _bad("the last move is still going on", 409)  # a double click: Twilio never overlaps a call's requests
    try:
        return await _move(request, data, await run_in_threadpool(store.load, request.state.user.id, sid))
    finally:
        await run_in_threadpool(store.unlock, sid)


async def _move(request: Request, data: dict[str, Any], call: Call | None) -> Response:
    if call is None:
        return _bad("no such call (it may have ended an hour ago)", 404)
    if call.ended:
        return _bad("the call has ended", 409)
    what, digits = data.get("move"), str(data.get("digits", ""))
    try:
        if what == "press" and digits and len(digits) <= 10 and all(d in "0123456789*#" for d in digits):
            step: Step | None = call.press(digits)
        elif what == "silence":
            step = call.silence()
        elif what == "answer":
            step = call.answer()
        elif what == "no_answer":
            step = call.no_answer()
        elif what == "record":
            seconds = data.get("seconds", 10)
            if not isinstance(seconds, int) or not 1 <= seconds <= 600:
                return _bad("seconds: a whole number from 1 to 600")
            recording_sid, url = await run_in_threadpool(_voicemail, request.app.state.services, seconds)
            step = call.record(seconds, url, recording_sid)
        elif what == "record_nothing":
            step = call.record_nothing()
        elif what == "hang_up":
            step = call.hang_up()
        else:
            return _bad("unknown move")
    except (CallOver, ValueError) as exc:
        return _bad(str(exc), 409)
    return await _drive(request, call, step)


@local_only
@staff_only()
@no_voice
async def ringing_call(request: Request) -> Response:
    """A call the hotline placed: answer it as the resident, let a machine answer, or let it ring out."""
    services: Services = request.app.state.services
    data = await _body(request)
    phone = await _playable(request, data.get("phone"))
    action = data.get("action")
    if phone is None or action not in ("answer", "machine", "ring_out"):
        return _bad("pick someone, and answer, machine or ring_out")
    sid = request.path_params["sid"]
    outcome = {"answer": "answered", "machine": "machine", "ring_out": "no-answer"}[action]

    def settle() -> tuple[str, str | None] | None:
        with services.sessions.begin() as session:
            entry = phones.settle_placed_call(session, sid, phone, outcome)
            return None if entry is None else (entry.body, entry.status_callback)

    placed = await run_in_threadpool(settle)
    if placed is None:
        return _bad("that call is not ringing any more", 409)
    twiml_url, status_url = placed
    call = Call(
        sid=sid,
        from_phone=hotline_number(services),
        to_phone=phone,
        account_sid=phones.ACCOUNT_SID,
        status_url=status_url or services.settings.callback_url(paths.VOICE_STATUS),
        direction="outbound-api",
        twiml_url=twiml_url,
    )
    if action == "ring_out":
        return await _drive(request, call, call.not_picked_up("no-answer"))
    return await _drive(request, call, call.pick_up("human" if action == "answer" else "machine_start"))
