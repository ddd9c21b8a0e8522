"""Every route of the app with the rule that guards it, and a register to try those rules on.

`RULES` names each route by method and path ("MOUNT <path>" for a mounted app such as the static files). The
tests in `tests/test_route_security.py` and `tests/test_route_scope.py` walk the real app and fail on a route
without a rule (or a rule without a route), then check each rule by requests. A new route needs a line here.

`Target` is what a request names: a task, a resident, a notice, a phone, a simulator call. A rule's `path`
parameters, query and body are filled from one, so one probe can aim at a resident in the caller's scope, one
outside it, or one that does not exist.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy import select, update
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import CircleContact, InboundMessage, LiaisonGreeting, Medicine, StaffRole, Task, TriageItem
from dispatch.phones import mask_phone
from dispatch.tokens import create_token, revoke_token
from hotline.services import Services
from hotline.simulator.phones import CallStore
from hotline.simulator.twiml import Call
from tests.conftest import HOTLINE_NUMBER, post_signed, run_worker, sms_params
from tests.route_requests import Target, phone_forms

# Read from here by the route tests, with the rules:
from tests.route_requests import fill as fill
from tests.route_requests import row_counts as row_counts
from tests.route_requests import send as send
from workers.gateways.local import LocalGateway

ALL_ROLES = frozenset(StaffRole)


def away_until() -> str:
    """A return date a few days ahead, wherever the test runs."""
    return (date.today() + timedelta(days=5)).isoformat()


Body = Callable[["Target"], dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """kind: public, static, twilio, tencent (the secret in the URL), android (a phone's signed webhook), httpsms (a
    JWT), console, simulator, api, or token (a bearer token outside the API: /metrics).
    roles: who may pass the guard. names: what a
    request names, so what scope must hold: task, resident, notice, triage, call, phone, target (a selection or a
    notice's target), list (a page or list that must show only what is in scope), or "" (nobody's data)."""

    kind: str
    roles: frozenset[StaffRole] = ALL_ROLES
    names: str = ""
    body: Body | None = None
    query: Callable[[Target], str] | None = None


def console(
    names: str = "",
    body: Body | None = None,
    *,
    roles: frozenset[StaffRole] = ALL_ROLES,
    query: Callable[[Target], str] | None = None,
) -> Rule:
    return Rule("console", roles, names, body, query)


def simulator(names: str = "", body: Body | None = None, query: Callable[[Target], str] | None = None) -> Rule:
    return Rule("simulator", ALL_ROLES, names, body, query)


def api(names: str = "", body: Body | None = None, *, roles: frozenset[StaffRole] = ALL_ROLES) -> Rule:
    return Rule("api", roles, names, body)


def twilio(params: Body, query: str = "") -> Rule:
    return Rule("twilio", frozenset(), "", params, (lambda _: query) if query else None)


def tencent(body: Body) -> Rule:
    """Tencent Cloud's SMS and voice callbacks: JSON, and the callback secret in the query (none here: refused)."""
    return Rule("tencent", frozenset(), "", body)


def android(payload: Body) -> Rule:
    """A webhook of SMS Gateway for Android from the phone "a": its signature is the only credential."""
    return Rule("android", frozenset(), "", payload, lambda _: "phone=a")


def httpsms(event: Body) -> Rule:
    """A webhook of httpSMS (a community's own SIM): its JWT (Authorization: Bearer) is the only credential."""
    return Rule("httpsms", frozenset(), "", event)


PUBLIC, STATIC = Rule("public", frozenset()), Rule("static", frozenset())
ADMIN_ONLY = frozenset({StaffRole.ADMIN})
IMPORTERS = frozenset({StaffRole.ADMIN, StaffRole.CLERK})
TRIAGERS = IMPORTERS
CALL = {"AccountSid": "AC" + "1" * 32, "CallSid": "CA" + "2" * 32, "To": HOTLINE_NUMBER, "Direction": "inbound"}


def _call(t: Target, **fields: str) -> dict[str, Any]:
    return {**CALL, "From": t.phone, "CallStatus": "in-progress", **fields}


