"""The webhooks of SMS Gateway for Android, posted as the app posts them (signed with its key and a timestamp):
an SMS a phone received becomes the same work a Twilio SMS would, stored once however often it comes; a bad,
missing or old signature is refused and stores nothing; delivery reports move our rows forward, and a failed offer
climbs its ladder as Twilio's does; a ping says the phone is alive."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AndroidPhone, InboundMessage, OutboundMessage, OutboundStatus, Task, utcnow
from hotline.app import create_app
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.android_helpers import (
    SIGNING_KEY,
    android_services,
    heard_at,
    message_id_of,
    outbound,
    post_event,
    queue,
)
from tests.conftest import (
    BACKUP_PHONE,
    LIAISON_PHONE,
    PUBLIC_URL,
    RESIDENT_PHONE,
    post_signed,
    run_worker,
    sms_params,
)
from tests.console_helpers import make_user, sign_in
from tests.route_requests import row_counts
from tests.standins.android import (
    AndroidStandIn,
    hmac_signature,
    received_payload,
    report_payload,
    signed_webhook,
)

NEIGHBOUR_PHONE = "+8613800138009"


@pytest.fixture
def phone_a() -> Iterator[AndroidStandIn]:
    with AndroidStandIn() as phone:
        yield phone


@pytest.fixture
def android(environ: dict[str, str], phone_a: AndroidStandIn) -> Iterator[Services]:
    with android_services(environ, {"a": phone_a.setting("a")}) as built:
        with built.sessions.begin() as session:
            register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
            register.add_liaison(session, name="李强", phone=BACKUP_PHONE, region="CN")
            for name, phone in (("梁阿姨", RESIDENT_PHONE), ("王大爷", NEIGHBOUR_PHONE)):
                register.add_resident(
                    session,
                    name=name,
                    phones=[phone],
                    liaison_phone=LIAISON_PHONE,
                    backup_liaison_phone=BACKUP_PHONE,
                    region="CN",
                )
        yield built


@pytest.fixture
def client(android: Services) -> Iterator[TestClient]:
    with TestClient(create_app(android.settings, android), base_url=PUBLIC_URL) as test_client:
        yield test_client


def shape(services: Services) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Each task (category, priority, status) and each SMS decided (its dedupe key with the numbers taken out)."""
    with services.sessions() as session:
        tasks = [(t.category, t.priority, t.status) for t in session.scalars(select(Task).order_by(Task.id))]
        keys = session.scalars(select(OutboundMessage.dedupe_key).order_by(OutboundMessage.id)).all()
    return tasks, sorted(re.sub(r"\d+", "N", key) for key in keys)


def test_a_signed_sms_becomes_the_same_work_a_twilio_sms_would(
    client: TestClient, android: Services, phone_a: AndroidStandIn
) -> None:
    assert post_signed(client, android, "/twilio/sms", sms_params("想买点菜")).status_code == 200
    run_worker(android)
    by_twilio = shape(android)
    response = post_event(client, "a", "sms:received", received_payload(NEIGHBOUR_PHONE, "想买点菜"))
    assert response.status_code == 204, response.text
    run_worker(android)
    tasks, keys = shape(android)
    assert len(tasks) == 2 and tasks[1] == tasks[0] == by_twilio[0][0]
    assert keys == sorted(by_twilio[1] * 2)  # the same SMS decided for each: the offer, the receipt
    with android.sessions() as session:
        statuses = session.scalars(select(OutboundMessage.status)).all()
        stored = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert set(statuses) == {OutboundStatus.SENT}  # every one handed to the phone
    assert len(phone_a.sent) == len(statuses) == 4
    assert stored[1].from_phone == NEIGHBOUR_PHONE and stored[1].provider_sid.startswith("AG")


