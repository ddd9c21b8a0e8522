"""Medicines: a task `lead` days before one runs out, offered to the liaison; done resets the count, cancel does not.

The scheduler's job (`hotline.jobs.medicines.medicine_tick`) runs against a clock the test moves, on the real
database, and the offers go out through a real RQ worker to the local gateway.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from rq import Queue
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.medicine_register import MedicineFields, add_medicine, medicine_calendar, record_refill
from dispatch.models import Medicine, MedicineTask, Resident, StaffUser, Task, TaskCategory, TaskEvent, TaskStatus
from dispatch.register.away import set_absence
from dispatch.staff_accounts import household_scope
from dispatch.tasks import medicine_refills, staff_actions
from hotline.jobs.checkins import checkin_tick
from hotline.jobs.medicines import medicine_tick
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, Clock, at, post_signed, run_worker, sent_to, sms_params
from tests.console_helpers import make_user
from workers.queues import MAINTENANCE

D0 = date(2030, 3, 1)  # the last refill the family gave: 30 days of supply, so it runs out on 31 March


@pytest.fixture
def admin(services: Services) -> StaffUser:
    make_user(services)
    with services.sessions() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "admin"))
        assert user is not None
        session.expunge(user)
        return user


def resident_id(services: Services) -> int:
    with services.sessions() as session:
        rid = session.scalar(select(Resident.id).where(Resident.name == "梁阿姨"))
        assert rid is not None
        return rid


def add(services: Services, admin: StaffUser, name: str, days: int = 30, refill: date = D0, **kw: Any) -> int:
    with services.sessions.begin() as session:
        medicine_id, _ = add_medicine(
            session,
            resident_id(services),
            MedicineFields(name=name, days_supply=days, last_refill=refill, **kw),
            request_key=f"k-{name}",
            actor=admin,
            where=household_scope(admin),
            now=services.clock(),
            context=services.intake,
        )
        return medicine_id


def medicine_tasks(services: Services) -> list[Task]:
    with services.sessions() as session:
        return list(session.scalars(select(Task).where(Task.category == TaskCategory.MEDICINE).order_by(Task.id)))


def medicine(services: Services, medicine_id: int) -> Medicine:
    with services.sessions() as session:
        found = session.get(Medicine, medicine_id)
        assert found is not None
        return found


def test_the_task_comes_on_the_lead_day_once_and_is_offered_to_the_liaison(
    services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    clock.now = at("10:00", D0)
    add(services, admin, "降压药 氨氯地平", dose="每日一片")
    clock.now = at("18:00", D0 + timedelta(days=26))  # 4 days before it runs out: not yet
    assert medicine_tick() == {"made": 0, "joined": 0}
    clock.now = at("06:30", D0 + timedelta(days=27))  # the lead day, but in quiet hours: not yet
    assert medicine_tick()["made"] == 0
    assert medicine_tasks(services) == []
    clock.now = at("07:00", D0 + timedelta(days=27))
    assert medicine_tick() == {"made": 1, "joined": 0}
    assert medicine_tick() == {"made": 0, "joined": 0}  # the job again: nothing more
    clock.now = at("09:00", D0 + timedelta(days=28))
    assert medicine_tick() == {"made": 0, "joined": 0}  # the next day too
    [task] = medicine_tasks(services)
    assert task.status == TaskStatus.OFFERED and "降压药 氨氯地平 每日一片" in task.description
    run_worker(services)
    [offer] = sent_to(services, LIAISON_PHONE)
    assert f"#{task.id}" in offer and "买药" in offer and "氨氯地平" in offer


def test_two_schedulers_at_once_make_one_task(
    services: Services, community: None, clock: Clock, admin: StaffUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the medicine as due; the unique medicine and cycle lets one make the task. (On SQLite BEGIN
    IMMEDIATE makes the second wait for the first; on PostgreSQL both get past the read.)"""
    clock.now = at("10:00", D0)
    add(services, admin, "二甲双胍")
    clock.now = at("09:00", D0 + timedelta(days=27))
    postgres = services.engine.dialect.name == "postgresql"
    both_read = threading.Barrier(2)
    real_make = medicine_refills._make

    def make_together(*args: Any, **kwargs: Any) -> Any:
        if postgres:
            both_read.wait(timeout=30)  # a bounded wait for the other job to have read the medicine as due too
        return real_make(*args, **kwargs)

    monkeypatch.setattr(medicine_refills, "_make", make_together)
    results: list[dict[str, int]] = []
    jobs = [threading.Thread(target=lambda: results.append(medicine_tick())) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=60)
    assert sorted(r["made"] for r in results) == [0, 1]
    assert len(medicine_tasks(services)) == 1
    run_worker(services)
    assert len(sent_to(services, LIAISON_PHONE)) == 1


