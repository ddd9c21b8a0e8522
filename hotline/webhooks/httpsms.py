"""`POST /httpsms/events`: httpSMS's webhooks, from a community's own SIM in an Android phone running httpSMS, of
which only the missed call is used: a resident's ring to that SIM counts as a ring to the hotline
(`dispatch.checkins.sim_ring`).

The contract is httpSMS's own (its API server's webhook service): each event is POSTed as a CloudEvents JSON
object (`id`, `type`, `time`, `data`, …) with `Authorization: Bearer <JWT>`, the JWT signed HS256 with the webhook's
signing key (`HTTPSMS_SIGNING_KEY`), its audience the webhook's URL, and an expiry ten minutes after it was made.
A token that is missing, not HS256, badly signed, expired or for another URL is refused (403) and nothing is
stored. `message.call.missed` (data: `owner`, the SIM's number; `contact`, the caller's; `timestamp`, when it
rang) is acted on once per call, however often it comes: httpSMS's server sends an event again under its `id`,
but the phone, retrying a report the server took, makes the server send a second event with an `id` of its own;
so a call is known by the SIM, the caller and the time it rang (the phone's call log, to the millisecond). Every
other event is answered 200 and ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from dispatch.checkins.sim_ring import Missed, missed_call
from dispatch.exceptions import InvalidInboundMessage, InvalidPhoneNumber
from dispatch.phones import mask_phone, normalize_phone
from hotline.handover import Decided, hand_over_async
from hotline.request_log import note
from hotline.services import Services
from hotline.webhooks import paths
from hotline.webhooks.capped_body import capped_body

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024  # an event is well under 1 kB
MAX_TOKEN = 4096
LEEWAY_SECONDS = 60  # clock skew between httpSMS's server and ours
MISSED_CALL = "message.call.missed"
KNOWN_EVENTS = (  # named in our log line; any other type is logged as "other"
    MISSED_CALL,
    "message.phone.received",
    "message.phone.sent",
    "message.phone.delivered",
    "message.send.failed",
    "message.send.expired",
    "phone.heartbeat.offline",
    "phone.heartbeat.online",
)
KEY_PREFIX = "httpsms:"  # the ring's key (in place of a CallSid): this and a digest of the call (`call_key`)
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,56}\Z")


def token_problem(key: str, authorization: str | None, audiences: list[str]) -> str | None:
    """Why `authorization` is not a bearer JWT httpSMS made with `key` for one of `audiences`, or None if it is.
    The reason is for the log: it never holds the token."""
    if not authorization:
        return "no token"
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
        return "not a bearer token"
    try:
        jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=audiences,
            options={"require": ["exp", "aud"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        return "expired token"
    except jwt.MissingRequiredClaimError as missing:
        return f"token without {missing.claim}"
    except jwt.InvalidAudienceError:
        return "token for another URL"
    except jwt.InvalidTokenError:
        return "bad token"
    return None


def call_key(sim: str, caller: str, rang_at: datetime) -> str:
    """The key a missed call is counted once by: the same for every event that reports it."""
    call = "\x1f".join((sim, caller, rang_at.astimezone(UTC).isoformat()))
    return KEY_PREFIX + hashlib.sha256(call.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class MissedCallEvent:
    """`message.call.missed`, as read from its CloudEvent."""

    event_id: str
    contact: str  # the caller's number, as the phone reported it
    owner: str  # the SIM's number
    rang_at: datetime


def _event(body: bytes) -> dict[str, Any]:
    """The CloudEvent. Raises InvalidInboundMessage (a 400) for anything else."""
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInboundMessage("body", "must be JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise InvalidInboundMessage("body", "must be a CloudEvent: an object with a type")
    return event


def _missed_call(event: dict[str, Any]) -> MissedCallEvent:
    """The missed call's fields. Raises InvalidInboundMessage (a 400) naming a field missing or malformed."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise InvalidInboundMessage("id", "must be the event's id (1-56 of A-Z a-z 0-9 . _ : -)")
    data = event.get("data")
    if not isinstance(data, dict):
        raise InvalidInboundMessage("data", "must be an object")
    contact, owner, timestamp = data.get("contact"), data.get("owner", ""), data.get("timestamp")
    if not isinstance(contact, str):
        raise InvalidInboundMessage("data.contact", "must be the caller's number")
    if not isinstance(owner, str):
        raise InvalidInboundMessage("data.owner", "must be the SIM's number")
    try:
        rang_at = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else None
        if rang_at is not None and rang_at.tzinfo is not None:
            rang_at.astimezone(UTC)  # an instant in UTC at all (year 1 at +14:00 has none)
    except (ValueError, OverflowError):
        rang_at = None
    if rang_at is None or rang_at.tzinfo is None:
        raise InvalidInboundMessage("data.timestamp", "must be a time with its offset (RFC 3339)")
    return MissedCallEvent(event_id, contact[:40], owner[:40], rang_at)


async def httpsms_events(request: Request) -> Response:
    """Check the token, then act on a missed call (see the module's doc). Answers 200 once acted on or ignored."""
    services: Services = request.app.state.services
    settings = services.settings
    body = await capped_body(request, MAX_BODY, "an httpSMS webhook")
    if isinstance(body, Response):
        return body
    url = settings.callback_url(paths.HTTPSMS_EVENTS)
    key = settings.httpsms_signing_key
    authorization = request.headers.get("Authorization")
    problem = "HTTPSMS_SIGNING_KEY unset" if key is None else token_problem(str(key), authorization, [url, url + "/"])
    if problem is not None:
        log.warning("httpsms webhook refused: %s", problem)
        return PlainTextResponse("Token missing, invalid or expired", status_code=403)
    event = _event(body)
    if event["type"] != MISSED_CALL:
        kind = event["type"] if event["type"] in KNOWN_EVENTS else "other"
        note(request, f"httpsms event {kind} ignored")
        return PlainTextResponse("ignored")
    missed = _missed_call(event)
    region = settings.region
    try:
        caller = normalize_phone(missed.contact, region)
    except InvalidPhoneNumber:  # a withheld or unreadable number: nobody to call back, no resident's ring
        note(request, f"httpsms missed call event={missed.event_id} from an unreadable number: ignored")
        return PlainTextResponse("ok")
    try:
        sim = normalize_phone(missed.owner, region)
    except InvalidPhoneNumber:
        sim = missed.owner

    def apply() -> Missed:
        with services.sessions.begin() as session:
            once = call_key(sim, caller, missed.rang_at)
            return missed_call(session, once, caller, sim, missed.rang_at, services.clock(), services.intake)

    done = await run_in_threadpool(apply)
    note(request, f"httpsms missed call event={missed.event_id} from={mask_phone(caller)} {done.outcome}")
    await hand_over_async(services, Decided(inbound=done.inbound, sends=done.outbound))
    return PlainTextResponse("ok")
