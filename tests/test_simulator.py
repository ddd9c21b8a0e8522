"""The phone simulator through its JSON API: signed requests to the real webhooks, real workers, the thread,
calls into the voice menus, and check-in calls ringing at a resident's phone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

import httpx2 as httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from dispatch.models import Checkin, CheckinStatus, LocalOutboxEntry, TaskCategory, TaskStatus
from hotline.app import create_app
from hotline.jobs import checkins
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import (
    LIAISON_PHONE,
    PHONES,
    PUBLIC_URL,
    RESIDENT_PHONE,
    TEST_AUTH_TOKEN,
    Clock,
    at,
    run_worker,
    tasks,
)
from tests.console_helpers import make_user, sign_in


@pytest.fixture
def staff(client: TestClient, services: Services) -> dict[str, str]:
    """A signed-in admin: the CSRF header every POST carries."""
    make_user(services)
    return {"X-CSRF-Token": sign_in(client), "Accept": "application/json"}


def post(client: TestClient, headers: dict[str, str], path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def thread(client: TestClient, phone: str) -> list[dict[str, str]]:
    response = client.get("/simulator/api/phone", params={"phone": phone})
    assert response.status_code == 200, response.text
    return response.json()["thread"]  # type: ignore[no-any-return]


@pytest.fixture
def recorded(client: TestClient) -> Iterator[list[tuple[str, dict[str, str], str]]]:
    """Every request the simulator makes to the webhooks, as the app receives it: path, fields, signature."""
    seen: list[tuple[str, dict[str, str], str]] = []
    webhooks = client.app.state.simulator  # type: ignore[attr-defined]
    real_app = webhooks._transport.app

    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        seen.append((path, fields, headers.get("x-twilio-signature", "")))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await real_app(scope, replay, send)

    webhooks._transport = httpx.ASGITransport(app=recording)
    yield seen


@pytest.mark.usefixtures("community")
def test_a_resident_texts_the_liaison_takes_it_and_the_resident_hears_back(
    client: TestClient, services: Services, staff: dict[str, str], recorded: list[tuple[str, dict[str, str], str]]
) -> None:
    people = client.get("/simulator/api/people", headers=staff).json()["people"]
    resident = next(p for p in people if p["phone"] == RESIDENT_PHONE)
    assert (resident["name"], resident["liaison"], resident["liaison_phone"]) == ("梁阿姨", "张敏", LIAISON_PHONE)

    post(client, staff, "/simulator/api/sms", {"phone": RESIDENT_PHONE, "body": "买药"})
    run_worker(services)
    [task] = tasks(services)
    assert task.category == TaskCategory.MEDICINE
    mine = thread(client, RESIDENT_PHONE)
    assert [m["from"] for m in mine] == ["me", "hotline"] and "已转告联络员张敏" in mine[1]["body"]
    offer = thread(client, LIAISON_PHONE)[-1]
    assert offer["from"] == "hotline" and f"接{task.id}" in offer["body"]

    post(client, staff, "/simulator/api/sms", {"phone": LIAISON_PHONE, "body": f"接{task.id}"})
    run_worker(services)
    assert tasks(services)[0].status == TaskStatus.ACCEPTED
    assert "已由张敏接单" in thread(client, RESIDENT_PHONE)[-1]["body"]

    # Each request carried the fields Twilio sends and a signature Twilio's own validator accepts.
    validator = RequestValidator(TEST_AUTH_TOKEN)
    assert [path for path, _, _ in recorded] == ["/twilio/sms", "/twilio/sms"]
    for path, fields, signature in recorded:
        assert {"From", "To", "Body", "MessageSid", "AccountSid", "NumMedia"} <= set(fields)
        assert validator.validate(PUBLIC_URL + path, fields, signature)


def test_bad_requests_get_a_clear_error_and_send_nothing(
    client: TestClient, services: Services, staff: dict[str, str]
) -> None:
    assert post(client, staff, "/simulator/api/sms", {"phone": "+8613800000999", "body": "hi"}, 404)["error"]
    assert "pick someone" in post(client, staff, "/simulator/api/call", {"phone": 5}, 404)["error"]
    missing = post(client, staff, "/simulator/api/call/CA123/move", {"move": "press", "digits": "1"}, 404)
    assert "no such call" in missing["error"]
    assert client.post("/simulator/api/sms", json={"phone": RESIDENT_PHONE, "body": "hi"}).status_code == 403  # no CSRF
    with services.readonly() as session:
        assert session.scalars(select(LocalOutboxEntry)).all() == []


@pytest.mark.usefixtures("community")
def test_a_call_follows_the_menu_rings_the_liaison_and_takes_a_message(
    client: TestClient, services: Services, staff: dict[str, str], recorded: list[tuple[str, dict[str, str], str]]
) -> None:
    call = post(client, staff, "/simulator/api/call", {"phone": RESIDENT_PHONE})
    assert call["waiting"] == "Gather" and "梁阿姨您好" in call["said"][0]["text"]
    assert call["said"][0]["language"] == "cmn-CN"
    sid = call["sid"]
    call = post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "press", "digits": "0"})
    assert call["waiting"] == "Dial" and call["ringing"] == "张敏"
    for _ in range(3):  # the liaison, the backup, the duty phone: nobody answers
        call = post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "no_answer"})
    assert call["waiting"] == "Record" and call["record_seconds"] == 20
    call = post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "record", "seconds": 10})
    assert call["ended"] and "再见" in call["said"][-1]["text"]
    run_worker(services)
    [task] = tasks(services)
    assert task.category == TaskCategory.CALLBACK and task.priority == "urgent"
    # The end of the call was reported as Twilio reports it; a move after it is refused.
    path, fields, _ = recorded[-1]
    assert path == "/twilio/voice/status" and fields["CallStatus"] == "completed"
    assert {"CallSid", "From", "To", "CallStatus", "Direction", "AccountSid"} <= set(fields)
    assert post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "hang_up"}, 409)["error"]


def ringing_at_landline(client: TestClient, services: Services, clock: Clock) -> tuple[str, dict[str, str]]:
    """The 09:00 check-in call to 孙爷爷's landline, ringing in the simulator: his number and the call."""
    clock.now = at("09:00")
    checkins.checkin_tick()
    run_worker(services)
    landline = PHONES["孙爷爷"]
    [ringing] = client.get("/simulator/api/phone", params={"phone": landline}).json()["ringing"]
    return landline, ringing


