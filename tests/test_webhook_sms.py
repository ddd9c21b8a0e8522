"""POST /twilio/sms: signatures, storing once, bad input, and the loop to the liaison's SMS."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch.models import InboundMessage, InboundOutcome, OutboundMessage, Task, TaskEvent, TaskStatus
from hotline.services import Services
from hotline.webhooks.signatures import SIGNATURE_HEADER, TwilioSignatureCheck
from tests.conftest import (
    LIAISON_PHONE,
    PUBLIC_URL,
    RESIDENT_PHONE,
    STRANGER_PHONE,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
)


def count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_missing_signature_is_refused_and_nothing_stored(client: TestClient, services: Services) -> None:
    response = client.post("/twilio/sms", data=sms_params())
    assert response.status_code == 403
    assert count(services, InboundMessage) == 0


def test_wrong_signature_is_refused(client: TestClient, services: Services) -> None:
    params = sms_params()
    wrong = TwilioSignatureCheck("another-token", PUBLIC_URL).sign("/twilio/sms", params)
    response = client.post("/twilio/sms", data=params, headers={SIGNATURE_HEADER: wrong})
    assert response.status_code == 403
    assert count(services, InboundMessage) == 0


def test_signature_made_for_another_url_is_refused(client: TestClient, services: Services) -> None:
    params = sms_params()
    for_other_url = services.signature.sign("/twilio/status", params)
    response = client.post("/twilio/sms", data=params, headers={SIGNATURE_HEADER: for_other_url})
    assert response.status_code == 403
    other_host = TwilioSignatureCheck("0123456789abcdef0123456789abcdef", "https://evil.example.net")
    response = client.post(
        "/twilio/sms", data=params, headers={SIGNATURE_HEADER: other_host.sign("/twilio/sms", params)}
    )
    assert response.status_code == 403
    assert count(services, InboundMessage) == 0


def test_replayed_signature_with_a_changed_body_is_refused(client: TestClient, services: Services) -> None:
    params = sms_params("买药")
    signature = services.signature.sign("/twilio/sms", params)
    tampered = {**params, "Body": "取消"}
    response = client.post("/twilio/sms", data=tampered, headers={SIGNATURE_HEADER: signature})
    assert response.status_code == 403


def test_valid_sms_is_stored_and_answered_with_empty_twiml(client: TestClient, services: Services) -> None:
    params = sms_params("想买点菜")
    response = post_signed(client, services, "/twilio/sms", params, **{"I-Twilio-Idempotency-Token": "tok-1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.strip().endswith("<Response />")
    with services.sessions() as session:
        stored = session.scalars(select(InboundMessage)).one()
    assert (stored.provider_sid, stored.from_phone, stored.body) == (params["MessageSid"], RESIDENT_PHONE, "想买点菜")
    assert stored.idempotency_token == "tok-1"
    assert stored.processed_at is None  # processing is the worker's job, after the answer


def test_registered_resident_sms_reaches_liaison(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params("想买点米和菜")).status_code == 200
    run_worker(services)

    with services.sessions() as session:
        task = session.scalars(select(Task)).one()
        events = [e.kind for e in session.scalars(select(TaskEvent).order_by(TaskEvent.id))]
        message = session.scalars(select(InboundMessage)).one()
    assert task.resident_id == registered["resident"]
    assert task.assignee_liaison_id == registered["liaison"]
    assert task.status == TaskStatus.OFFERED
    assert task.description == "想买点米和菜"
    assert events == ["created", "offered"]
    assert message.outcome == InboundOutcome.TASK_CREATED

    sent = local_outbox(services)
    to_liaison = [e for e in sent if e.to_phone == LIAISON_PHONE]
    assert len(to_liaison) == 1
    assert (
        f"#{task.id}" in to_liaison[0].body and "梁阿姨" in to_liaison[0].body and "想买点米和菜" in to_liaison[0].body
    )
    with services.sessions() as session:
        offer_id = session.scalars(select(OutboundMessage.id).where(OutboundMessage.to_phone == LIAISON_PHONE)).one()
    assert to_liaison[0].status_callback == f"{PUBLIC_URL}/twilio/status?o={offer_id}"
    receipts = [e for e in sent if e.to_phone == RESIDENT_PHONE]
    assert len(receipts) == 1 and "张敏" in receipts[0].body
    assert len(sent) == 2


def test_duplicate_message_sid_makes_one_task(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    params = sms_params("买药")
    for _ in range(3):
        assert post_signed(client, services, "/twilio/sms", params).status_code == 200
    run_worker(services)
    assert post_signed(client, services, "/twilio/sms", params).status_code == 200  # a late retry
    run_worker(services)
    assert count(services, InboundMessage) == 1
    assert count(services, Task) == 1
    assert len(local_outbox(services)) == 2  # one offer to the liaison, one receipt to the resident


def test_concurrent_duplicate_deliveries_store_once(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    params = sms_params("倒垃圾")
    signature = services.signature.sign("/twilio/sms", params)
    statuses: list[int] = []

    def deliver() -> None:
        statuses.append(client.post("/twilio/sms", data=params, headers={SIGNATURE_HEADER: signature}).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_worker(services)
    assert statuses == [200, 200, 200]
    assert count(services, InboundMessage) == 1
    assert count(services, Task) == 1
    assert len(local_outbox(services)) == 2


def test_unknown_sender_gets_one_polite_reply_and_no_task(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("你好", from_phone=STRANGER_PHONE))
    post_signed(client, services, "/twilio/sms", sms_params("有人吗", from_phone=STRANGER_PHONE))
    run_worker(services)

    assert count(services, Task) == 0
    with services.sessions() as session:
        stored = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    # Both messages are kept where staff can see them, marked as from an unknown sender.
    assert [m.body for m in stored] == ["你好", "有人吗"]
    assert {m.outcome for m in stored} == {InboundOutcome.UNKNOWN_SENDER}
    replies = local_outbox(services)
    assert [r.to_phone for r in replies] == [STRANGER_PHONE]  # one reply a day, not one per message
    assert "未登记" in replies[0].body


def test_bad_input_gets_a_clear_400_and_nothing_is_stored(client: TestClient, services: Services) -> None:
    params = sms_params()
    del params["MessageSid"]
    response = post_signed(client, services, "/twilio/sms", params)
    assert response.status_code == 400
    assert "MessageSid" in response.text
    params = sms_params()
    params["MessageSid"] = "not-a-sid"
    assert post_signed(client, services, "/twilio/sms", params).status_code == 400
    params = sms_params()
    params["From"] = ""
    response = post_signed(client, services, "/twilio/sms", params)
    assert response.status_code == 400 and "From" in response.text
    assert count(services, InboundMessage) == 0


def test_resident_without_liaison_makes_a_task_for_staff(client: TestClient, services: Services) -> None:
    from dispatch import register

    with services.sessions.begin() as session:
        register.add_resident(session, name="王大爷", phones=[RESIDENT_PHONE], liaison_phone=None, region="CN")
    post_signed(client, services, "/twilio/sms", sms_params("头晕"))
    run_worker(services)
    with services.sessions() as session:
        task = session.scalars(select(Task)).one()
        outbound = session.scalars(select(OutboundMessage)).all()
    # No liaison: it climbs the ladder at once; with no grid or duty phone either, staff see it escalated.
    assert task.status == TaskStatus.ESCALATED and task.assignee_liaison_id is None
    assert [o.to_phone for o in outbound] == [RESIDENT_PHONE]  # the resident still hears back


def test_a_liaison_texting_in_gets_no_unregistered_reply(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("1", from_phone=LIAISON_PHONE))
    run_worker(services)
    with services.sessions() as session:
        stored = session.scalars(select(InboundMessage)).one()
    assert stored.outcome == InboundOutcome.FROM_LIAISON
    assert count(services, Task) == 0
    [answer] = local_outbox(services)  # read as a command: no task waits, and they are told so
    assert answer.to_phone == LIAISON_PHONE and "未登记" not in answer.body and "没有待办" in answer.body
