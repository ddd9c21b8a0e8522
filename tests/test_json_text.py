"""Text no database can store (a lone surrogate, a NUL) in a JSON body: a clear error naming the field, nothing
written, on every route that reads JSON. Form bodies with invalid UTF-8 (the console's, Twilio's) never a 500.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch.models import Base, InboundMessage, StaffRole, TaskEvent
from dispatch.tokens import create_token
from hotline.json_text import unstorable_text
from hotline.services import Services
from hotline.simulator.twiml import parse_voice_twiml
from tests.conftest import HOTLINE_NUMBER, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in
from tests.test_fuzz_webhooks import SORRY, Webhook, post, routes_with_a_body

RESIDENT = "+8613800138000"  # 梁阿姨 of the `community` fixture
API = "/api/v1"
LONE = "梁\ud800"  # a high surrogate with no low one after it: JSON spells it "\ud800"


def test_the_first_unstorable_string_is_named_by_its_path() -> None:
    assert unstorable_text({"a": "ok", "b": [1, {"c": "x"}]}) is None
    found = unstorable_text({"a": "ok", "b": [1, {"c": "x\udc00"}], "d": "\x00"})
    assert found is not None and (found.field, found.code) == ("b[1].c", "lone_surrogate")
    assert "b[1].c" in found.message and "\\udc00" in found.message
    nul = unstorable_text({"note": "a\x00b"})
    assert nul is not None and (nul.field, nul.code) == ("note", "nul")
    key = unstorable_text({"k\ud800": 1})
    assert key is not None and key.field == "k\\ud800 (a key)"
    key.message.encode("utf-8")  # the answer itself can be sent
    assert unstorable_text("\ud800") is not None and unstorable_text(["\ud800"]).field == "[0]"  # type: ignore[union-attr]


def rows(services: Services) -> dict[str, int]:
    """Every table's row count: a refused request writes none."""
    with services.readonly() as session:
        return {
            t.name: int(session.scalar(select(func.count()).select_from(t)) or 0) for t in Base.metadata.tables.values()
        }


def raw_json(body: dict[str, Any]) -> bytes:
    """The body as JSON with non-ASCII escaped, as `"\\ud800"`: the only way a lone surrogate crosses the wire."""
    return json.dumps(body).encode()


@pytest.fixture
def admin(client: TestClient, services: Services, community: None) -> dict[str, str]:
    """An admin token's headers, over a register whose resident has asked for one task."""
    assert post_signed(client, services, "/twilio/sms", sms_params("想买点菜", from_phone=RESIDENT)).status_code == 200
    run_worker(services)
    with services.sessions.begin() as session:
        secret = create_token(session, name="surrogates", role=StaffRole.ADMIN)[1]
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


def first_id(client: TestClient, headers: dict[str, str], what: str) -> int:
    listed = client.get(f"{API}/{what}", headers=headers).json()[what]
    return int(listed[0]["id"])


# Each route the issue names, with a body that is right but for one field's lone surrogate.
NAMED: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/tasks/{task}/note", {"text": LONE}, "text"),
    ("POST", "/tasks/{task}/close", {"note": LONE}, "note"),
    ("POST", "/tasks/{task}/cancel", {"reason": LONE}, "reason"),
    ("PATCH", "/residents/{resident}", {"name": "梁阿姨", "notes": LONE}, "notes"),
    ("PATCH", "/residents/{resident}", {"phones": [RESIDENT, LONE]}, "phones[1]"),
    ("POST", "/calls", {"building": LONE, "dry_run": True}, "building"),
    ("POST", "/notices/preview", {"target_kind": "all", "target": "all", "body": LONE}, "body"),
    ("POST", "/notices", {"target_kind": "all", "target": "all", "body": LONE, "request_key": "k" * 10}, "body"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NAMED, ids=[f"{m} {p} {f}" for m, p, _, f in NAMED])