def test_a_check_in_call_rings_at_the_residents_phone_and_is_answered(
    client: TestClient, services: Services, staff: dict[str, str], clock: Clock, town: dict[str, int]
) -> None:
    landline, ringing = ringing_at_landline(client, services, clock)
    call = post(client, staff, f"/simulator/api/ringing/{ringing['sid']}", {"phone": landline, "action": "answer"})
    assert "孙爷爷您好" in call["said"][0]["text"] and call["waiting"] == "Gather"
    call = post(client, staff, f"/simulator/api/call/{call['sid']}/move", {"move": "press", "digits": "1"})
    assert call["ended"]
    run_worker(services)
    with services.readonly() as session:
        checkin = session.scalars(select(Checkin).where(Checkin.resident_id == town["孙爷爷"])).one()
    assert checkin.status == CheckinStatus.FINE
    # It rings no more, and a second answer (another tab, a double click) is refused.
    assert client.get("/simulator/api/phone", params={"phone": landline}).json()["ringing"] == []
    again = post(
        client, staff, f"/simulator/api/ringing/{ringing['sid']}", {"phone": landline, "action": "answer"}, 409
    )
    assert "not ringing" in again["error"]


def test_a_check_in_call_let_ring_out_is_reported_unanswered(
    client: TestClient, services: Services, staff: dict[str, str], clock: Clock, town: dict[str, int]
) -> None:
    landline, ringing = ringing_at_landline(client, services, clock)
    call = post(client, staff, f"/simulator/api/ringing/{ringing['sid']}", {"phone": landline, "action": "ring_out"})
    assert call["ended"] and call["said"] == []
    run_worker(services)
    with services.readonly() as session:
        checkin = session.scalars(select(Checkin).where(Checkin.resident_id == town["孙爷爷"])).one()
    assert checkin.last_call_result == "no-answer"