def test_two_schedulers_after_a_cancel_make_one_new_task(
    services: Services, community: None, clock: Clock, admin: StaffUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the cancelled cycle as uncovered; only one moves its row to a new task, the other's is undone."""
    clock.now = at("10:00", D0)
    add(services, admin, "二甲双胍")
    clock.now = at("09:00", D0 + timedelta(days=27))
    assert medicine_tick()["made"] == 1
    with services.sessions.begin() as session:
        staff_actions.cancel(
            session,
            medicine_tasks(services)[0].id,
            actor=admin,
            where=household_scope(admin),
            now=clock.now,
            context=services.intake,
        )
    postgres = services.engine.dialect.name == "postgresql"
    both_read = threading.Barrier(2)
    real_make = medicine_refills._make

    def make_together(*args: Any, **kwargs: Any) -> Any:
        if postgres:
            both_read.wait(timeout=30)  # a bounded wait for the other job to have read the medicine as due too
        return real_make(*args, **kwargs)

    monkeypatch.setattr(medicine_refills, "_make", make_together)
    results: list[dict[str, int]] = []
    jobs = [threading.Thread(target=lambda: results.append(medicine_tick())) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=60)
    assert sorted(r["made"] for r in results) == [0, 1]
    cancelled, made = medicine_tasks(services)
    with services.sessions() as session:
        links = session.scalars(select(MedicineTask.task_id)).all()
    assert cancelled.status == TaskStatus.CANCELLED and links == [made.id]


def test_done_by_the_liaison_resets_the_count_and_the_next_task_comes_a_cycle_later(
    client: TestClient, services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    clock.now = at("10:00", D0)
    pills = add(services, admin, "降压药", days=30)
    clock.now = at("09:00", D0 + timedelta(days=27))
    medicine_tick()
    [task] = medicine_tasks(services)
    clock.now = at("15:00", D0 + timedelta(days=28))
    assert post_signed(client, services, "/twilio/sms", sms_params(f"完成{task.id}", LIAISON_PHONE)).status_code == 200
    run_worker(services)
    assert medicine_tasks(services)[0].status == TaskStatus.DONE
    refilled = D0 + timedelta(days=28)
    assert medicine(services, pills).last_refill == refilled
    assert medicine(services, pills).runs_out_on == refilled + timedelta(days=30)
    with services.sessions.begin() as session:  # done again (a reopened task): counted once
        again = session.get(Task, task.id)
        assert again is not None
        assert medicine_refills.refilled(session, again, clock.now + timedelta(days=2), services.intake.timezone) == 0
    clock.now = at("09:00", refilled + timedelta(days=26))
    assert medicine_tick()["made"] == 0
    clock.now = at("09:00", refilled + timedelta(days=27))
    assert medicine_tick()["made"] == 1
    assert len(medicine_tasks(services)) == 2


def test_closed_by_staff_resets_and_cancelled_does_not(
    services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    clock.now = at("10:00", D0)
    pills = add(services, admin, "降压药", days=30)
    clock.now = at("09:00", D0 + timedelta(days=27))
    medicine_tick()
    [task] = medicine_tasks(services)
    with services.sessions.begin() as session:
        staff_actions.cancel(
            session, task.id, actor=admin, where=household_scope(admin), now=clock.now, context=services.intake
        )
    assert medicine(services, pills).last_refill == D0
    # A refill staff record by hand starts a new cycle; its task, closed by staff, resets the count.
    with services.sessions.begin() as session:
        day = D0 + timedelta(days=27)
        where = household_scope(admin)
        rid = resident_id(services)
        assert record_refill(session, rid, pills, day, actor=admin, where=where, now=clock.now, context=services.intake)
    assert medicine_tick()["made"] == 0
    clock.now = at("09:00", D0 + timedelta(days=27 + 27))
    assert medicine_tick()["made"] == 1
    second = medicine_tasks(services)[-1]
    clock.now = at("11:00", D0 + timedelta(days=27 + 29))
    with services.sessions.begin() as session:
        staff_actions.close(
            session, second.id, actor=admin, where=household_scope(admin), now=clock.now, context=services.intake
        )
    assert medicine(services, pills).last_refill == D0 + timedelta(days=27 + 29)


def test_a_cancelled_medicine_task_makes_one_new_task_so_the_medicine_still_reaches_a_person(
    services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    """Cancelled is not bought: the medicine would run out unnoticed. The next tick makes one new task for it (the
    cycle's row moves to it), and no more however often the job runs; each cancel makes one."""
    clock.now = at("10:00", D0)
    pills = add(services, admin, "降压药", days=30)
    clock.now = at("09:00", D0 + timedelta(days=27))
    assert medicine_tick()["made"] == 1
    for cancels in (1, 2):
        with services.sessions.begin() as session:
            staff_actions.cancel(
                session,
                medicine_tasks(services)[-1].id,
                actor=admin,
                where=household_scope(admin),
                now=clock.now,
                context=services.intake,
            )
        assert medicine(services, pills).last_refill == D0  # cancelled resets nothing
        clock.now += timedelta(minutes=5)
        assert medicine_tick() == {"made": 1, "joined": 0}
        assert medicine_tick() == {"made": 0, "joined": 0}
        tasks = medicine_tasks(services)
        assert len(tasks) == 1 + cancels
        assert [t.status for t in tasks[:-1]] == [TaskStatus.CANCELLED] * cancels
        assert tasks[-1].status == TaskStatus.OFFERED and "降压药" in tasks[-1].description
    with services.sessions() as session:
        links = session.scalars(select(MedicineTask.task_id).where(MedicineTask.medicine_id == pills)).all()
    assert links == [tasks[-1].id]
    run_worker(services)
    assert any(f"#{tasks[-1].id}" in body and "降压药" in body for body in sent_to(services, LIAISON_PHONE))
    clock.now = at("11:00", D0 + timedelta(days=29))
    with services.sessions.begin() as session:
        staff_actions.close(
            session, tasks[-1].id, actor=admin, where=household_scope(admin), now=clock.now, context=services.intake
        )
    assert medicine(services, pills).last_refill == D0 + timedelta(days=29)


def test_a_household_with_an_open_medicine_task_gets_the_medicine_added(
    client: TestClient, services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    clock.now = at("10:00", D0)
    pills = add(services, admin, "阿司匹林", days=30)
    clock.now = at("08:00", D0 + timedelta(days=27))
    post_signed(client, services, "/twilio/sms", sms_params("帮我买药", RESIDENT_PHONE))
    run_worker(services)
    [own] = medicine_tasks(services)
    clock.now = at("09:00", D0 + timedelta(days=27))
    assert medicine_tick() == {"made": 0, "joined": 1}
    assert medicine_tick() == {"made": 0, "joined": 0}
    [task] = medicine_tasks(services)
    assert task.id == own.id and "阿司匹林" in task.description
    with services.sessions() as session:
        kinds = session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task.id)).all()
        links = session.scalars(select(MedicineTask.task_id).where(MedicineTask.medicine_id == pills)).all()
    assert "added" in kinds and links == [task.id]


def test_a_medicine_task_already_taken_is_not_added_to_the_medicine_gets_its_own(
    client: TestClient, services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    """The liaison took the task for what it named; a medicine added to it silently would be reset by their 完成
    without being bought. It gets a task of its own, offered to the liaison."""
    clock.now = at("10:00", D0)
    add(services, admin, "降压药", days=30)
    clock.now = at("09:00", D0 + timedelta(days=27))
    assert medicine_tick() == {"made": 1, "joined": 0}
    [first] = medicine_tasks(services)
    assert post_signed(client, services, "/twilio/sms", sms_params(f"接{first.id}", LIAISON_PHONE)).status_code == 200
    run_worker(services)
    assert medicine_tasks(services)[0].status == TaskStatus.ACCEPTED
    clock.now = at("10:00", D0 + timedelta(days=27))
    later = add(services, admin, "二甲双胍", days=30, refill=D0 + timedelta(days=1))  # its task day is tomorrow
    clock.now = at("09:00", D0 + timedelta(days=28))
    assert medicine_tick() == {"made": 1, "joined": 0}
    assert medicine_tick() == {"made": 0, "joined": 0}
    taken, own = medicine_tasks(services)
    assert taken.id == first.id and "二甲双胍" not in taken.description and "二甲双胍" in own.description
    assert own.status == TaskStatus.OFFERED
    run_worker(services)
    assert any(f"#{own.id}" in body and "二甲双胍" in body for body in sent_to(services, LIAISON_PHONE))
    clock.now = at("15:00", D0 + timedelta(days=28))
    assert post_signed(client, services, "/twilio/sms", sms_params(f"完成{first.id}", LIAISON_PHONE)).status_code == 200
    run_worker(services)
    assert medicine(services, later).last_refill == D0 + timedelta(days=1)  # not bought: not reset


def _calendar(services: Services, admin: StaffUser) -> Any:
    with services.sessions() as session:
        return medicine_calendar(
            session, resident_id(services), household_scope(admin), services.clock(), services.intake
        )


def test_the_scheduler_job_runs_in_a_real_worker(
    services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    """The job as `hotline scheduler` queues it, by its dotted path, on the maintenance queue."""
    clock.now = at("10:00", D0)
    add(services, admin, "降压药", days=7, lead_days=0)  # its own lead: the task on the day it runs out
    clock.now = at("09:00", D0 + timedelta(days=6))
    Queue(MAINTENANCE, connection=services.redis).enqueue("hotline.jobs.medicines.medicine_tick")
    run_worker(services)
    assert medicine_tasks(services) == []
    clock.now = at("09:00", D0 + timedelta(days=7))
    Queue(MAINTENANCE, connection=services.redis).enqueue("hotline.jobs.medicines.medicine_tick")
    run_worker(services)
    [task] = medicine_tasks(services)
    assert any(f"#{task.id}" in body and "降压药" in body for body in sent_to(services, LIAISON_PHONE))


def test_a_resident_away_gets_no_medicine_task_until_they_are_back(
    services: Services, community: None, clock: Clock, admin: StaffUser
) -> None:
    """In hospital over the lead day: nothing is bought for an empty home. The day they are back (the tick ends the
    absence), the task is made, once."""
    clock.now = at("10:00", D0)
    add(services, admin, "降压药")
    with services.sessions.begin() as session:
        set_absence(
            session,
            services.intake.checkin,
            resident_id(services),
            reason="hospital",
            note="",
            return_on=(D0 + timedelta(days=29)).isoformat(),
            tell_family=False,
            request_key="away-1",
            actor=admin,
            where=household_scope(admin),
            now=services.clock(),
        )
    clock.now = at("09:00", D0 + timedelta(days=27))  # the lead day, away
    assert medicine_tick() == {"made": 0, "joined": 0}
    clock.now = at("09:00", D0 + timedelta(days=29))  # back: the check-in tick ends the absence first
    checkin_tick()
    assert medicine_tick() == {"made": 1, "joined": 0}
    assert medicine_tick() == {"made": 0, "joined": 0}
    assert len(medicine_tasks(services)) == 1
