"""A task's circle: climbing widens who may take it; the first to take it wins; the others are told who did."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.inbound import InboundSms, store_inbound_batch
from dispatch.models import InboundMessage, Task, TaskEvent, TaskPriority, TaskStatus, utcnow
from dispatch.tasks import escalation as ladder
from hotline.jobs.inbound import process_inbound_sms
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.conftest import (
    BACKUP_PHONE,
    HOTLINE_NUMBER,
    LEADER_PHONE,
    LIAISON_PHONE,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
)


def climb_at(services: Services, minutes: float) -> None:
    """Run the ladder as the sweeper would, `minutes` from now, and hand what it decided to the gateway."""
    with services.sessions.begin() as session:
        decided = ladder.escalate_due_tasks(session, utcnow() + timedelta(minutes=minutes), services.intake).outbound
    for outbound_id in decided:
        deliver_sms(services, outbound_id)


def the_task(services: Services) -> Task:
    with services.sessions() as session:
        return session.scalars(select(Task)).one()


def liaison_says(client: TestClient, services: Services, phone: str, body: str) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)


def takes(services: Services, task_id: int) -> list[str]:
    with services.sessions() as session:
        query = select(TaskEvent.actor).where(TaskEvent.task_id == task_id, TaskEvent.kind == "accepted")
        return list(session.scalars(query))


def test_a_climbed_offer_can_still_be_taken_by_the_first_liaison_and_the_others_are_told(
    client: TestClient, services: Services, community: None
) -> None:
    liaison_says(client, services, "+8613800138000", "买菜")
    task_id = the_task(services).id
    climb_at(services, 61)  # to the backup, 李强
    climb_at(services, 122)  # to the grid leader, 王组长, alerted by SMS
    assert (the_task(services).rung, the_task(services).status) == (2, TaskStatus.ESCALATED)

    # 张敏 (rung 0) answers late: the task is still untaken, so it is his. Nobody else takes it now.
    liaison_says(client, services, LIAISON_PHONE, f"接{task_id}")
    task = the_task(services)
    assert task.status == TaskStatus.ACCEPTED and task.offer_deadline is None
    with services.sessions() as session:
        assert session.get(Task, task_id).assignee.phone == LIAISON_PHONE  # type: ignore[union-attr]
    assert sent_to(services, LIAISON_PHONE)[-1].startswith(f"已接单#{task_id}")
    taken_by = f"【社区热线】#{task_id}买菜已由张敏接单，您不用再办了。谢谢！"
    for other in (BACKUP_PHONE, LEADER_PHONE):
        assert sent_to(services, other)[-1] == taken_by

    # 李强 answers later still: told who has it, and nothing changes.
    told_before = len(sent_to(services, BACKUP_PHONE))
    liaison_says(client, services, BACKUP_PHONE, f"接{task_id}")
    assert sent_to(services, BACKUP_PHONE)[told_before:] == [
        f"【社区热线】#{task_id}买菜已由张敏接单，您不用再办了。谢谢！"
    ]
    assert len(takes(services, task_id)) == 1 and the_task(services).status == TaskStatus.ACCEPTED
    climb_at(services, 500)
    assert the_task(services).rung == 2  # taken: the ladder stops


def test_a_liaison_never_offered_the_task_cannot_take_it(
    client: TestClient, services: Services, community: None
) -> None:
    liaison_says(client, services, "+8613800138000", "买菜")
    task_id = the_task(services).id
    liaison_says(client, services, BACKUP_PHONE, f"接{task_id}")  # not offered to 李强 yet
    assert the_task(services).status == TaskStatus.OFFERED and takes(services, task_id) == []
    assert "不是您的任务" in sent_to(services, BACKUP_PHONE)[-1]


def test_two_takes_at_once_one_wins(client: TestClient, services: Services, community: None) -> None:
    liaison_says(client, services, "+8613800138000", "买菜")
    task_id = the_task(services).id
    climb_at(services, 61)  # the circle: 张敏 and 李强
    with services.sessions.begin() as session:
        stored = store_inbound_batch(
            session,
            [
                InboundSms(f"SM{n:032d}", phone, HOTLINE_NUMBER, f"接{task_id}", None)
                for n, phone in enumerate((LIAISON_PHONE, BACKUP_PHONE))
            ],
        )
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def take(message_id: int) -> None:
        try:
            start.wait(timeout=10)
            process_inbound_sms(message_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(row.message_id,)) for row in stored]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    [winner] = takes(services, task_id)
    task = the_task(services)
    assert task.status == TaskStatus.ACCEPTED and winner == f"liaison:{task.assignee_liaison_id}"
    with services.sessions() as session:
        processed = session.scalars(select(InboundMessage.processed_at)).all()
    assert all(processed)


def test_a_task_due_by_a_time_shares_what_is_left_among_its_rungs(services: Services) -> None:
    now = utcnow()
    context = services.intake  # urgent window 10 minutes, normal 60
    task = Task(priority=TaskPriority.URGENT, rung=0, due_by=now + timedelta(minutes=30))
    assert ladder.deadline(task, now, context) == now + timedelta(minutes=10)  # three rungs of ten fit exactly
    task.due_by = now + timedelta(minutes=15)
    assert ladder.deadline(task, now, context) == now + timedelta(minutes=5)
    task.rung = 2  # the grid leader: the last window before duty staff gets all that is left
    assert ladder.deadline(task, now, context) == now + timedelta(minutes=10)
    task.due_by = now - timedelta(minutes=1)
    assert ladder.deadline(task, now, context) == now  # past it: climb at once, to staff
    normal = Task(priority=TaskPriority.NORMAL, rung=0, due_by=None)
    assert ladder.deadline(normal, now, context) == now + timedelta(minutes=60)
