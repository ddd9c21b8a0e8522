"""Guards found in review: who may act, who is never texted, and what a task with no household does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import Task, TaskEvent, TaskStatus, utcnow
from dispatch.tasks import escalation as ladder
from hotline.services import Services
from tests.conftest import (
    DUTY_PHONE,
    LIAISON_PHONE,
    RESIDENT_PHONE,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
)


def text(client: TestClient, services: Services, body: str, sender: str = RESIDENT_PHONE) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=sender)).status_code == 200
    run_worker(services)


def test_a_liaison_who_is_also_a_resident_can_take_tasks_and_ask_for_help(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    with services.sessions.begin() as session:  # 张敏 lives in the register too, with her own liaison
        register.add_liaison(session, name="李强", phone="13912345679", region="CN")
        register.add_resident(session, name="张敏", phones=[LIAISON_PHONE], liaison_phone="13912345679", region="CN")
    text(client, services, "买菜")  # 梁阿姨's errand, offered to 张敏
    with services.sessions() as session:
        task_id = session.scalars(select(Task.id)).one()
    text(client, services, f"接{task_id}", sender=LIAISON_PHONE)
    with services.sessions() as session:
        assert session.get(Task, task_id).status == TaskStatus.ACCEPTED  # type: ignore[union-attr]
    text(client, services, "我要买药", sender=LIAISON_PHONE)  # not a command: her own need
    with services.sessions() as session:
        assert [t.category for t in session.scalars(select(Task).order_by(Task.id))] == ["groceries", "medicine"]


def test_an_opted_out_resident_is_not_texted_even_when_their_task_is_done(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    with services.sessions() as session:
        task_id = session.scalars(select(Task.id)).one()
    text(client, services, "退订")
    before = [e.body for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE]
    text(client, services, f"完{task_id}", sender=LIAISON_PHONE)
    assert [e.body for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE] == before


def test_a_number_shared_across_households_goes_to_the_duty_phone(
    client: TestClient, services: Services, community: None
) -> None:
    with services.sessions.begin() as session:  # the same number, in another flat of the same community
        register.add_resident(
            session,
            name="王大爷",
            phones=["13800138000"],
            address=register.Address("幸福里社区", "3号楼", "2单元", "502"),
            region="CN",
        )
    text(client, services, "胸闷，头晕")
    with services.sessions() as session:
        task = session.scalars(select(Task)).one()
    assert task.household_id is None and task.status == TaskStatus.ESCALATED
    alerts = [e.body for e in local_outbox(services) if e.to_phone == DUTY_PHONE]
    assert len(alerts) == 1 and "胸闷" in alerts[0]


def test_only_home_mobiles_ever_get_an_unregistered_reply(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "hi", sender="+447700900123")  # a UK number: a pumping target, never texted
    text(client, services, "hi", sender="+8657188881234")  # a Chinese landline: cannot read it anyway
    text(client, services, "hi", sender="+8613700000001")
    assert [e.to_phone for e in local_outbox(services)] == ["+8613700000001"]


def test_a_lapsed_grid_leader_step_is_recorded_as_not_taken(
    client: TestClient, services: Services, community: None
) -> None:
    text(client, services, "买菜")
    for minutes in (61, 122, 183):
        with services.sessions.begin() as session:
            ladder.escalate_due_tasks(session, utcnow() + timedelta(minutes=minutes), services.intake)
    with services.sessions() as session:
        details = session.scalars(select(TaskEvent.detail).where(TaskEvent.kind == "escalated")).all()
    assert details == ["rung:1 not taken in time", "rung:2 not taken in time", "rung:3 not taken in time"]


def test_a_stopped_liaison_cannot_act_on_a_task_still_assigned_to_them(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    from dispatch.models import Liaison

    text(client, services, "买菜")
    with services.sessions.begin() as session:
        task_id = session.scalars(select(Task.id)).one()
        liaison = session.get(Liaison, registered["liaison"])
        assert liaison is not None
        liaison.active = False  # stopped directly, with the task left on them
    text(client, services, f"接{task_id}", sender=LIAISON_PHONE)
    with services.sessions() as session:
        assert session.get(Task, task_id).status == TaskStatus.OFFERED  # type: ignore[union-attr]