NOTICE_KEY = "probe-key-1"
CONTACT_PHONE = "+8613700000039"  # each resident's family contact (care circle), with no consent recorded
RULES: dict[str, Rule] = {
    # Deliberately public: the health and readiness checks (machine-facing; no URL, secret or anyone's data),
    # sign-in (CSRF-checked and throttled), the API's description, and static files (the console's CSS and
    # scripts; the recorded prompts Twilio fetches for <Play>).
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /": PUBLIC,  # only a redirect: to the board if signed in, else to sign-in
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "GET /api/v1/openapi.json": PUBLIC,
    "MOUNT /static": STATIC,
    "MOUNT /ivr-audio": STATIC,
    # A liaison's recorded greeting, fetched by Twilio for <Play>: public, but only with a signed link that expires
    # (404 without one: tests/test_voice_greetings.py).
    "GET /voice/greetings/{greeting_id:id}": PUBLIC,
    # Twilio's webhooks: the signature is the only credential.
    "POST /twilio/sms": twilio(lambda t: sms_params("我胸口痛，血压高", from_phone=t.phone)),
    "POST /twilio/status": twilio(
        lambda t: {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered", "To": t.phone, "From": HOTLINE_NUMBER},
        "o=1",
    ),
    "POST /twilio/voice/message": twilio(lambda t: _call(t), "o=1"),
    # The Android phones' webhooks: the app's signature (X-Signature, X-Timestamp) is the only credential.
    "POST /android/events": android(
        lambda t: {
            "deviceId": "ffffffffceb0b1db0000018e937c815b",
            "event": "sms:received",
            "id": "Ey6ECgOkVVFjz3CL48B8C",
            "payload": {"messageId": "3e1f9a7c", "message": "我胸口痛，血压高", "sender": t.phone},
        }
    ),
    # httpSMS's webhooks (a community's own SIM, for its missed calls): the JWT it signs is the only credential.
    "POST /httpsms/events": httpsms(
        lambda t: {
            "specversion": "1.0",
            "id": "5f0e8a3c-1b2d-4e6f-8a9b-0c1d2e3f4a5b",
            "type": "message.call.missed",
            "data": {"owner": "+8613800009999", "contact": t.phone, "timestamp": "2026-12-07T09:30:00+08:00"},
        }
    ),
    "POST /twilio/voice": twilio(lambda t: _call(t, CallStatus="ringing")),
    "POST /twilio/voice/menu": twilio(lambda t: _call(t, Digits="0"), "n=main&r=0"),
    "POST /twilio/voice/dial": twilio(lambda t: _call(t, DialCallStatus="no-answer"), "i=0"),
    "POST /twilio/voice/recorded": twilio(
        lambda t: _call(
            t, RecordingUrl="https://api.twilio.com/RE1", RecordingSid="RE" + "4" * 32, RecordingDuration="9"
        )
    ),
    "POST /twilio/voice/status": twilio(lambda t: _call(t, CallStatus="completed", CallDuration="30")),
    "POST /twilio/voice/checkin": twilio(lambda t: _call(t, AnsweredBy="human", Direction="outbound-api"), "o=1"),
    "POST /twilio/voice/checkin/status": twilio(lambda t: _call(t, CallStatus="busy"), "o=1"),
    "POST /twilio/voice/greeting/recorded": twilio(
        lambda t: _call(
            t, RecordingUrl="https://api.twilio.com/RE1", RecordingSid="RE" + "4" * 32, RecordingDuration="9"
        ),
        "n=liaison_menu",
    ),
    "POST /twilio/voice/greeting/choice": twilio(lambda t: _call(t, Digits="1"), "n=liaison_menu&g=1"),
    # Tencent Cloud SMS's callbacks: the secret in the URL is the only credential.
    "POST /tencent/sms/reply": tencent(
        lambda t: {
            "extend": "",
            "mobile": t.national,
            "nationcode": "86",
            "sign": "社区热线",
            "text": "我胸口痛",
            "time": 1,
        }
    ),
    "POST /tencent/sms/status": tencent(
        lambda t: cast(dict[str, Any], [{"sid": "2019:3", "report_status": "FAIL", "mobile": t.national}])
    ),
    "POST /tencent/voice/callback": tencent(
        lambda t: {"voicekey_callback": {"call_from": "", "callid": "c-1", "keypress": "4", "mobile": t.national}}
    ),
    # The console: signed-in staff (`staff_only`), CSRF on POST, and everything in the account's scope.
    "POST /logout": console(),
    "GET /board": console("list"),
    "GET /tasks": console("list"),
    "GET /tasks/{task_id:id}": console("task"),
    "GET /tasks/{task_id:id}/voicemails/{message_id:id}": console("task"),
    "POST /tasks/{task_id:id}/assign": console("task", lambda t: {"liaison_id": str(t.liaison)}),
    "POST /tasks/{task_id:id}/owner": console("task", lambda t: {"take": "1"}),
    "POST /tasks/{task_id:id}/note": console("task", lambda t: {"text": "门口放着"}),
    "POST /tasks/{task_id:id}/close": console("task", lambda t: {"note": "办好了"}),
    "POST /tasks/{task_id:id}/cancel": console("task", lambda t: {"reason": "不用了"}),
    "POST /tasks/{task_id:id}/reopen": console("task", lambda t: {"reason": "药买错了"}),
    "POST /tasks/{task_id:id}/triage": console("task", lambda t: {"category": "medicine"}),
    # Triage of unknown numbers: admins and clerks (an item belongs to a community, not a grid).
    "GET /triage": console("list", roles=TRIAGERS),
    "GET /triage/{triage_id:id}": console("triage", roles=TRIAGERS),
    "GET /triage/{triage_id:id}/voicemails/{message_id:id}": console("triage", roles=TRIAGERS),
    "GET /triage/{triage_id:id}/link": console("triage", roles=TRIAGERS, query=lambda t: f"resident_id={t.resident}"),
    "POST /triage/{triage_id:id}/link": console(
        "triage", lambda t: {"resident_id": str(t.resident), "confirm": "1"}, roles=TRIAGERS
    ),
    "POST /triage/{triage_id:id}/register": console("triage", lambda t: {"name": "新居民"}, roles=TRIAGERS),
    "POST /triage/{triage_id:id}/close": console("triage", lambda t: {"note": "打错了"}, roles=TRIAGERS),
    "GET /register": console("list", query=lambda t: f"q={quote(t.national)}"),
    "GET /register/residents/{resident_id:id}": console("resident"),
    "GET /register/residents/{resident_id:id}/edit": console("resident"),
    "POST /register/residents/{resident_id:id}/edit": console(
        "resident",
        lambda t: {
            "name": "改过的名字",
            "phones": t.phone,
            "language": "zh-CN",
            "channel": "sms",
            "risk": "green",
            "status": "active",
            "plan_mode": "default",
            "primary_liaison": str(t.liaison),
        },
    ),
    "POST /register/residents/{resident_id:id}/tasks": console(
        "resident", lambda t: {"category": "groceries", "words": "邻居来电：帮买米", "request_key": uuid.uuid4().hex}
    ),
    "POST /register/residents/{resident_id:id}/ring": console("resident", lambda t: {"mode": "fine"}),
    "GET /register/residents/{resident_id:id}/access": console("resident"),
    "POST /register/residents/{resident_id:id}/access": console(
        "resident", lambda t: {"key_holder_name": "李四", "door_code": "1234#", "notes": "有狗"}
    ),
    "POST /register/residents/{resident_id:id}/sms": console(
        "resident", lambda t: {"to": "resident", "body": "请给社区回个电话", "request_key": uuid.uuid4().hex}
    ),
    "POST /register/residents/{resident_id:id}/voice-profile": console("resident", lambda t: {"slower": "on"}),
    "POST /register/residents/{resident_id:id}/absence": console(
        "resident", lambda t: {"reason": "hospital", "return_on": away_until(), "request_key": uuid.uuid4().hex}
    ),
    "POST /register/residents/{resident_id:id}/absence/end": console("resident"),
    "POST /register/residents/{resident_id:id}/medicines": console(
        "resident", lambda t: {"name": "降压药", "days_supply": "30", "request_key": uuid.uuid4().hex}
    ),
    "GET /register/residents/{resident_id:id}/medicines/{medicine_id:id}": console("resident"),
    "POST /register/residents/{resident_id:id}/medicines/{medicine_id:id}": console(
        "resident", lambda t: {"name": "降压药 氨氯地平", "days_supply": "28"}
    ),
    "POST /register/residents/{resident_id:id}/medicines/{medicine_id:id}/refill": console("resident", lambda t: {}),
    "POST /register/residents/{resident_id:id}/medicines/{medicine_id:id}/stop": console("resident"),
    "POST /register/residents/{resident_id:id}/circle": console(
        "resident",
        lambda t: {"name": "王芳", "relation": "女儿", "phone": "13700000019", "request_key": uuid.uuid4().hex},
    ),
    "POST /register/residents/{resident_id:id}/circle/{contact_id:id}": console(
        "resident", lambda t: {"name": "王芳", "relation": "女儿", "phone": CONTACT_PHONE, "consent_way": "in_person"}
    ),
    "POST /register/residents/{resident_id:id}/circle/{contact_id:id}/opt-out": console("resident"),
    "POST /register/residents/{resident_id:id}/circle/{contact_id:id}/remove": console("resident"),
    "GET /messages": console("list"),
    "GET /messages/sent": console("list"),
    "GET /messages/failed": console("list"),
    "GET /register/import": console(roles=IMPORTERS),
    "POST /register/import": console(roles=IMPORTERS),
    "GET /register/import/progress": console(roles=IMPORTERS),
    "GET /register/export.csv": console("list"),
    "GET /register/export.xlsx": console("list"),
    "GET /calls": console("target", query=lambda t: f"resident_id={t.resident}"),
    "POST /calls": console("target", lambda t: {"resident_id": str(t.resident)}),
    "GET /notices": console("list"),
    "GET /notices/new": console("list"),
    "POST /notices/new": console(
        "target",
        lambda t: {
            "target": f"grid:{t.grid}",
            "channels": "sms",
            "body": "探针通知",
            "step": "send",
            "request_key": NOTICE_KEY,
        },
    ),
    "POST /notices/preview": console(
        "target", lambda t: {"target": f"grid:{t.grid}", "channels": "sms", "body": "探针通知"}
    ),
    "GET /notices/{notice_id:id}": console("notice"),
    "POST /notices/{notice_id:id}/cancel": console("notice", lambda t: {}),
    "GET /reports": console("list"),
    "GET /reports.csv": console("list"),
    "GET /ivr": console(),
    "GET /channels": console(),
    "POST /channels/communities/{community_id:id}": console("", lambda t: {"sms": "", "calls": ""}, roles=ADMIN_ONLY),
    "GET /audit": console("list", roles=ADMIN_ONLY),
    "POST /language": console("", lambda t: {"language": "en"}),
    # The register's people: liaisons (admins, and a clerk their own community's), staff accounts and tokens
    # (admins). The liaisons' routes come last of the console's: their probes edit and stop the target's liaison.
    "GET /people/staff": console("list", roles=ADMIN_ONLY),
    "POST /people/staff": console(
        "", lambda t: {"username": "probe", "password": "probe password", "scope": "admin"}, roles=ADMIN_ONLY
    ),
    "POST /people/staff/{staff_id:id}/role": console("", lambda t: {"scope": "admin"}, roles=ADMIN_ONLY),
    "POST /people/staff/{staff_id:id}/deactivate": console(roles=ADMIN_ONLY),
    "GET /people/tokens": console("list", roles=ADMIN_ONLY),
    "POST /people/tokens": console(
        "",
        lambda t: {"name": "probe", "scope": "admin", "lifetime": "30", "request_key": "probe-request-key-1"},
        roles=ADMIN_ONLY,
    ),
    "POST /people/tokens/{token_id:id}/revoke": console(roles=ADMIN_ONLY),
    "GET /people/places": console("list", roles=ADMIN_ONLY),
    "POST /people/places/communities": console("", lambda t: {"name": "探针社区"}, roles=ADMIN_ONLY),
    "POST /people/places/communities/{community_id:id}": console("", lambda t: {"name": "改名"}, roles=ADMIN_ONLY),
    "POST /people/places/communities/{community_id:id}/grids": console(
        "", lambda t: {"name": "探针网格"}, roles=ADMIN_ONLY
    ),
    "POST /people/places/grids/{grid_id:id}": console("", lambda t: {"name": "改名"}, roles=ADMIN_ONLY),
    "POST /people/places/communities/{community_id:id}/directory": console(
        "", lambda t: {"kind": "pharmacy", "name": "探针药店", "phone": "057100000099"}, roles=ADMIN_ONLY
    ),
    "POST /people/places/directory/{entry_id:id}": console(
        "", lambda t: {"kind": "pharmacy", "name": "探针药店", "phone": "057100000099"}, roles=ADMIN_ONLY
    ),
    "POST /people/places/directory/{entry_id:id}/remove": console(roles=ADMIN_ONLY),
    "GET /people/liaisons": console("list", roles=IMPORTERS),
    "POST /people/liaisons": console(
        "target", lambda t: {"name": "探针联络员", "phone": "13900000077", "grid": str(t.grid_id)}, roles=IMPORTERS
    ),
    "GET /people/liaisons/{liaison_id:id}/edit": console("liaison", roles=IMPORTERS),
    "POST /people/liaisons/{liaison_id:id}/edit": console(
        "liaison", lambda t: {"name": "改过的联络员", "phone": "13900000078", "grid": str(t.grid_id)}, roles=IMPORTERS
    ),
    "GET /people/liaisons/{liaison_id:id}/deactivate": console("liaison", roles=IMPORTERS),
    "POST /people/liaisons/{liaison_id:id}/deactivate": console("liaison", roles=IMPORTERS),
    "GET /people/liaisons/{liaison_id:id}/greeting": console("liaison", roles=IMPORTERS),
    "GET /people/liaisons/{liaison_id:id}/greeting/audio": console("liaison", roles=IMPORTERS),
    "POST /people/liaisons/{liaison_id:id}/greeting": console("liaison", roles=IMPORTERS),  # removes it: last
    # The simulator: as the console, and only with the local gateway (`local_only`, 404 with Twilio).
    "GET /simulator": simulator(),
    "GET /simulator/api/people": simulator("list"),
    "GET /simulator/api/phone": simulator("phone", query=lambda t: f"phone={quote(t.phone)}"),
    "POST /simulator/api/sms": simulator("phone", lambda t: {"phone": t.phone, "body": "我要买药"}),
    "POST /simulator/api/report": simulator(
        "phone", lambda t: {"phone": t.phone, "id": "out-1", "status": "delivered"}
    ),
    "POST /simulator/api/call": simulator("phone", lambda t: {"phone": t.phone}),
    "POST /simulator/api/call/{sid}/move": simulator("call", lambda t: {"move": "press", "digits": "1"}),
    "POST /simulator/api/ringing/{sid}": simulator("phone", lambda t: {"phone": t.phone, "action": "answer"}),
    # The JSON API: a live bearer token (`token_only`) of the route's roles, and its scope.
    "GET /api/v1/board": api("list"),
    "GET /api/v1/tasks": api("list"),
    "POST /api/v1/tasks": api(
        "resident", lambda t: {"resident_id": t.resident, "category": "groceries", "words": "邻居来电：帮买米"}
    ),
    "GET /api/v1/tasks/{id}": api("task"),
    "GET /api/v1/tasks/{id}/voicemails/{message_id}": api("task"),
    "POST /api/v1/tasks/{id}/assign": api("task", lambda t: {"liaison_id": t.liaison}),
    "POST /api/v1/tasks/{id}/owner": api("task", lambda t: {"staff_id": None}),
    "POST /api/v1/tasks/{id}/note": api("task", lambda t: {"text": "门口放着"}),
    "POST /api/v1/tasks/{id}/close": api("task", lambda t: {"note": "办好了"}),
    "POST /api/v1/tasks/{id}/cancel": api("task", lambda t: {"reason": "不用了"}),
    "POST /api/v1/tasks/{id}/reopen": api("task", lambda t: {"reason": "药买错了"}),
    "POST /api/v1/tasks/{id}/triage": api("task", lambda t: {"category": "medicine"}),
    "GET /api/v1/liaisons": api("list"),
    "GET /api/v1/triage": api("list", roles=TRIAGERS),
    "GET /api/v1/triage/{id}": api("triage", roles=TRIAGERS),
    "GET /api/v1/triage/{id}/voicemails/{message_id}": api("triage", roles=TRIAGERS),
    "POST /api/v1/triage/{id}/link": api("triage", lambda t: {"resident_id": t.resident}, roles=TRIAGERS),
    "POST /api/v1/triage/{id}/register": api("triage", lambda t: {"name": "新居民"}, roles=TRIAGERS),
    "POST /api/v1/triage/{id}/close": api("triage", lambda t: {"note": "打错了"}, roles=TRIAGERS),
    "GET /api/v1/residents": api("list"),
    "GET /api/v1/residents/{id}": api("resident"),
    "PATCH /api/v1/residents/{id}": api("resident", lambda t: {"notes": "改过"}),
    "PUT /api/v1/residents/{id}/liaisons": api("resident", lambda t: {"primary_id": t.liaison, "backup_id": None}),
    "GET /api/v1/residents/{id}/access": api("resident"),
    "PUT /api/v1/residents/{id}/access": api("resident", lambda t: {"door_code": "1234#", "notes": "有狗"}),
    "PUT /api/v1/residents/{id}/plan": api("resident", lambda t: {"own": True, "times": ["10:00"]}),
    "GET /api/v1/residents/{id}/ring": api("resident"),
    "PUT /api/v1/residents/{id}/ring": api("resident", lambda t: {"mode": "fine"}),
    "PUT /api/v1/residents/{id}/voice-profile": api("resident", lambda t: {"slower": True}),
    "POST /api/v1/residents/{id}/absence": api("resident", lambda t: {"reason": "family", "return_on": away_until()}),
    "POST /api/v1/residents/{id}/absence/end": api("resident"),
    "GET /api/v1/residents/{id}/medicines": api("resident"),
    "POST /api/v1/residents/{id}/medicines": api("resident", lambda t: {"name": "降压药", "days_supply": 30}),
    "PATCH /api/v1/residents/{id}/medicines/{medicine_id}": api("resident", lambda t: {"dose": "每日两片"}),
    "POST /api/v1/residents/{id}/medicines/{medicine_id}/refill": api("resident", lambda t: {}),
    "POST /api/v1/residents/{id}/medicines/{medicine_id}/stop": api("resident"),  # after the others: it stops it
    "GET /api/v1/liaisons/{id}/greeting": api("liaison", roles=IMPORTERS),
    "DELETE /api/v1/liaisons/{id}/greeting": api("liaison", roles=IMPORTERS),
    "GET /api/v1/residents/{id}/circle": api("resident"),
    "POST /api/v1/residents/{id}/circle": api(
        "resident", lambda t: {"name": "王芳", "relation": "女儿", "phone": "13700000029"}
    ),
    "POST /api/v1/residents/{id}/circle/{contact}/opt-out": api("resident"),
    "DELETE /api/v1/residents/{id}/circle/{contact}": api("resident"),
    "POST /api/v1/calls": api("target", lambda t: {"resident_ids": [t.resident]}),
    "POST /api/v1/notices/preview": api(
        "target", lambda t: {"target_kind": "grid", "target": t.grid, "body": "探针通知"}
    ),
    "POST /api/v1/notices": api(
        "target", lambda t: {"target_kind": "grid", "target": t.grid, "body": "探针通知", "request_key": NOTICE_KEY}
    ),
    "GET /api/v1/notices": api("list"),
    "GET /api/v1/notices/{id}": api("notice"),
    "POST /api/v1/notices/{id}/cancel": api("notice"),
    "GET /api/v1/reports/daily": api("list"),
    "GET /api/v1/reports/coverage": api("list"),
    "GET /api/v1/audit": api("list", roles=ADMIN_ONLY),
    # Prometheus metrics: an admin API token (`token_only`), since the counts are service-wide, across communities.
    "GET /metrics": Rule("token", ADMIN_ONLY),
}


def app_routes(app: Any) -> dict[str, Any]:
    """Every route of the app as "METHOD path" (HEAD aside) or "MOUNT path", walked through every Mount."""
    found: list[tuple[str, Any]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount) and route.routes:
                walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Mount):
                found.append((f"MOUNT {prefix}{route.path}", route.app))
            elif isinstance(route, Route):
                found.extend(
                    (f"{method} {prefix}{route.path}", route.endpoint)
                    for method in route.methods or ()
                    if method != "HEAD"
                )
            else:  # a WebSocketRoute, a Host: unknown kinds need a rule too
                found.append((f"{type(route).__name__} {prefix}{getattr(route, 'path', '?')}", route))

    walk(list(app.routes), "")
    twice = [key for key, count in Counter(key for key, _ in found).items() if count > 1]
    assert not twice, f"routes declared twice: {twice}"
    return dict(found)


