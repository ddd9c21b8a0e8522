"""The 11:30 visit wave: a pass's visits read ahead and written together, each decided as one at a time would be.

The register is B11's (`benchmarks.visit_wave.seed`): a household each, a liaison per eight households, each
household's backup the next liaison, a duty phone, access notes for every third household, a care-circle contact
for every second resident, and an open (not urgent) visit task in every fiftieth household; every check-in's visit
is due.
"""

from __future__ import annotations

from sqlalchemy import select, update

from benchmarks.visit_wave import NOW, counted, seed
from dispatch.checkins.missed_checkin_ladder import advance
from dispatch.models import (
    Checkin,
    CheckinEvent,
    CheckinRung,
    CircleContact,
    Liaison,
    OutboundMessage,
    Resident,
    Task,
    TaskEvent,
    TaskStatus,
)
from hotline.services import Services

VISITS = 60


def test_a_pass_of_visits_costs_a_few_statements_and_queues_each_visits_sms_in_turn(services: Services) -> None:
    seed(services.engine, VISITS)
    with counted(services.engine) as sent, services.sessions.begin() as session:
        climbed = advance(session, NOW, services.intake)
    with services.readonly() as session:
        checkins = session.scalars(select(Checkin).order_by(Checkin.id)).all()
        tasks = {task.id: task for task in session.scalars(select(Task))}
        contacts = {c.resident_id: c.id for c in session.scalars(select(CircleContact))}
        keys = session.scalars(select(OutboundMessage.dedupe_key).order_by(OutboundMessage.id)).all()
        visit_events = session.scalars(select(CheckinEvent.detail).where(CheckinEvent.kind == "visit")).all()
    assert all(checkin.rung == CheckinRung.VISIT and checkin.visit_task_id for checkin in checkins)
    assert len({checkin.visit_task_id for checkin in checkins}) == VISITS  # one task per household
    made = [task for task in tasks.values() if task.created_at == NOW]
    assert len(made) == VISITS - 1  # household 50 had an open visit task: its check-in joined it
    # Each visit's SMS in turn: the new task's offer and the duty alert (or the alert of the task it made urgent),
    # then its care circle's, once each.
    expected = []
    for checkin in checkins:
        task = tasks[checkin.visit_task_id]  # type: ignore[index]
        expected += [f"task:{task.id}:offer:0"] if task.created_at == NOW else []
        expected.append(f"task:{task.id}:urgent-alert")
        if checkin.resident_id in contacts:
            expected.append(f"circle:checkin:{checkin.id}:no-answer:{contacts[checkin.resident_id]}")
    assert keys == expected
    assert sorted(climbed.outbound) == sorted(set(climbed.outbound)) and len(climbed.outbound) == len(expected)
    assert sorted(visit_events) == sorted(f"task:{checkin.visit_task_id}" for checkin in checkins)
    # A few statements for the whole pass, not a score per visit (one at a time: about 23 each). SQLite inserts
    # new tasks one at a time (it cannot match a multi-row INSERT's ids to its rows).
    per_task = len(made) if services.engine.dialect.name == "sqlite" else 0
    assert sent[0] <= 25 + per_task


def test_in_a_pass_a_shared_household_gets_one_task_and_a_household_with_no_liaison_climbs_at_once(
    services: Services,
) -> None:
    seed(services.engine, 16)
    with services.sessions.begin() as session:
        # Resident 2 lives with resident 1: two silent check-ins of one household climb in the same pass.
        session.execute(update(Resident).where(Resident.id == 2).values(household_id=1))
        session.execute(update(Checkin).where(Checkin.resident_id == 2).values(household_id=1))
        session.execute(update(Liaison).where(Liaison.id == 2).values(active=False))  # households 9–16's primary
    with services.sessions.begin() as session:
        advance(session, NOW, services.intake)
    with services.readonly() as session:
        checkins = {c.resident_id: c for c in session.scalars(select(Checkin))}
        shared = session.scalars(select(Task).where(Task.household_id == 1)).one()
        events = session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == shared.id).order_by(TaskEvent.id))
        assert list(events) == ["created", "offered", "added"]
        climbed = session.scalars(select(Task).where(Task.household_id == 9)).one()
        climbed_events = session.scalars(
            select(TaskEvent.kind).where(TaskEvent.task_id == climbed.id).order_by(TaskEvent.id)
        )
        assert list(climbed_events) == ["created", "escalated"]
        keys = set(session.scalars(select(OutboundMessage.dedupe_key)))
    assert checkins[1].visit_task_id == checkins[2].visit_task_id == shared.id
    assert f"task:{shared.id}:offer:0" in keys and f"task:{shared.id}:urgent-alert" in keys
    backup = 1  # two liaisons: each household's backup is the other one
    assert (climbed.rung, climbed.status, climbed.assignee_liaison_id) == (1, TaskStatus.OFFERED, backup)
    assert {f"task:{climbed.id}:offer:1", f"task:{climbed.id}:urgent-alert"} <= keys
    assert f"task:{climbed.id}:offer:0" not in keys
