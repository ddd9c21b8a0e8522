"""Bad input to every Twilio webhook, fuzzed with hypothesis through the real app (signature check included).

Random and missing fields, repeated keys, invalid UTF-8, NUL, emoji and RTL text, odd query strings, bodies near
and over the 64 KiB cap, sent signed (so they reach the handlers) and unsigned or badly signed. Properties:

- never a 5xx, and never the voice "sorry, something went wrong" answer (an exception the endpoint swallowed);
- over the cap: 413; unsigned or badly signed: 403;
- a call step with a CallSid answers valid voice TwiML that leaves the caller a way to a person (a menu whose 0
  puts them through, a put-through, a voicemail, or the end of a call that was dealt with);
- the SMS webhook answers 200 and stores one row per distinct valid MessageSid, or 400 and stores nothing;
- afterwards the worker processes every message stored, whatever its text, without a failed job.

`HOTLINE_FUZZ_EXAMPLES=N` runs N random requests instead of CI's fixed set (see tests/test_fuzz_inputs.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from dispatch.checkins.answers import MACHINE
from dispatch.ivr.script import PERSON_DIGIT, load_script
from dispatch.models import InboundMessage, StaffRole
from dispatch.tokens import create_token
from hotline.console.register import UPLOAD_LIMIT, UPLOAD_SLACK
from hotline.services import Services
from hotline.simulator.twiml import parse_voice_twiml
from hotline.webhooks.signatures import SIGNATURE_HEADER
from hotline.webhooks.twilio_sms import MAX_FIELDS, MAX_WEBHOOK_BODY
from tests.conftest import BACKUP_PHONE, HOTLINE_NUMBER, LIAISON_PHONE, PHONES, PUBLIC_URL, STRANGER_PHONE, run_worker
from tests.console_helpers import make_user, sign_in
from tests.fuzz_helpers import examples, fuzz_settings, texts
from tests.test_fuzz_inputs import messages
from workers.queues import ALL_QUEUES

SCRIPT = load_script()
CALL_STEPS = [
    "/twilio/voice",
    "/twilio/voice/menu",
    "/twilio/voice/dial",
    "/twilio/voice/recorded",
    "/twilio/voice/checkin",
    "/twilio/voice/greeting/recorded",
    "/twilio/voice/greeting/choice",
]
FIELDS = {
    "/twilio/sms": ["MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia"],
    "/twilio/status": ["MessageSid", "MessageStatus", "ErrorCode", "AccountSid", "To"],
    "/twilio/voice/message": ["CallSid", "AccountSid", "From", "To", "CallStatus"],
    "/twilio/voice": ["CallSid", "AccountSid", "From", "To", "CallStatus", "Direction"],
    "/twilio/voice/menu": ["CallSid", "From", "To", "Direction", "Digits", "SpeechResult"],
    "/twilio/voice/dial": ["CallSid", "From", "To", "Direction", "DialCallStatus"],
    "/twilio/voice/recorded": ["CallSid", "From", "To", "RecordingUrl", "RecordingDuration"],
    "/twilio/voice/status": ["CallSid", "From", "To", "Direction", "CallStatus", "CallDuration"],
    "/twilio/voice/checkin": ["CallSid", "From", "To", "Direction", "AnsweredBy"],
    "/twilio/voice/checkin/status": ["CallSid", "From", "To", "CallStatus", "CallDuration", "AnsweredBy"],
    "/twilio/voice/greeting/recorded": ["CallSid", "From", "To", "RecordingUrl", "RecordingDuration"],
    "/twilio/voice/greeting/choice": ["CallSid", "From", "To", "Digits"],
}
QUERY = {
    "/twilio/status": ["o"],
    "/twilio/voice/message": ["o"],
    "/twilio/voice/checkin": ["o"],
    "/twilio/voice/checkin/status": ["o"],
    "/twilio/voice/menu": ["n", "r", "b", "t", "k"],
    "/twilio/voice/dial": ["n", "r", "b", "t", "k", "i"],
    "/twilio/voice/recorded": ["n", "t", "k"],
    "/twilio/voice/greeting/recorded": ["n", "r", "k"],
    "/twilio/voice/greeting/choice": ["n", "r", "k", "g"],
}
ROUTES = sorted(FIELDS)

CALL_SIDS = ["CA" + f"{n:032x}" for n in range(1, 6)]  # a few calls, so steps land on calls already under way
MESSAGE_SIDS = ["SM" + f"{n:032x}" for n in range(1, 9)]  # and retries of a few messages
callers = st.sampled_from(
    [
        *PHONES.values(),
        LIAISON_PHONE,
        BACKUP_PHONE,
        STRANGER_PHONE,
        "13900000001",
        "+1 415 555 0100",
        "anonymous",
        "266696687",
        "+86 139-1234-5678",
    ]
)
small = st.integers(0, 5).map(str)
GOOD: dict[str, st.SearchStrategy[str]] = {
    "CallSid": st.sampled_from(CALL_SIDS),
    "MessageSid": st.one_of(st.sampled_from(MESSAGE_SIDS), st.from_regex(r"(SM|MM)[0-9a-f]{32}", fullmatch=True)),
    "SmsSid": st.sampled_from(MESSAGE_SIDS),
    "AccountSid": st.just("AC" + "1" * 32),
    "From": callers,
    "To": st.sampled_from([HOTLINE_NUMBER, *PHONES.values()]),
    "Body": messages,
    "NumMedia": st.just("0"),
    "Digits": st.sampled_from([*"0123456789*#", "12"]),
    "SpeechResult": messages,
    "DialCallStatus": st.sampled_from(["completed", "answered", "busy", "no-answer", "failed", "canceled"]),
    "CallStatus": st.sampled_from(["completed", "busy", "no-answer", "failed", "canceled", "in-progress"]),
    "CallDuration": st.integers(0, 600).map(str),
    "RecordingDuration": st.integers(0, 120).map(str),
    "RecordingUrl": st.just("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "0" * 32),
    "AnsweredBy": st.sampled_from(["human", "machine_start", "machine_end_beep", "fax", "unknown"]),
    "Direction": st.sampled_from(["inbound", "outbound-api"]),
    "MessageStatus": st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "read"]),
    "ErrorCode": st.sampled_from(["", "30003", "21610", "30007"]),
    "o": st.integers(1, 30).map(str),
    "n": st.sampled_from(sorted(SCRIPT.nodes)),
    "b": st.sampled_from(["", *sorted(SCRIPT.nodes)]),
    "r": small,
    "k": small,
    "i": small,
    "t": st.sampled_from(["0", "1"]),
}
odd_numbers = st.sampled_from(["²", "٣", "-1", "1.5", "9" * 19, "9" * 30, "9" * 5000, "0x1f", " 1"])
odd_sids = st.sampled_from(["SM" + "0" * 32 + "\n", "sm" + "a" * 32, "SM" + "a" * 31, "SMX", "CA" + "0" * 70])
bad = st.one_of(texts, odd_numbers, odd_sids, st.just("\x00"))
NUMBERS = {"o", "i", "r", "k", "ErrorCode", "CallDuration", "RecordingDuration"}
SIDS = {"CallSid", "MessageSid", "SmsSid"}


def bad_value(key: str) -> st.SearchStrategy[str]:
    """Mostly the kind of wrong a field of this kind invites, sometimes anything."""
    likely = odd_numbers if key in NUMBERS else odd_sids if key in SIDS else st.sampled_from(["\x00", "", " "])
    return st.one_of(likely, likely, likely.map(lambda v: v + "\x00"), bad)


@dataclass
class Webhook:
    """One request to a webhook, as it goes over the wire."""

    path: str
    query: str
    body: bytes
    signing: str  # signed, unsigned, or wrong
    chunked: bool
    token: str | None

    def fields(self) -> dict[str, list[str]]:
        """The form as the hotline reads it (UTF-8, bad bytes replaced), for the signature."""
        found: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
            found.setdefault(key, []).append(value)
        return found

    def last(self, name: str) -> str:
        """A field's value as a handler reads it: the last one given, "" if none."""
        return self.fields().get(name, [""])[-1]