# ── A register to aim at: two communities, one with two grids ───────────────────────────────────────────────

A, B = "幸福里社区", "光明社区"
PEOPLE = {  # key: (resident, phone, liaison, liaison phone, community, grid, what they asked, notice)
    "mine": ("梁阿姨", "+8613800138000", "张敏", "+8613912345678", A, "第1网格", "想买点菜", "一网格明天停水"),
    "grid2": ("王大爷", "+8613800138001", "李强", "+8613912345679", A, "第2网格", "帮我倒垃圾", "二网格明天停水"),
    "other": ("赵奶奶", "+8613800138002", "陈刚", "+8613912345680", B, "东区", "想理个发", "光明社区明天停电"),
}
UNKNOWN = {"mine": "+8613700000101", "grid2": "+8613700000102", "other": "+8613700000103"}  # not on the register
DUTY_PHONES = {A: "+8657100000001", B: "+8657100000002"}
MISSING = Target(
    task=999_999,
    resident=999_999,
    notice=999_999,
    phone="+8613700000009",
    liaison=999_999,
    grid="无此网格",
    sid="CA" + "9" * 32,
)


@dataclass
class World:
    targets: dict[str, Target]
    tokens: dict[str, str] = field(default_factory=dict)  # admin, clerk_a, clerk_b, leader, revoked


