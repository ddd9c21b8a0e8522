"""No log line holds a full phone number, a secret or what anyone wrote, through a whole day's traffic.

Every log record of the process is captured at DEBUG (the root logger, so the hotline's, rq's, the HTTP
clients' and the libraries' records alike), and an access line for every request exactly as uvicorn writes it,
through the filters `hotline.logs.uvicorn_log_config` puts on uvicorn's access handler. The traffic goes through
the Twilio gateway (a local stand-in of Twilio's REST API): health complaints by SMS in Chinese and English, the
worker, the offer to the liaison, the liaison taking and finishing the task, status reports, a call through the
menu ending in a voicemail, a check-in SMS answered with a fever, a staff sign-in (and a wrong password), and the
API with a bearer token (and a wrong one).

The day runs twice: in text (a plain formatter with no safety net, so the code's own masking is what is checked)
and in JSON lines (HOTLINE_LOG_FORMAT=json: the product's own formatters and filters from `hotline.logs.log_config`,
as `hotline serve` has them; every line must parse, carry the fields, and leak nothing in any field).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from dispatch import register
from dispatch.models import InboundMessage, OutboundMessage, StaffRole, Task
from dispatch.tokens import create_token
from hotline.app import create_app
from hotline.console.auth import SESSION_COOKIE
from hotline.jobs import checkins as checkin_jobs
from hotline.logs import formatter, uvicorn_log_config
from hotline.settings import load_settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.callflow import CallFlow
from tests.conftest import (
    BACKUP_PHONE,
    DUTY_PHONE,
    HOTLINE_NUMBER,
    LEADER_PHONE,
    LIAISON_PHONE,
    PUBLIC_URL,
    RESIDENT_PHONE,
    TEST_AUTH_TOKEN,
    Clock,
    at,
    fresh_services,
    post_signed,
    run_worker,
    sms_params,
)
from tests.console_helpers import PASSWORD, csrf_of, make_user, sign_in
from tests.route_rules import phone_forms
from tests.twilio_standin import TwilioStandIn

SECRET_KEY = "a-session-signing-key-of-at-least-32-characters"
HEALTH = ["我胸口痛，血压高，头晕", "I have chest pain and my blood pressure is high"]
LOGGERS_OWN_TIMES = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?|\b\d+:\d\d:\d\d\.\d+s?\b")
HEALTH_WORDS = ["胸口痛", "血压高", "头晕", "chest pain", "blood pressure", "发烧", "38.6"]

# Its subject is what a log line may hold, the same on any store: it runs once, in the SQLite pass.
pytestmark = pytest.mark.one_store


class Capture(logging.Handler):
    """Keeps every record as the line a formatter writes, the traceback included."""

    def __init__(self, fmt: str = "text", access: bool = False) -> None:
        super().__init__(logging.DEBUG)
        if fmt == "json":  # the product's JSON formatter, as `hotline serve` has it
            self.setFormatter(formatter("json", "web", "access" if access else None))
        else:
            self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("httpx") and record.thread == threading.main_thread().ident:
            return  # the test's own TestClient (the simulator's httpx2 requests run in the app's thread)
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs(fmt: str = "text") -> Iterator[Capture]:
    """Every record at DEBUG on the root logger; uvicorn's access records through the product's access filters (in
    JSON, the root handler's filters too)."""
    capture, access = Capture(fmt), Capture(fmt, access=True)
    config = uvicorn_log_config("json") if fmt == "json" else uvicorn_log_config()
    for name in config["handlers"]["access"].get("filters", []):
        if fmt == "json" or name == "drop_query_strings":  # text: no safety net, the code must mask by itself
            access.addFilter(config["filters"][name]["()"]())
    for name in config["handlers"]["root"].get("filters", []) if fmt == "json" else ():
        capture.addFilter(config["filters"][name]["()"]())
    access.lines = capture.lines
    root, access_logger = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = root.level, access_logger.level, access_logger.propagate, access_logger.handlers
    root.setLevel(logging.DEBUG)
    access_logger.setLevel(logging.INFO)
    # As uvicorn's configuration has it: access lines go to their own handler, with the product's filters.
    access_logger.propagate, access_logger.handlers = False, [access]
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(saved[0])
        access_logger.setLevel(saved[1])
        access_logger.propagate, access_logger.handlers = saved[2], saved[3]


class AccessLog:
    """The access line uvicorn's HTTP protocols write for each response, with uvicorn's own helpers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.logger = logging.getLogger("uvicorn.access")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                path = get_path_with_query_string(scope)
                self.logger.info(
                    '%s - "%s %s HTTP/%s" %d',
                    get_client_addr(scope),
                    scope["method"],
                    path,
                    scope["http_version"],
                    message["status"],
                )
            await send(message)

        await self.app(scope, receive, logged if scope["type"] == "http" else send)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_days_traffic_leaves_no_number_secret_or_message_in_any_log_line(
    environ: dict[str, str], tmp_path: Any, fmt: str
) -> None:
    with TwilioStandIn() as standin, captured_logs(fmt) as logs:
        settings = load_settings(
            {
                **environ,
                "HOTLINE_GATEWAY": "twilio",
                "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
                "TWILIO_API_BASE_URL": standin.base_url,
                "HOTLINE_DUTY_PHONE": DUTY_PHONE,
                "HOTLINE_SECRET_KEY": SECRET_KEY,
                "HOTLINE_SMS_PER_SECOND": "0",
                "HOTLINE_CPS": "0",
            },
            env_file=None,
        )
        with fresh_services(settings) as services:
            clock = Clock(at("08:00"))
            services.clock = lambda: clock.now
            checkin_jobs.forget_made_day(services)
            secrets, bodies = run_the_day(services, clock, standin)
            with services.readonly() as session:
                bodies += list(session.scalars(select(InboundMessage.body)))
                bodies += list(session.scalars(select(OutboundMessage.body)))
    assert len(logs.lines) > 50 and any("GET /register?" in line for line in logs.lines), "access lines captured"
    if fmt == "json":
        assert_json_lines(logs.lines)
    assert_no_leaks(logs.lines, secrets, bodies)


def assert_json_lines(lines: list[str]) -> None:
    """Every line one JSON object with the fields; each is checked for leaks as written and as its values."""
    for line in list(lines):
        record = json.loads(line)
        assert {"time", "level", "logger", "message", "role"} <= set(record), line[:200]
        assert record["role"] == "web"
        lines.append(" ".join(str(value) for value in record.values()))  # escapes undone: "\u", "\"" …


def assert_no_leaks(lines: list[str], secrets: dict[str, str], bodies: list[str]) -> None:
    """No line holds a number we used in any form, a secret, a health word, or a piece of any message text."""
    phones = [RESIDENT_PHONE, LIAISON_PHONE, BACKUP_PHONE, LEADER_PHONE, DUTY_PHONE, HOTLINE_NUMBER]
    forbidden = {form: f"the number {phone}" for phone in phones for form in phone_forms(phone)}
    forbidden |= {secret: what for what, secret in secrets.items()}
    forbidden |= {word: "a health detail" for word in HEALTH_WORDS}
    for body in bodies:
        for part in {body.strip(), *re.split(r"[，。！？；：,.!?;:\n]\s*", body)}:
            if len(part.strip()) >= 6 or (len(part.strip()) >= 3 and not part.isascii()):
                forbidden[part.strip()] = f"message text {body[:30]!r}"
    # A line's own timestamp and an RQ job's run time are the logger's, and can hold "38.6" (10:47:38.660).
    lines = [LOGGERS_OWN_TIMES.sub("<time>", line) for line in lines]
    leaks = sorted(
        {
            (what, line[:200])
            for line in lines
            for text, what in forbidden.items()
            if text in line or text in re.sub(r"[\s-]", "", line)
        }
    )
    assert not leaks, "\n".join(f"{what}: {line}" for what, line in leaks)


def run_the_day(services: Any, clock: Clock, standin: TwilioStandIn) -> tuple[dict[str, str], list[str]]:
    """The traffic; returns the secrets it used and texts written outside the database (notes, voicemail)."""
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_liaison(session, name="李强", phone=BACKUP_PHONE, region="CN")
        resident = register.add_resident(
            session,
            name="梁阿姨",
            phones=["13800138000"],
            liaison_phone=LIAISON_PHONE,
            backup_liaison_phone=BACKUP_PHONE,
            region="CN",
            address=register.Address("幸福里社区", "3号楼", "2单元", "402"),
        )
        household = resident.household
        assert household.community is not None
        household.community.duty_phone = DUTY_PHONE
        household.grid = register.find_or_create_grid(session, household.community, "第1网格")
        household.grid.leader_name, household.grid.leader_phone = "王组长", LEADER_PHONE
        api_secret = create_token(session, name="大屏", role=StaffRole.ADMIN)[1]
    make_user(services)
    cookies: set[str] = set()
    app = AccessLog(create_app(services.settings, services))
    with TestClient(app, base_url=PUBLIC_URL) as client:
        client.event_hooks["response"].append(
            lambda r: cookies.update(
                v.split(";")[0].split("=", 1)[1]
                for v in r.headers.get_list("set-cookie")
                if v.startswith(SESSION_COOKIE)
            )
        )
        forged = sms_params(HEALTH[0])
        assert client.post("/twilio/sms", data=forged, headers={SIGNATURE_HEADER: "forged"}).status_code == 403
        standin.fail_next, standin.fail_code = [503, 400], 21211  # Twilio refuses the first receipt, then a number
        for body in HEALTH:
            assert post_signed(client, services, "/twilio/sms", sms_params(body)).status_code == 200
            run_worker(services, with_scheduler=True)
        with services.readonly() as session:
            task_ids = list(session.scalars(select(Task.id).order_by(Task.id)))
        for command in (f"接{task_ids[0]}", f"完{task_ids[0]}"):
            post_signed(client, services, "/twilio/sms", sms_params(command, from_phone=LIAISON_PHONE))
            run_worker(services)
        with services.readonly() as session:
            sent = list(
                session.execute(select(OutboundMessage.id, OutboundMessage.provider_sid, OutboundMessage.to_phone))
            )
        for (outbound_id, sid, to), status in zip(sent, ["delivered", "undelivered"] * len(sent), strict=False):
            report = {
                "MessageSid": sid or f"SM{outbound_id:032d}",
                "MessageStatus": status,
                "To": to,
                "From": HOTLINE_NUMBER,
                "AccountSid": "AC" + "a" * 32,
            }
            report |= {"ErrorCode": "30003"} if status == "undelivered" else {}
            assert post_signed(client, services, f"/twilio/status?o={outbound_id}", report).status_code in (200, 204)
        call = CallFlow(client, services, RESIDENT_PHONE).call().press("0").no_answer().no_answer().no_answer()
        call.leave_message()
        call.hang_up()
        run_worker(services)
        clock.now = at("09:00")  # the check-in SMS, answered with a fever
        checkin_jobs.checkin_tick()
        run_worker(services)
        clock.now = at("09:05")
        post_signed(client, services, "/twilio/sms", sms_params("发烧38.6度"))
        run_worker(services)
        # Staff: a wrong password, then the right one; a search by number; the resident's page.
        form = client.get("/login")
        client.post(
            "/login", data={"username": "admin", "password": "wrong " + PASSWORD, "csrf_token": csrf_of(form.text)}
        )
        csrf = sign_in(client)
        assert client.get("/register", params={"q": "13800138000"}).status_code == 200
        assert client.get(f"/register/residents/{resident.id}").status_code == 200
        assert client.get(f"/tasks/{task_ids[-1]}").status_code == 200
        # The API, with the token and with a wrong one.
        bearer = {"Authorization": f"Bearer {api_secret}"}
        assert client.get("/api/v1/residents", params={"q": RESIDENT_PHONE}, headers=bearer).status_code == 200
        assert (
            client.post(
                f"/api/v1/tasks/{task_ids[-1]}/note", json={"text": "已送医院，血压高"}, headers=bearer
            ).status_code
            == 200
        )
        assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {api_secret}x"}).status_code == 401
        client.post("/logout", data={"csrf_token": csrf})
    assert len(standin.requests) >= 6, "the SMS went through the Twilio client"
    recording = [url for url in (call.call_state.params({}).get("RecordingUrl"),) if url]
    secrets = {
        "the Twilio auth token": TEST_AUTH_TOKEN,
        "the API token": api_secret,
        "the password": PASSWORD,
        "the CSRF token": csrf,
        "the session key": SECRET_KEY,
    }
    secrets |= {f"a session cookie {i}": cookie for i, cookie in enumerate(cookies)}
    return secrets, ["已送医院，血压高", *recording]


@pytest.mark.usefixtures("community")
def test_the_simulator_leaves_no_number_secret_or_message_in_any_log_line(client: TestClient, services: Any) -> None:
    """The phone simulator (local gateway) posts to the webhooks through httpx2, whose records are captured too."""
    make_user(services)
    with captured_logs() as logs:
        csrf = sign_in(client)
        headers = {"X-CSRF-Token": csrf}
        sent = client.post("/simulator/api/sms", json={"phone": RESIDENT_PHONE, "body": HEALTH[0]}, headers=headers)
        assert sent.status_code == 200
        run_worker(services)
        assert client.get("/simulator/api/phone", params={"phone": LIAISON_PHONE}).status_code == 200
        call = client.post("/simulator/api/call", json={"phone": RESIDENT_PHONE}, headers=headers).json()
        for move in ({"move": "press", "digits": "0"}, *[{"move": "no_answer"}] * 3, {"move": "record", "seconds": 9}):
            assert client.post(f"/simulator/api/call/{call['sid']}/move", json=move, headers=headers).status_code == 200
        run_worker(services)
        with services.readonly() as session:
            bodies = [*session.scalars(select(InboundMessage.body)), *session.scalars(select(OutboundMessage.body))]
    assert any(line.startswith("INFO httpx2") for line in logs.lines), "the simulator's own requests were captured"
    secrets = {
        "the webhook signing token": TEST_AUTH_TOKEN,
        "the password": PASSWORD,
        "the CSRF token": csrf,
        "the session cookie": client.cookies[SESSION_COOKIE],
    }
    assert_no_leaks(logs.lines, secrets, bodies)