def test_an_sms_delivered_twice_is_stored_once(
    client: TestClient, android: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    payload = received_payload(RESIDENT_PHONE, "我要买药")
    first = post_event(client, "a", "sms:received", payload)
    again = post_event(client, "a", "sms:received", payload)  # the app's retry: a new envelope id and signature
    assert (first.status_code, again.status_code) == (204, 204)
    run_worker(android)
    with android.sessions() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 1
        assert len(session.scalars(select(Task)).all()) == 1
    # Another message whose 32-bit messageId happens to be the same is another message.
    other = {**payload, "message": "我要买菜"}
    assert post_event(client, "a", "sms:received", other).status_code == 204
    with android.sessions() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 2
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "webhook" in logged or "inbound sms" in logged  # the lines were captured…
    for secret in (RESIDENT_PHONE, RESIDENT_PHONE[3:], LIAISON_PHONE[3:], "我要买", SIGNING_KEY):
        assert secret not in logged  # …and no number, text or key is in them


def test_a_bad_missing_or_old_signature_is_refused_and_stores_nothing(client: TestClient, android: Services) -> None:
    payload = received_payload(RESIDENT_PHONE, "我胸口痛")
    body, headers = signed_webhook(SIGNING_KEY, "sms:received", payload)
    now = int(time.time())
    old_body, old_headers = signed_webhook(SIGNING_KEY, "sms:received", payload, timestamp=now - 600)
    future_body, future_headers = signed_webhook(SIGNING_KEY, "sms:received", payload, timestamp=now + 600)
    stranger_body, stranger_headers = signed_webhook("not-our-key-but-long-enough", "sms:received", payload)
    attempts = [
        ("no signature", body, {"Content-Type": "application/json"}),
        ("no timestamp", body, {k: v for k, v in headers.items() if k != "X-Timestamp"}),
        ("another key", stranger_body, stranger_headers),
        ("another body", body.replace("我胸口痛".encode(), "我很好".encode()), headers),
        ("another timestamp", body, {**headers, "X-Timestamp": str(int(headers["X-Timestamp"]) + 1)}),
        ("replayed ten minutes later", old_body, old_headers),
        ("from ten minutes ahead", future_body, future_headers),
        ("not a number", body, {**headers, "X-Timestamp": "soon"}),
        ("not hex", body, {**headers, "X-Signature": "zz" * 32}),
    ]
    before = row_counts(android)
    for name, content, sent_headers in attempts:
        response = client.post("/android/events?phone=a", content=content, headers=sent_headers)
        assert response.status_code == 403, name
        assert "胸口" not in response.text and RESIDENT_PHONE not in response.text, name
    assert row_counts(android) == before  # no message, no "heard from" either
    # The same request, signed as the app signs it, gets past the check: the 403s were the check's.
    assert client.post("/android/events?phone=a", content=body, headers=headers).status_code == 204


def test_bad_json_and_an_unknown_phone_are_clear_400s(client: TestClient, android: Services) -> None:
    before = row_counts(android)
    for content in (b"{not json", b"[1, 2]", b'{"event": "sms:received"}', "\xff".encode("latin-1")):
        _, headers = signed_webhook(SIGNING_KEY, "x", {})
        headers["X-Signature"] = hmac_signature(SIGNING_KEY, content, headers["X-Timestamp"])
        response = client.post("/android/events?phone=a", content=content, headers=headers)
        assert response.status_code == 400 and response.text.startswith("Bad request: body"), response.text
    too_large = b'{"event": "sms:received", "payload": {"message": "' + b"x" * 70_000 + b'"}}'
    _, headers = signed_webhook(SIGNING_KEY, "x", {})
    headers["X-Signature"] = hmac_signature(SIGNING_KEY, too_large, headers["X-Timestamp"])
    assert client.post("/android/events?phone=a", content=too_large, headers=headers).status_code == 413
    response = post_event(client, "z", "system:ping", {"health": {"status": "pass"}})
    assert response.status_code == 400 and "ANDROID_PHONES" in response.text
    no_sender = {**received_payload(RESIDENT_PHONE, "x"), "sender": None, "phoneNumber": None}
    assert post_event(client, "a", "sms:received", no_sender).status_code == 400
    wrong_type = {**received_payload(RESIDENT_PHONE, "x"), "message": 12}
    assert post_event(client, "a", "sms:received", wrong_type).status_code == 400
    assert row_counts(android) == before


def offer_to(services: Services, phone: AndroidStandIn, to: str) -> tuple[int, str]:
    """The row and the phone's message id of the SMS the phone took for `to` (exactly one)."""
    [message_id] = [mid for mid, body in phone.messages.items() if body["phoneNumbers"] == [to]]
    with services.sessions() as session:
        row = session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == to)).one()
        return row.id, message_id


def test_a_failed_offer_climbs_as_twilio_s_does(client: TestClient, android: Services, phone_a: AndroidStandIn) -> None:
    assert post_event(client, "a", "sms:received", received_payload(RESIDENT_PHONE, "买药")).status_code == 204
    run_worker(android)
    row, message_id = offer_to(android, phone_a, LIAISON_PHONE)
    failed = report_payload(message_id, LIAISON_PHONE, failedAt="2030-03-04T09:06:00.000+08:00", reason="no service")
    assert post_event(client, "a", "sms:failed", failed).status_code == 204
    run_worker(android)  # the webhook queued the backup's offer
    with android.sessions() as session:
        task = session.scalars(select(Task)).one()
        assert (task.rung, session.get(OutboundMessage, row).status) == (1, OutboundStatus.FAILED)  # type: ignore[union-attr]
    backup = [body for body in phone_a.sent if body["phoneNumbers"] == [BACKUP_PHONE]]
    assert len(backup) == 1
    assert post_event(client, "a", "sms:failed", failed).status_code == 204  # the app repeats itself
    run_worker(android)
    with android.sessions() as session:
        assert session.scalars(select(Task)).one().rung == 1
    assert len([body for body in phone_a.sent if body["phoneNumbers"] == [BACKUP_PHONE]]) == 1