def build_world(client: TestClient, services: Services) -> World:
    """Three residents, each with a task (asked by SMS, made by a real worker) and a notice to their grid."""
    with services.sessions.begin() as session:
        for room, (name, phone, liaison, liaison_phone, community, grid, _, _) in enumerate(PEOPLE.values(), 101):
            register.add_liaison(session, name=liaison, phone=liaison_phone, region="CN")
            resident = register.add_resident(
                session,
                name=name,
                phones=[phone],
                liaison_phone=liaison_phone,
                address=register.Address(community, "1号楼", "1单元", str(room)),
                region="CN",
            )
            assert resident.household.community is not None
            resident.household.grid = register.find_or_create_grid(session, resident.household.community, grid)
        scopes = {
            "admin": (StaffRole.ADMIN, {}),
            "clerk_a": (StaffRole.CLERK, {"community": A}),
            "clerk_b": (StaffRole.CLERK, {"community": B}),
            "leader": (StaffRole.GRID_LEADER, {"grid": f"{A}/第1网格"}),
        }
        tokens = {key: create_token(session, name=key, role=role, **scope)[1] for key, (role, scope) in scopes.items()}
        revoked, tokens["revoked"] = create_token(session, name="old", role=StaffRole.ADMIN)
        revoke_token(session, revoked.id)
    for _, phone, *_, asked, _ in PEOPLE.values():
        assert post_signed(client, services, "/twilio/sms", sms_params(asked, from_phone=phone)).status_code == 200
    with services.sessions.begin() as session:  # each community's own number, which unknown senders text
        for community, duty in DUTY_PHONES.items():
            register.find_or_create_community(session, community).duty_phone = duty
    for key, (name, *_, community, _, _, _) in PEOPLE.items():
        params = {**sms_params(f"{name}的家属问{key}", from_phone=UNKNOWN[key]), "To": DUTY_PHONES[community]}
        assert post_signed(client, services, "/twilio/sms", params).status_code == 200
    run_worker(services)
    status_url = "https://hotline.example.org/twilio/voice/status"
    call = Call(
        sid=Call.new_sid(),
        from_phone=PEOPLE["grid2"][1],
        to_phone=HOTLINE_NUMBER,
        account_sid=CALL["AccountSid"],
        status_url=status_url,
    )
    CallStore(services).save(10**6, call)  # a simulator call played by someone else
    targets = {}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    for key, (name, phone, liaison, liaison_phone, _, grid, asked, notice) in PEOPLE.items():
        sent = client.post(
            "/api/v1/notices", headers=admin, json={"target_kind": "grid", "target": grid, "body": notice}
        )
        assert sent.status_code == 200, sent.text
        with services.readonly() as session:
            resident = register.find_residents_by_phone(session, phone)[0]
            task = session.scalar(select(Task.id).where(Task.resident_id == resident.id))
            found_liaison = register.find_liaison_by_phone(session, liaison_phone)
            grid_id = resident.household.grid_id
        assert task is not None and found_liaison is not None and grid_id is not None
        voicemail = leave_voicemail(services, task)
        with services.readonly() as session:
            triage = session.scalar(select(TriageItem.id).where(TriageItem.phone == UNKNOWN[key]))
        assert triage is not None
        triage_voicemail = leave_triage_voicemail(services, triage)
        with services.sessions.begin() as session:  # a medicine of theirs, for the medicine routes to name
            medicine = Medicine(resident_id=resident.id, name="二甲双胍", days_supply=30)
            session.add(medicine)
            session.flush()
            medicine_id = medicine.id
        keep_greeting_of(services, found_liaison.id)
        with services.sessions.begin() as session:
            family = CircleContact(
                resident_id=resident.id, name=f"{name}的女儿", relation="女儿", phone=CONTACT_PHONE, language="zh-CN"
            )
            session.add(family)
            session.flush()
            contact = family.id
        words = (
            name,
            liaison,
            asked,
            notice,
            *phone_forms(phone),
            *phone_forms(liaison_phone),
            f"{name}的家属问{key}",
            f"{name}的女儿",
            *phone_forms(UNKNOWN[key]),
            mask_phone(UNKNOWN[key]),
        )
        targets[key] = Target(
            task=task,
            resident=resident.id,
            notice=sent.json()["notice"]["id"],
            phone=phone,
            liaison=found_liaison.id,
            grid=grid,
            grid_id=grid_id,
            sid=call.sid,
            voicemail=voicemail,
            triage=triage,
            triage_voicemail=triage_voicemail,
            medicine=medicine_id,
            contact=contact,
            words=words,
        )
    targets["missing"] = MISSING
    return World(targets, tokens)