def test_a_lone_surrogate_is_a_422_naming_the_field_and_writes_nothing(
    client: TestClient,
    services: Services,
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    url = API + path.format(task=first_id(client, admin, "tasks"), resident=first_id(client, admin, "residents"))
    resident_before = client.get(f"{API}/residents/{first_id(client, admin, 'residents')}", headers=admin).json()
    before = rows(services)
    response = client.request(method, url, content=raw_json(body), headers=admin)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"].startswith(f"{field}: ") and "surrogate" in answer["error"]
    assert answer["problems"] == [{"field": field, "code": "lone_surrogate", "message": answer["error"]}]
    assert rows(services) == before
    resident_after = client.get(f"{API}/residents/{first_id(client, admin, 'residents')}", headers=admin).json()
    assert resident_after["resident"] == resident_before["resident"]


def test_every_route_that_reads_json_refuses_a_lone_surrogate(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    """Not only the routes above: any API route with a body, so a new one cannot forget (the check is in the
    reader, before the fields are read)."""
    routes = [(m, url) for m, url in routes_with_a_body(client.app) if url.startswith(f"{API}/")]
    assert len(routes) >= 10
    before = rows(services)
    for method, url in routes:
        response = client.request(method, url, content=raw_json({"anything": [{"deep": LONE}]}), headers=admin)
        assert response.status_code == 422, (method, url, response.text)
        assert response.json()["problems"][0]["field"] == "anything[0].deep", (method, url)
    # Raw bytes of a UTF-16 surrogate in a JSON string decode to one as well (json.loads allows them).
    note = f"{API}/tasks/{first_id(client, admin, 'tasks')}/note"
    response = client.post(note, content=b'{"text": "\xed\xa0\x80"}', headers=admin)
    assert response.status_code == 422 and response.json()["problems"][0]["field"] == "text"
    assert rows(services) == before


# ── The simulator's JSON ─────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.usefixtures("community")
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/simulator/api/sms", {"phone": RESIDENT, "body": LONE}, "body"),
        ("/simulator/api/sms", {"phone": LONE, "body": "hi"}, "phone"),
        ("/simulator/api/call", {"phone": LONE}, "phone"),
        ("/simulator/api/call/CA123/move", {"move": "press", "digits": LONE}, "digits"),
        ("/simulator/api/ringing/CA123", {"phone": LONE, "action": "answer"}, "phone"),
    ],
)
def test_the_simulator_answers_a_lone_surrogate_with_a_400_naming_the_field(
    client: TestClient, services: Services, path: str, body: dict[str, Any], field: str
) -> None:
    make_user(services)
    headers = {"X-CSRF-Token": sign_in(client), "Accept": "application/json", "Content-Type": "application/json"}
    before = rows(services)
    response = client.post(path, content=raw_json(body), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field}: ") and "surrogate" in response.json()["error"]
    assert rows(services) == before


# ── Form bodies: invalid UTF-8 is read with U+FFFD in its place, never a 500 ─────────────────────────────────


@pytest.mark.usefixtures("community")
def test_invalid_utf8_in_a_twilio_form_is_replaced_the_sms_is_kept_and_the_caller_hears_the_menu(
    client: TestClient, services: Services
) -> None:
    """Twilio signs UTF-8, so bytes that are not UTF-8 never come from it; still, a resident's SMS is stored (its
    bad bytes as U+FFFD) and a caller gets valid TwiML, not the apology of the edge handler."""
    sms = Webhook(
        "/twilio/sms", "", urlencode(sms_params("买菜")).encode() + b"&Body=%ED%A0%80%FF", "signed", False, None
    )
    answer = post(client, services, sms)
    assert answer.status_code == 200, answer.text
    with services.readonly() as session:
        assert session.scalars(select(InboundMessage.body)).all() == ["\ufffd" * 4]
    run_worker(services)
    with services.readonly() as session:
        assert session.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None))) == 0
    call = {"CallSid": "CA" + "1" * 32, "From": RESIDENT, "To": HOTLINE_NUMBER}
    menu = Webhook(
        "/twilio/voice/menu",
        "n=resident_menu",
        urlencode(call).encode() + b"&SpeechResult=%ED%A0%80",
        "signed",
        False,
        None,
    )
    answer = post(client, services, menu)
    assert answer.status_code == 200, answer.text
    said = " ".join(verb.text or "" for verb in parse_voice_twiml(answer.text).iter("Say"))
    assert not any(sorry in said for sorry in SORRY), said


@pytest.mark.usefixtures("community")
def test_invalid_utf8_in_a_console_form_is_never_a_server_error(
    client: TestClient, services: Services, admin: dict[str, str]
) -> None:
    make_user(services)
    csrf = sign_in(client)
    form = {"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"}
    body = f"csrf_token={csrf}&text=%ED%A0%80&note=%ED%A0%80&name=%ED%A0%80&body=%ED%A0%80&reason=%FF".encode()
    for method, url in routes_with_a_body(client.app):
        if not url.startswith(("/api/", "/twilio/", "/simulator/")) and url != "/logout":
            answer = client.request(method, url, content=body, headers=form)
            assert answer.status_code < 500, (method, url, answer.status_code)
    with services.readonly() as session:
        notes = [e.detail for e in session.scalars(select(TaskEvent)) if e.detail and "\ufffd" in e.detail]
    assert notes and all(not any("\ud800" <= c <= "\udfff" for c in note) for note in notes)