@st.composite
def webhooks(draw: st.DrawFn) -> Webhook:
    path = draw(st.sampled_from(ROUTES))
    pairs: list[tuple[str, str]] = []
    for key in FIELDS[path]:
        roll = draw(st.integers(0, 9))
        if roll:  # 0: missing
            pairs.append((key, draw(bad_value(key) if roll == 1 else GOOD[key])))
        if draw(st.integers(0, 15)) == 0:
            pairs.append((key, draw(st.one_of(GOOD[key], bad_value(key)))))  # the same key twice
    pairs += draw(st.lists(st.tuples(texts, texts), max_size=2))  # fields nobody asked for
    query = [(key, draw(bad_value(key) if draw(st.integers(0, 3)) == 0 else GOOD[key])) for key in QUERY.get(path, [])]
    query = [pair for pair in query if draw(st.integers(0, 5))]
    body = urlencode(pairs, errors="surrogatepass").encode()  # a lone surrogate goes as %ED%A0%80, invalid UTF-8
    damage = draw(
        st.sampled_from(["none"] * 8 + ["invalid utf-8", "raw bytes", "near the cap", "over the cap", "many fields"])
    )
    if damage == "invalid utf-8":  # percent-escaped bytes that are not UTF-8
        body += b"&Body=%FF%FE%C0&From=%ED%A0%80"
    elif damage == "raw bytes":  # bytes that are not even escaped
        body = draw(st.binary(max_size=40)) + b"&" + body + b"&To=\xff\x00\xe4"
    elif damage == "near the cap":
        body += b"&Filler=" + b"x" * (MAX_WEBHOOK_BODY - len(body) - 8)
    elif damage == "over the cap":
        body += b"&Body=" + "很长".encode() * draw(st.integers(MAX_WEBHOOK_BODY // 6 + 1, 100_000 // 6))
    elif damage == "many fields":
        body += b"&a=1" * (MAX_FIELDS + 1)
    event(damage)
    signing = draw(st.sampled_from(["signed"] * 8 + ["unsigned", "wrong"]))
    token = uuid.uuid4().hex if draw(st.booleans()) else None  # one per delivery: each request is a new webhook
    return Webhook(path, urlencode(query, errors="surrogatepass"), body, signing, draw(st.booleans()), token)


class _Multi(dict[str, list[str]]):
    """Repeated form keys, as twilio's RequestValidator reads them."""

    def getall(self, key: str) -> list[str]:
        return self[key]


def post(client: TestClient, services: Services, hook: Webhook) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if hook.signing != "unsigned":
        signed = _Multi(hook.fields())
        if hook.signing == "wrong":
            signed["Body"] = [*signed.get("Body", []), "tampered"]
        headers[SIGNATURE_HEADER] = services.signature.sign(hook.path, signed, hook.query)  # type: ignore[arg-type]
    if hook.token:
        headers["I-Twilio-Idempotency-Token"] = hook.token

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(hook.body), 16_384):
            yield hook.body[at : at + 16_384]

    url = hook.path + (f"?{hook.query}" if hook.query else "")
    return client.post(url, content=chunks() if hook.chunked else hook.body, headers=headers)


SORRY = {SCRIPT.phrase("error_sorry", language) for language in ("zh-CN", "en")}


def check_call_step(hook: Webhook, response: Any) -> None:
    """A call step: valid voice TwiML, no swallowed failure, and a way on to a person."""
    sid = hook.last("CallSid").replace("\x00", "")
    pickup = hook.path == "/twilio/voice/checkin" and dict(parse_qsl(hook.query)).get("o", "").isdigit()
    machine = pickup and hook.last("AnsweredBy") in MACHINE
    if (not sid or len(sid) > 64) and not machine:  # a machine answering a check-in call is hung up on
        assert response.status_code == 400 and "CallSid" in response.text
        return
    assert response.status_code == 200, response.text
    root = parse_voice_twiml(response.text)
    said = " ".join(verb.text or "" for verb in root.iter("Say"))
    assert not any(sorry in said for sorry in SORRY), f"the step failed inside: {said}"
    verbs = [verb.tag for verb in root]
    assert verbs and verbs[-1] in ("Gather", "Dial", "Record", "Hangup"), verbs  # never dead air
    for gather in root.iter("Gather"):
        node = parse_qs(urlsplit(gather.attrib["action"]).query)["n"][0]
        option = SCRIPT.nodes[node].option(PERSON_DIGIT)
        assert option is not None and option.do == "person", f"menu {node} has no way to a person"
    event(f"call step answered with {verbs[-1]}")


SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def found(path: str, query: dict[str, str], **fields: str) -> Webhook:
    """A signed request the fuzz once found a bug with, run on every run as well."""
    return Webhook(path, urlencode(query), urlencode(fields).encode(), "signed", False, None)


CALL = {"CallSid": CALL_SIDS[0], "From": PHONES["梁阿姨"], "To": HOTLINE_NUMBER}
REPORT = {"MessageSid": MESSAGE_SIDS[0], "MessageStatus": "failed"}
FOUND = [
    found("/twilio/status", {"o": "²"}, **REPORT),  # isdigit() passed "²", int() refused it: a 500
    found("/twilio/status", {"o": "9" * 30}, **REPORT),  # too large for the database: a 500
    found("/twilio/status", {}, **REPORT, ErrorCode="²"),  # a 500
    found("/twilio/status", {}, **REPORT, ErrorCode="9" * 19),  # a 500
    found("/twilio/sms", {}, MessageSid=MESSAGE_SIDS[1] + "\n", From=PHONES["梁阿姨"], Body="1"),  # stored as a new SID
    found("/twilio/sms", {}, MessageSid=MESSAGE_SIDS[2], From="\x00", Body="1"),  # stored with no sender
    found("/twilio/voice/checkin", {"o": "²"}, **CALL, AnsweredBy="human"),  # the apology, not the menu
    found("/twilio/voice/checkin/status", {"o": "9" * 30}, **CALL, CallStatus="busy"),
    found("/twilio/voice/dial", {"n": "resident_menu", "i": "²"}, **CALL, DialCallStatus="busy"),
    found("/twilio/voice/menu", {"n": "resident_menu", "r": "9" * 5000}, **CALL),  # int() refuses 4,301 digits
    found("/twilio/voice/status", {}, **CALL, CallStatus="completed", CallDuration="9" * 19),  # integer column
    found("/twilio/voice", {}, **{**CALL, "CallSid": CALL_SIDS[1] + "\x00"}),  # PostgreSQL refuses a NUL
]


def test_every_twilio_route_is_fuzzed(client: TestClient) -> None:
    routes = {r.path for r in client.app.routes if isinstance(r, Route) and r.path.startswith("/twilio")}  # type: ignore[attr-defined]
    assert routes == set(FIELDS)
    assert set(CALL_STEPS) <= routes


@pytest.mark.usefixtures("town")
def test_any_webhook_request_gets_a_clear_answer_and_never_a_server_error(
    client: TestClient, services: Services
) -> None:
    stored_sids: set[str] = set()

    def sms_rows() -> int:
        with services.readonly() as session:
            return int(session.scalar(select(func.count()).where(InboundMessage.channel == "sms")) or 0)

    @fuzz_settings(300)
    @given(webhooks())
    @examples(*FOUND)
    def fuzz(hook: Webhook) -> None:
        note(f"{hook.path}?{hook.query} {hook.signing} chunked={hook.chunked} body={hook.body[:2000]!r}")
        before = sms_rows() if hook.path == "/twilio/sms" else 0
        response = post(client, services, hook)
        note(f"answer {response.status_code}: {response.text[:500]}")
        assert response.status_code < 500
        if len(hook.body) > MAX_WEBHOOK_BODY:
            assert response.status_code == 413 and "too large" in response.text
        elif hook.body.count(b"&") + 1 > MAX_FIELDS:  # read before the signature, as parse_qsl counts them
            assert response.status_code == 400 and "fields" in response.text
        elif hook.signing != "signed":
            assert response.status_code == 403
        elif hook.path in CALL_STEPS:
            check_call_step(hook, response)
        elif hook.path == "/twilio/voice/message":
            assert response.status_code == 200 and parse_voice_twiml(response.text).find("Say") is not None
        elif hook.path == "/twilio/sms":
            sid = hook.last("MessageSid") or hook.last("SmsSid")
            valid = SID.fullmatch(sid) is not None and hook.last("From").replace("\x00", "").strip() != ""
            if valid:
                assert response.status_code == 200 and parse_voice_twiml(response.text) is not None
                stored_sids.add(sid)
            else:
                assert response.status_code == 400 and sms_rows() == before
        else:  # delivery and call status reports
            assert response.status_code in (204, 400)
        event(f"{hook.path}: {response.status_code}")

    fuzz()
    with services.readonly() as session:
        rows = session.scalars(select(InboundMessage.provider_sid).where(InboundMessage.channel == "sms")).all()
    assert sorted(rows) == sorted(stored_sids)  # one row per distinct valid MessageSid, no more
    run_worker(services)  # whatever the messages say, each is handled and no job fails
    with services.readonly() as session:
        waiting = session.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None)))
    assert waiting == 0
    assert all(FailedJobRegistry(q, connection=services.redis).count == 0 for q in ALL_QUEUES)