def keep_greeting_of(services: Services, liaison_id: int) -> None:
    """Give the liaison a current check-in greeting the local gateway keeps, as if they had recorded and kept it."""
    gateway = services.gateway
    assert isinstance(gateway, LocalGateway)
    _, url = gateway.make_recording(1)
    with services.sessions.begin() as session:
        session.add(
            LiaisonGreeting(liaison_id=liaison_id, call_sid=f"CA{liaison_id}", recording_url=url, status="current")
        )


def leave_voicemail(services: Services, task_id: int) -> int:
    """Give the task's own message a voicemail the local gateway keeps, as if it had been a call; its id."""
    gateway = services.gateway
    assert isinstance(gateway, LocalGateway)
    _, url = gateway.make_recording(1)
    with services.sessions.begin() as session:
        task = session.get(Task, task_id)
        assert task is not None and task.source_message_id is not None
        session.execute(
            update(InboundMessage).where(InboundMessage.id == task.source_message_id).values(recording_url=url)
        )
        return task.source_message_id


def leave_triage_voicemail(services: Services, item_id: int) -> int:
    """Give the item's message a voicemail the local gateway keeps, as if an unknown caller had left it; its id."""
    gateway = services.gateway
    assert isinstance(gateway, LocalGateway)
    _, url = gateway.make_recording(1)
    with services.sessions.begin() as session:
        message = session.scalar(select(InboundMessage).where(InboundMessage.triage_item_id == item_id))
        assert message is not None
        message.recording_url = url
        return message.id


def random_secret() -> str:
    return "hl_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]