def test_reports_move_our_sms_forward_only_and_only_from_its_phone(
    client: TestClient, android: Services, phone_a: AndroidStandIn
) -> None:
    assert post_event(client, "a", "sms:received", received_payload(RESIDENT_PHONE, "买菜")).status_code == 204
    run_worker(android)
    row, message_id = offer_to(android, phone_a, LIAISON_PHONE)
    delivered = report_payload(message_id, LIAISON_PHONE, deliveredAt="2030-03-04T09:06:00.000+08:00")
    sent = report_payload(message_id, LIAISON_PHONE, sentAt="2030-03-04T09:05:59.000+08:00", partsCount=1)
    for event, payload in (("sms:delivered", delivered), ("sms:delivered", delivered), ("sms:sent", sent)):
        assert post_event(client, "a", event, payload).status_code == 204
    with android.sessions() as session:
        assert session.get(OutboundMessage, row).status == OutboundStatus.DELIVERED  # type: ignore[union-attr]
    unknown = report_payload("someone-elses-id", LIAISON_PHONE, failedAt="x", reason="y")
    assert post_event(client, "a", "sms:failed", unknown).status_code == 204  # not ours: nothing to do


def test_any_signed_webhook_says_the_phone_is_alive(client: TestClient, android: Services) -> None:
    with android.sessions() as session:
        assert session.get(AndroidPhone, "a") is None
    assert post_event(client, "a", "system:ping", {"health": {"status": "pass"}}).status_code == 204
    with android.sessions() as session:
        phone = session.get(AndroidPhone, "a")
        assert phone is not None and phone.last_heard_at is not None and phone.last_event == "system:ping"


def test_a_burst_of_sms_marks_the_phone_heard_once_and_a_ping_always(client: TestClient, android: Services) -> None:
    def last_event() -> str | None:
        with android.sessions() as session:
            phone = session.get(AndroidPhone, "a")
            return phone.last_event if phone else None

    assert post_event(client, "a", "sms:received", received_payload(RESIDENT_PHONE, "买菜")).status_code == 204
    assert last_event() == "sms:received"
    heard_at(android, "a", utcnow() - timedelta(minutes=1))  # what the next SMS would overwrite, were it marked
    again = received_payload(RESIDENT_PHONE, "还要买药", message_id="77aa77aa")
    assert post_event(client, "a", "sms:received", again).status_code == 204
    assert last_event() == "system:ping"  # the second SMS, seconds later, wrote no mark of its own
    with android.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 2  # and was stored all the same
    assert post_event(client, "a", "sms:sent", report_payload("someone-elses", RESIDENT_PHONE)).status_code == 204
    assert last_event() == "sms:sent"


def test_staff_see_each_phone_s_health_and_a_quiet_one_flagged(
    client: TestClient, android: Services, phone_a: AndroidStandIn
) -> None:
    make_user(android)
    sign_in(client)
    page = client.get("/channels")
    assert page.status_code == 200 and "从未联系" in page.text and "长时间没有联系" in page.text
    assert post_event(client, "a", "system:ping", {"health": {"status": "pass"}}).status_code == 204
    assert post_event(client, "a", "sms:received", received_payload(RESIDENT_PHONE, "买菜")).status_code == 204
    run_worker(android)  # the offer and the receipt go out through the phone
    page = client.get("/channels")
    assert "长时间没有联系" not in page.text and "正常" in page.text
    assert page.text.count('<table class="phones">') == 1  # in the page's body only, not in its title or head
    assert re.search(r"<td>2 / 200</td>", page.text), page.text  # sent today, against the SIM's limit
    heard_at(android, "a", utcnow() - timedelta(minutes=16))  # quiet longer than ANDROID_QUIET_MINUTES
    assert "长时间没有联系" in client.get("/channels").text
    assert RESIDENT_PHONE not in page.text and phone_a.password not in page.text


def test_a_report_from_another_phone_than_the_one_that_sent_is_ignored(
    environ: dict[str, str], phone_a: AndroidStandIn
) -> None:
    with (
        AndroidStandIn() as phone_b,
        android_services(environ, {"a": phone_a.setting("a"), "b": phone_b.setting("b")}) as services,
        TestClient(create_app(services.settings, services), base_url=PUBLIC_URL) as client,
    ):
        row = queue(services, LIAISON_PHONE, "新求助", "t:1")
        assert deliver_sms(services, row)
        took, other = ("a", "b") if phone_a.sent else ("b", "a")
        message_id = message_id_of(services, row)
        failed = report_payload(message_id, LIAISON_PHONE, failedAt="2030-03-04T09:06:00.000+08:00", reason="x")
        assert post_event(client, other, "sms:failed", failed).status_code == 204
        assert outbound(services, row).status == OutboundStatus.SENT
        assert post_event(client, took, "sms:failed", failed).status_code == 204
        assert outbound(services, row).status == OutboundStatus.FAILED
