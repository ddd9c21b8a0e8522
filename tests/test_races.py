"""Races between the ladder and a liaison's reply. They need two writers at once, which only PostgreSQL allows:
SQLite's BEGIN IMMEDIATE makes every writer wait for the last, so on SQLite these races cannot happen at all."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import Liaison, OutboundMessage, Task, TaskStatus, utcnow
from dispatch.tasks import escalation, liaison_replies
from hotline.jobs import checkins
from hotline.services import Services
from tests.conftest import (
    BACKUP_PHONE,
    LIAISON_PHONE,
    PHONES,
    RESIDENT_PHONE,
    Clock,
    at,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
)


@pytest.mark.parametrize("reply", ["接{}", "接"])
def test_the_ladder_moving_a_task_while_its_liaison_takes_it(
    client: TestClient, services: Services, community: None, monkeypatch: pytest.MonkeyPatch, reply: str
) -> None:
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers, so the ladder cannot run inside a liaison's transaction")
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    with services.sessions() as session:
        task_id = session.scalars(select(Task.id)).one()
    real_pick = liaison_replies._pick

    def sweep_in_between(*args: object) -> object:
        # The sweeper commits in its own transaction after the liaison's list was read, before the task is locked.
        with services.sessions.begin() as other:
            escalation.escalate_due_tasks(other, utcnow() + timedelta(minutes=61), services.intake)
        return real_pick(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(liaison_replies, "_pick", sweep_in_between)
    post_signed(client, services, "/twilio/sms", sms_params(reply.format(task_id), from_phone=LIAISON_PHONE))
    run_worker(services)
    with services.sessions() as session:
        task = session.get(Task, task_id)
        assert task is not None
        liaison_id = session.scalars(select(Liaison.id).where(Liaison.phone == LIAISON_PHONE)).one()
    # Climbing widened the circle and took nothing back: nobody had taken the task, so the liaison's take wins,
    # once, after the ladder's move (the row lock orders them), and the backup is told it need not go.
    assert (task.status, task.rung, task.assignee_liaison_id) == (TaskStatus.ACCEPTED, 1, liaison_id)
    taken = [e.body for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE and "接单" in e.body]
    assert len(taken) == 1
    with services.sessions() as session:
        to_backup = session.scalars(
            select(OutboundMessage.body).where(OutboundMessage.to_phone == BACKUP_PHONE).order_by(OutboundMessage.id)
        ).all()
    assert len(to_backup) == 2 and "不用再办" in to_backup[1]  # the sweep's offer, decided once; then "taken"


def test_two_texts_of_one_household_handled_at_once_make_one_task(
    services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers, so two workers cannot be inside intake at once")
    import threading
    import time
    import uuid

    from dispatch import intake, intake_batch
    from dispatch.inbound import InboundSms, store_inbound_sms

    ids = [
        store_inbound_sms(
            services.sessions,
            InboundSms.parse(
                message_sid="SM" + uuid.uuid4().hex,
                from_phone=RESIDENT_PHONE,
                to_phone="+8657112345678",
                body=body,
                region="CN",
            ),
        ).message_id
        for body in ("买菜", "还要鸡蛋")
    ]
    real_open_task = intake._open_task
    first_inside = threading.Event()

    def slow_first(*args: object, **kwargs: object) -> object:
        result = real_open_task(*args, **kwargs)  # type: ignore[arg-type]
        if not first_inside.is_set():
            first_inside.set()  # worker A holds the household lock now, and has not committed
            time.sleep(0.5)
        return result

    monkeypatch.setattr(intake, "_open_task", slow_first)

    def worker(message_id: int) -> None:
        with services.sessions.begin() as session:
            intake_batch.handle_inbound_message(session, message_id, services.intake)

    a = threading.Thread(target=worker, args=(ids[0],))
    a.start()
    assert first_inside.wait(10)
    b = threading.Thread(target=worker, args=(ids[1],))
    b.start()
    a.join(20)
    b.join(20)
    with services.sessions() as session:
        tasks = session.scalars(select(Task)).all()
    assert len(tasks) == 1 and "鸡蛋" in tasks[0].description


@pytest.mark.parametrize("first", ["tick", "intake"])
def test_a_visit_falling_due_while_the_resident_texts_neither_deadlocks_nor_doubles(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], first: str
) -> None:
    """The tick holds due check-ins and needs their households (a visit task); intake holds the household and
    needs the resident's check-in (the answer). Whichever starts first, both finish, and the visit is made once."""
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers, so the tick and intake cannot hold locks at once")
    import threading

    from dispatch import intake, intake_batch
    from dispatch.checkins import missed_checkin_ladder
    from dispatch.models import Checkin, InboundMessage

    clock.now = at("09:00")
    checkins.checkin_tick()
    run_worker(services)
    clock.now = at("12:00")  # 赵姐 texts just as her visit falls due; stored, not yet handled
    assert (
        post_signed(client, services, "/twilio/sms", sms_params("买药", from_phone=PHONES["赵姐"])).status_code == 200
    )
    with services.sessions() as session:
        message_id = session.scalar(select(InboundMessage.id).where(InboundMessage.from_phone == PHONES["赵姐"]))
    holding, errors = threading.Event(), []
    real_advance_visit = missed_checkin_ladder._visit

    def hold(*args: object, **kwargs: object) -> list[int]:
        holding.set()  # the tick holds its check-ins (and, now, their households) and has not committed
        time.sleep(0.5)
        return real_advance_visit(*args, **kwargs)  # type: ignore[arg-type]

    real_open_task = intake._open_task

    def hold_household(*args: object, **kwargs: object) -> object:
        result = real_open_task(*args, **kwargs)  # type: ignore[arg-type]
        holding.set()  # intake holds the household and has not reached the check-in yet
        time.sleep(0.5)
        return result

    def tick() -> None:
        try:
            with services.sessions.begin() as session:
                missed_checkin_ladder.advance(session, clock.now, services.intake)
        except Exception as exc:
            errors.append(f"tick: {type(exc).__name__}: {getattr(exc, 'orig', exc)}")

    def handle() -> None:
        try:
            with services.sessions.begin() as session:
                intake_batch.handle_inbound_message(session, message_id, services.intake, clock.now)
        except Exception as exc:
            errors.append(f"intake: {type(exc).__name__}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(missed_checkin_ladder, "_visit", hold) if first == "tick" else patch.setattr(
            intake, "_open_task", hold_household
        )
        leader, follower = (tick, handle) if first == "tick" else (handle, tick)
        a = threading.Thread(target=leader)
        a.start()
        assert holding.wait(10)
        b = threading.Thread(target=follower)
        b.start()
        a.join(20)
        b.join(20)
    assert errors == []
    checkins.checkin_tick()  # a check-in skipped because intake held its household climbs on the next pass
    with services.sessions() as session:
        visits = session.scalars(select(Task).where(Task.category == "visit")).all()
        checkin = session.scalars(select(Checkin).where(Checkin.resident_id == town["赵姐"])).one()
    assert len({task.household_id for task in visits}) == len(visits)  # one visit task per household
    assert checkin.status == "needs"  # her text answered the check-in, whichever came first
    assert (checkin.visit_task_id is not None) == (first == "tick")  # answered first: no visit needed