def test_the_simulator_is_refused_with_the_twilio_gateway(settings: Settings, services: Services) -> None:
    twilio = replace(settings, gateway="twilio")
    with TestClient(create_app(twilio, replace(services, settings=twilio)), base_url=PUBLIC_URL) as client:
        make_user(services)
        headers = {"X-CSRF-Token": sign_in(client)}
        assert client.get("/simulator").status_code == 404
        for path in ("/simulator/api/people", "/simulator/api/phone?phone=" + RESIDENT_PHONE):
            assert client.get(path, headers=headers).status_code == 404
        for path in (
            "/simulator/api/sms",
            "/simulator/api/call",
            "/simulator/api/call/CA1/move",
            "/simulator/api/ringing/CA1",
        ):
            assert client.post(path, json={"phone": RESIDENT_PHONE, "body": "x"}, headers=headers).status_code == 404
        assert "/simulator" not in client.get("/board").text  # not offered in the menu either


@pytest.mark.usefixtures("community")
def test_a_caller_who_says_nothing_after_the_beep_is_reported_and_called_back(
    client: TestClient, services: Services, staff: dict[str, str], recorded: list[tuple[str, dict[str, str], str]]
) -> None:
    sid = post(client, staff, "/simulator/api/call", {"phone": RESIDENT_PHONE})["sid"]
    post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "press", "digits": "0"})
    for _ in range(3):
        call = post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "no_answer"})
    call = post(client, staff, f"/simulator/api/call/{sid}/move", {"move": "record_nothing"})
    assert call["ended"]
    statuses = [fields["CallStatus"] for path, fields, _ in recorded if path == "/twilio/voice/status"]
    assert statuses == ["completed"]  # reported once, as Twilio reports the end of a call
    run_worker(services)
    [task] = tasks(services)
    assert task.category == TaskCategory.CALLBACK


def test_a_grid_leader_cannot_text_or_call_as_anyone_outside_their_grid(client: TestClient, services: Services) -> None:
    from dispatch import register
    from dispatch.models import StaffRole

    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        home = register.Address("幸福里社区", "1号楼", "1单元", "101")
        away = register.Address("幸福里社区", "9号楼", "1单元", "101")
        mine = register.add_resident(
            session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, address=home, region="CN"
        )
        # 张敏 also serves a household in grid 2: playing her would show grid 2's errands.
        other = register.add_resident(
            session, name="王大爷", phones=["13800138001"], liaison_phone=LIAISON_PHONE, address=away, region="CN"
        )
        assert mine.household.community is not None
        mine.household.grid = register.find_or_create_grid(session, mine.household.community, "第1网格")
        other.household.grid = register.find_or_create_grid(session, mine.household.community, "第2网格")
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid="第1网格")
    headers = {"X-CSRF-Token": sign_in(client, "leader1"), "Accept": "application/json"}
    names = {p["name"] for p in client.get("/simulator/api/people", headers=headers).json()["people"]}
    assert names == {"梁阿姨"}
    for phone in ("+8613800138001", LIAISON_PHONE):
        assert (
            client.post("/simulator/api/sms", json={"phone": phone, "body": "买药"}, headers=headers).status_code == 404
        )
        assert client.post("/simulator/api/call", json={"phone": phone}, headers=headers).status_code == 404
    assert post(client, headers, "/simulator/api/sms", {"phone": RESIDENT_PHONE, "body": "买药"})["status"] == 200
    run_worker(services)
    assert "梁阿姨" in client.get("/board").text
