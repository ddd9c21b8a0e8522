"""The ladder, on a controlled clock: backup liaison, then grid leader, then duty staff; at once when it fails."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import OutboundMessage, Task, TaskEvent, TaskStatus, utcnow
from dispatch.tasks import escalation as ladder
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.conftest import (
    BACKUP_PHONE,
    DUTY_PHONE,
    LEADER_PHONE,
    LIAISON_PHONE,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
)


def escalate_at(services: Services, minutes: float) -> list[int]:
    """Run the ladder as the sweeper would, `minutes` from now, and hand what it decided to the gateway."""
    with services.sessions.begin() as session:
        decided = ladder.escalate_due_tasks(session, utcnow() + timedelta(minutes=minutes), services.intake).outbound
    for outbound_id in decided:
        deliver_sms(services, outbound_id)
    return decided


def the_task(services: Services) -> Task:
    with services.sessions() as session:
        return session.scalars(select(Task)).one()


def test_an_untaken_task_climbs_rung_by_rung_at_the_configured_times(
    client: TestClient, services: Services, community: None
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    assert the_task(services).rung == 0 and len(sent_to(services, LIAISON_PHONE)) == 1

    assert escalate_at(services, 59) == []  # the normal deadline is 60 minutes
    assert len(escalate_at(services, 61)) == 1
    task = the_task(services)
    assert (task.rung, task.status) == (1, TaskStatus.OFFERED) and len(sent_to(services, BACKUP_PHONE)) == 1
    assert "回复“接" in sent_to(services, BACKUP_PHONE)[0]  # the backup can take it by reply

    assert escalate_at(services, 61) == []  # a repeated run at the same time changes nothing
    assert len(escalate_at(services, 122)) == 1
    task = the_task(services)
    assert (task.rung, task.status) == (2, TaskStatus.ESCALATED) and "无人接单" in sent_to(services, LEADER_PHONE)[0]

    assert len(escalate_at(services, 183)) == 1
    task = the_task(services)
    assert (task.rung, task.status, task.offer_deadline) == (3, TaskStatus.ESCALATED, None)
    assert len(sent_to(services, DUTY_PHONE)) == 1
    assert escalate_at(services, 10_000) == []  # the last rung stays with staff
    with services.sessions() as session:
        steps = session.scalars(select(TaskEvent.detail).where(TaskEvent.kind == "escalated").order_by(TaskEvent.id))
        assert [d.split()[0] for d in steps] == ["rung:1", "rung:2", "rung:3"]


def test_an_urgent_task_alerts_duty_staff_at_once_and_climbs_after_ten_minutes(
    client: TestClient, services: Services, community: None
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("胸闷，头晕"))
    run_worker(services)
    assert len(sent_to(services, DUTY_PHONE)) == 1 and "急" in sent_to(services, DUTY_PHONE)[0]
    assert escalate_at(services, 9) == []
    assert len(escalate_at(services, 11)) == 1 and the_task(services).rung == 1


def test_a_late_sweep_does_not_push_the_ladder_back(client: TestClient, services: Services, community: None) -> None:
    """Each rung's window runs from the deadline that lapsed, not from when the sweep came round: a sweep two
    minutes late at every rung still brings duty staff in at the ladder's 30 minutes (an urgent task), not 36."""
    post_signed(client, services, "/twilio/sms", sms_params("胸闷，头晕"))
    run_worker(services)
    made = the_task(services).created_at
    assert len(escalate_at(services, 12)) == 1  # rung 1 due at 10 minutes, climbed at 12
    assert the_task(services).offer_deadline == made + timedelta(minutes=20)
    assert len(escalate_at(services, 22)) == 1  # rung 2 due at 20, climbed at 22
    assert the_task(services).offer_deadline == made + timedelta(minutes=30)
    assert escalate_at(services, 29.5) == []
    assert len(escalate_at(services, 30.5)) == 1 and the_task(services).rung == 3  # staff at the ladder's 30


def test_a_taken_task_does_not_climb(client: TestClient, services: Services, community: None) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    task_id = the_task(services).id
    post_signed(client, services, "/twilio/sms", sms_params(f"接{task_id}", from_phone=LIAISON_PHONE))
    run_worker(services)
    assert escalate_at(services, 500) == [] and the_task(services).status == TaskStatus.ACCEPTED


def test_an_undelivered_offer_climbs_at_once(client: TestClient, services: Services, community: None) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买药"))
    run_worker(services)
    with services.sessions() as session:
        offer = session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == LIAISON_PHONE)).one()
    report = {"MessageSid": str(offer.provider_sid), "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post_signed(client, services, f"/twilio/status?o={offer.id}", report).status_code == 204
    run_worker(services)  # the webhook queued the backup's offer
    assert the_task(services).rung == 1 and len(sent_to(services, BACKUP_PHONE)) == 1
    post_signed(client, services, f"/twilio/status?o={offer.id}", report)  # Twilio repeats itself
    run_worker(services)
    assert the_task(services).rung == 1 and len(sent_to(services, BACKUP_PHONE)) == 1


def test_handing_back_climbs_at_once(client: TestClient, services: Services, community: None) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("倒垃圾"))
    run_worker(services)
    task_id = the_task(services).id
    post_signed(client, services, "/twilio/sms", sms_params(f"退{task_id} 出差", from_phone=LIAISON_PHONE))
    run_worker(services)
    task = the_task(services)
    assert (task.rung, task.status) == (1, TaskStatus.OFFERED) and len(sent_to(services, BACKUP_PHONE)) == 1


def test_a_task_taken_but_not_done_by_evening_is_flagged_once(
    client: TestClient, services: Services, community: None
) -> None:
    from datetime import datetime, time

    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    task_id = the_task(services).id
    post_signed(client, services, "/twilio/sms", sms_params(f"接{task_id}", from_phone=LIAISON_PHONE))
    run_worker(services)
    taken = the_task(services).accepted_at
    assert taken is not None
    tz = services.settings.timezone
    local = taken.astimezone(tz)
    due = datetime.combine(local.date(), time(20, 0), tzinfo=tz)
    due = due if local < due else due + timedelta(days=1)
    with services.sessions.begin() as session:
        assert ladder.flag_overdue_accepted(session, due - timedelta(minutes=1), services.intake) == []
        assert ladder.flag_overdue_accepted(session, due, services.intake) == [task_id]
        assert ladder.flag_overdue_accepted(session, due + timedelta(hours=3), services.intake) == []  # once
    assert the_task(services).flagged_at is not None