# ── Every route's cap on what it reads ───────────────────────────────────────────────────────────────────────

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The CSV upload, and httpSMS's missed-call events (each well under 1 kB); every other route takes 64 KiB.
CAPS = {"/register/import": UPLOAD_LIMIT + UPLOAD_SLACK, "/httpsms/events": 16 * 1024}
UNREAD = {"/logout"}  # takes no body, so never reads one sent in chunks (and ends the session: tried last)


def routes_with_a_body(app: Any) -> list[tuple[str, str]]:
    """(method, URL) of every route that takes a body, walked from the app, with its path parameters filled."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(list(route.routes or ()), prefix + route.path)
            elif isinstance(route, Route):
                url = re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "1", (prefix + route.path).replace("{sid}", CALL_SIDS[0]))
                found.extend((method, url) for method in sorted(set(route.methods or ()) & BODY_METHODS))

    walk(list(app.routes), "")
    return found


def chunked(body: bytes) -> Iterator[bytes]:
    """The body in pieces, with no Content-Length: a cap must count what streams in."""
    for at in range(0, len(body), 65_536):
        yield body[at : at + 65_536]


@pytest.mark.usefixtures("community")
def test_every_route_that_reads_a_body_refuses_one_over_its_cap(client: TestClient, services: Services) -> None:
    make_user(services)
    csrf = sign_in(client)
    with services.sessions.begin() as session:
        token = create_token(session, name="caps", role=StaffRole.ADMIN)[1]
    routes = sorted(routes_with_a_body(client.app), key=lambda route: route[1] in UNREAD)
    assert {
        ("POST", "/twilio/sms"),
        ("POST", "/login"),
        ("POST", "/api/v1/notices"),
        ("POST", "/register/import"),
        ("POST", "/simulator/api/sms"),
    } <= set(routes)
    anonymous = TestClient(client.app, base_url=PUBLIC_URL)
    for method, url in routes:
        cap = CAPS.get(url, 64 * 1024)
        api = url.startswith("/api/v1/")
        headers = (
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if api
            else {"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"}
        )
        over = b"a=" + b"x" * (cap - 1)
        for content in (over,) if url in UNREAD else (over, chunked(over)):
            response = client.request(method, url, content=content, headers=headers)
            assert response.status_code == 413, (method, url, response.status_code, response.text[:200])
            assert re.search("too large|太大|over", response.text), response.text[:200]
        if not url.startswith("/twilio/"):  # a stranger's body is refused too, or never read (401)
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            refused = anonymous.request(method, url, content=chunked(over), headers=form)
            assert refused.status_code in ((413,) if url == "/login" else (401, 413)), (method, url, refused)
        under = client.request(method, url, content=b"a=" + b"x" * (min(cap, 64 * 1024) - 100), headers=headers)
        assert under.status_code not in (413, 500), (method, url, under.status_code)  # the cap is not too tight
