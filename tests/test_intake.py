"""Intake with the reply parser: several needs, repeats, fevers, fine, stop words, long messages."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import (
    InboundMessage,
    InboundOutcome,
    Resident,
    ResidentStatus,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TemperatureReading,
)
from dispatch.segments import count_segments
from hotline.services import Services
from tests.conftest import (
    LIAISON_PHONE,
    RESIDENT_PHONE,
    local_outbox,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
    tasks,
)


def send(client: TestClient, services: Services, body: str) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body)).status_code == 200
    run_worker(services)


def offers(services: Services) -> list[str]:
    return sent_to(services, LIAISON_PHONE)


def last_outcome(services: Services) -> InboundOutcome | None:
    with services.sessions() as session:
        return session.scalars(select(InboundMessage.outcome).order_by(InboundMessage.id.desc())).first()


def test_two_needs_in_one_message_make_two_tasks_and_two_offers(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "买药，还要倒垃圾")
    assert [(t.category, t.priority) for t in tasks(services)] == [
        (TaskCategory.MEDICINE, TaskPriority.NORMAL),
        (TaskCategory.RUBBISH, TaskPriority.NORMAL),
    ]
    sent = offers(services)
    assert len(sent) == 2 and "买药" in sent[0] and "倒垃圾" in sent[1]
    assert all("回复“接" in body and "梁阿姨" in body for body in sent)


def test_the_same_need_again_adds_to_the_open_task(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "买菜")
    send(client, services, "还要买点鸡蛋")
    [task] = tasks(services)
    assert task.category == TaskCategory.GROCERIES and "鸡蛋" in task.description
    with services.sessions() as session:
        kinds = session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task.id).order_by(TaskEvent.id)).all()
    assert kinds == ["created", "offered", "added"]
    assert len(offers(services)) == 1  # the liaison is not texted twice for one errand


def test_a_fever_is_recorded_and_makes_an_urgent_task(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "体温38.2")
    [task] = tasks(services)
    assert task.category == TaskCategory.UNWELL and task.priority == TaskPriority.URGENT
    assert "【急】" in offers(services)[0]
    with services.sessions() as session:
        reading = session.scalars(select(TemperatureReading)).one()
    assert reading.celsius == 38.2 and reading.resident_id == registered["resident"]


def test_fine_needs_nothing_and_sends_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "1")
    send(client, services, "36.5，都好")
    assert tasks(services) == [] and local_outbox(services) == []
    assert last_outcome(services) == InboundOutcome.FINE


def test_words_not_understood_go_to_a_clerk_as_they_are(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "儿子下周来")
    [task] = tasks(services)
    assert task.category == TaskCategory.OTHER and task.description == "儿子下周来"


def test_stop_opts_out_and_asks_the_liaison_to_call_and_start_undoes_it(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "STOP")
    with services.sessions() as session:
        assert session.get(Resident, registered["resident"]).status == ResidentStatus.OPTED_OUT  # type: ignore[union-attr]
    [task] = tasks(services)
    assert task.category == TaskCategory.CALLBACK and task.assignee_liaison_id == registered["liaison"]
    assert [e.to_phone for e in local_outbox(services)] == [LIAISON_PHONE]  # nothing to the resident
    send(client, services, "START")
    with services.sessions() as session:
        assert session.get(Resident, registered["resident"]).status == ResidentStatus.ACTIVE  # type: ignore[union-attr]
    assert last_outcome(services) == InboundOutcome.OPTED_IN


def test_a_long_message_still_makes_an_offer_of_two_segments(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "想买菜，" + "家里的青菜、萝卜、土豆都没有了，" * 10)
    [offer] = offers(services)
    assert count_segments(offer).segments <= 2 and offer.endswith("…") and "回复“接" in offer
    receipt = [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE]
    assert len(receipt) == 1


def test_automatic_answers_to_one_number_are_capped_per_hour(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    for i in range(10):
        post_signed(client, services, "/twilio/sms", sms_params(f"问题{i}"))
    run_worker(services)
    with services.sessions() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 10  # every message kept
        assert len(session.scalars(select(Task)).all()) == 10  # and every one is a task for someone
    receipts = [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE]
    assert len(receipts) == services.settings.auto_replies_per_number_per_hour == 6


def test_answers_to_unregistered_numbers_are_capped_for_the_whole_service(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    for i in range(25):  # what SMS pumping through made-up senders looks like
        post_signed(client, services, "/twilio/sms", sms_params("hi", from_phone=f"+861370000{i:04d}"))
    run_worker(services)
    with services.sessions() as session:
        outcomes = session.scalars(select(InboundMessage.outcome)).all()
    assert outcomes == [InboundOutcome.UNKNOWN_SENDER] * 25  # all stored, for staff
    assert len(local_outbox(services)) == services.settings.unknown_replies_per_hour == 20


def test_an_offer_for_a_household_with_no_address_has_no_gap(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    send(client, services, "买菜")
    [offer] = offers(services)
    assert "梁阿姨 138 0013 8000" in offer and "  " not in offer
