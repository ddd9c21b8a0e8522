"""The ladder of a check-in nobody answered: a reminder (SMS residents) and a call after the window; the call
retried when busy, unanswered or a machine; then an urgent visit task (上门查看) for the liaison, offered early
enough (`CheckinRules.ladder_times`) that it climbs the task ladder's every rung by the day's deadline: someone has
taken it by then, or duty staff know. Each rung is a check-in event.

Every step locks its rows and checks their state first, so a late, repeated or concurrent run changes nothing
twice, and each SMS and call is decided once (dedupe keys `checkin:<id>:reminder`, `checkin:<id>:call:<n>`).
Quiet hours hold: no reminder or call to a resident then; the visit task still goes to the liaison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session, selectinload

from dispatch.care_circle import no_answer_sms, reachable_of
from dispatch.checkins.checkin_calls import call_on_its_way, place_call, zone_quiet
from dispatch.checkins.rules import BACK_SLOT
from dispatch.context import DispatchContext
from dispatch.models import (
    CHECKIN_WAITING,
    Channel,
    Checkin,
    CheckinEvent,
    CheckinRung,
    CheckinStatus,
    Household,
    Liaison,
    Resident,
    Task,
    TaskCategory,
    TaskPriority,
    TaskStatus,
)
from dispatch.outbox import queue_many, queue_sms
from dispatch.tasks import escalation, lifecycle, offers
from dispatch.tasks.task_texts import AccessRows, read_access

LIMIT = 500


def advance(session: Session, now: datetime, context: DispatchContext) -> escalation.Climbed:
    """Climb up to LIMIT check-ins per rung whose next rung is due by `now` (rows another worker holds are
    skipped). Returns the SMS and calls decided, and whether a rung had more due than LIMIT."""
    climbed = escalation.Climbed()
    reminders = _due(
        session,
        (Checkin.status == CheckinStatus.SENT) & (Checkin.rung == CheckinRung.SENT) & (Checkin.reminder_at <= now),
    )
    for checkin in reminders:
        climbed.outbound += _remind(session, checkin, now, context)
    calls = _due(session, (Checkin.status == CheckinStatus.SENT) & (Checkin.next_call_at <= now))
    for checkin in calls:
        checkin.next_call_at = None
        climbed.outbound += place_call(session, checkin, now, context)
    waiting = Checkin.status.in_(CHECKIN_WAITING)
    visits = _due(session, waiting & (Checkin.rung < CheckinRung.VISIT) & (Checkin.visit_at <= now), households=True)
    wave = _Wave.read(session, visits)
    for checkin in visits:
        climbed.outbound += _visit(session, checkin, now, context, wave)
    climbed.outbound += wave.finish(session, now, context)
    climbed.more = max(len(reminders), len(calls), len(visits)) >= LIMIT
    return climbed


def _due(session: Session, condition: object, *, households: bool = False) -> list[Checkin]:
    """Up to LIMIT due check-ins, locked; rows another transaction holds are skipped, not waited for. With
    `households`, each check-in's household row is locked with it, in the same statement: a visit finds or makes
    the household's one open visit task, and intake locks the household before the check-in it answers, so the
    tick must never wait for a household while holding check-ins (two orders: a deadlock)."""
    query = select(Checkin).where(condition).order_by(Checkin.id).limit(LIMIT)  # type: ignore[arg-type]
    if not households:
        return list(session.scalars(query.with_for_update(skip_locked=True)))
    query = query.join(Resident, Resident.id == Checkin.resident_id).join(
        Household, Household.id == Resident.household_id
    )
    return list(session.scalars(query.with_for_update(of=(Checkin, Household), skip_locked=True, key_share=True)))


def _remind(session: Session, checkin: Checkin, now: datetime, context: DispatchContext) -> list[int]:
    checkin.rung = CheckinRung.REMINDED
    if zone_quiet(checkin, now, context):
        session.add(CheckinEvent(checkin=checkin, kind="reminded", at=now, detail="not sent: quiet hours"))
        return []
    outbound = []
    if checkin.channel == Channel.SMS and checkin.phone:
        resident, language = checkin.resident, checkin.language
        sms = queue_sms(
            session,
            dedupe_key=f"checkin:{checkin.id}:reminder",
            to_phone=checkin.phone,
            body=context.catalog.render(
                "checkin_reminder", language, resident_name=resident.name, menu=context.replies.sms_menu(language)
            ),
            language=language,
            checkin_id=checkin.id,
        )
        outbound += [sms.id] if sms else []
    session.add(CheckinEvent(checkin=checkin, kind="reminded", at=now, detail=f"{checkin.channel} and a call"))
    checkin.calls_left = context.checkin.call_retries + 1  # a new series: one call and its retries
    if call_on_its_way(session, checkin, now - context.checkin.call_retry):  # staff called a moment ago
        checkin.calls_left -= 1
        return outbound
    return outbound + place_call(session, checkin, now, context)


@dataclass
class _Step:
    """One check-in's visit, decided: its task (None: not needed, and why), and what waits for the pass's end."""

    checkin: Checkin
    task: Task | None
    why_not: str = ""
    offer: bool = False  # a new task with a liaison: its first offer
    alert: bool = False  # a task made urgent (new, or joined): the duty phone's alert
    told: bool = False  # the care circle was told of this task already (by the resident's welcome-back call)


@dataclass
class _Wave:
    """The visits of one pass (at 11:30, hundreds at once). What they all need is read ahead in a few statements
    and what they write is written together at the end (`finish`), where one visit at a time cost a score of
    round trips each. Each visit is still decided in turn, in the order of its check-in, as one at a time."""

    open_visits: dict[int, Task | None]  # by household: its first joinable visit task (read ahead, or made here)
    access: AccessRows  # the households' access notes, for their offers
    residents: Sequence[Resident] = ()  # read ahead (the session holds objects weakly: kept here for the pass)
    events: list[lifecycle.LaterEvent] = field(default_factory=list)  # the tasks' events, in order
    steps: list[_Step] = field(default_factory=list)

    @classmethod
    def read(cls, session: Session, checkins: Sequence[Checkin]) -> _Wave:
        """Read ahead what the visits of `checkins` need: their residents with their phones, households,
        liaisons and communities; the households' open visit tasks; their access notes."""
        ids = sorted({checkin.resident_id for checkin in checkins})
        if not ids:
            return cls({}, {})
        household = selectinload(Resident.household)
        residents = session.scalars(
            select(Resident)
            .where(Resident.id.in_(ids))
            .options(
                selectinload(Resident.phones),
                household.selectinload(Household.primary_liaison),
                household.selectinload(Household.community),
            )
        ).all()
        households = sorted({resident.household_id for resident in residents})
        open_visits: dict[int, Task | None] = dict.fromkeys(households)
        for task in session.scalars(_open_visits(households).order_by(Task.id.desc())):
            if task.household_id is not None:
                open_visits[task.household_id] = task  # the lowest id last: the first one
        return cls(open_visits, read_access(session, households), residents)

    def open_visit(self, session: Session, household_id: int) -> Task | None:
        """The household's first joinable visit task, as the query would find it now."""
        if household_id in self.open_visits:
            task = self.open_visits[household_id]
            if task is None or task.status in TaskStatus.joinable():
                return task
        return session.scalar(_open_visits([household_id]).order_by(Task.id).limit(1))

    def finish(self, session: Session, now: datetime, context: DispatchContext) -> list[int]:
        """Write what the visits decided: the new tasks (one INSERT), their events, every SMS in one statement
        (each visit's offer, duty alert and care-circle SMS, visit by visit), the offers' circles, and the
        check-ins' tasks and events. Returns the outbound SMS ids queued, in that order."""
        if not self.steps:
            return []
        session.flush()  # the new tasks have their ids
        lifecycle.write_events(session, self.events)
        visits = [(step, step.task) for step in self.steps if step.task is not None]
        circles = reachable_of(session, [step.checkin.resident_id for step, _ in visits])
        sms: list[dict[str, object]] = []
        offered: list[tuple[Task, str, int, datetime, Liaison | None]] = []
        told: set[int] = set()  # residents whose circle this pass told (a welcome-back call and the day's check-in)
        for step, task in visits:
            if step.offer and task.assignee is not None and task.assignee.phone is not None:
                sms.append(lifecycle.offer_sms(session, task, context, self.access))
                offered.append((task, task.assignee.phone, escalation.PRIMARY, task.created_at, task.assignee))
            alert = escalation.urgent_alert(session, task, context) if step.alert else None
            sms += [alert] if alert is not None else []
            if not step.told and step.checkin.resident_id not in told:  # the circle told once a visit, per resident
                told.add(step.checkin.resident_id)
                sms += no_answer_sms(step.checkin, circles.get(step.checkin.resident_id, []), context.catalog)
        outbound = queue_many(session, sms)
        offers.widen_many(session, offered)  # the liaisons offered each task: its circle
        for step, task in visits:
            step.checkin.visit_task_id = task.id
        events = [
            {
                "checkin_id": step.checkin.id,
                "kind": "visit",
                "at": now,
                "detail": f"task:{step.task.id}" if step.task is not None else step.why_not,
            }
            for step in self.steps
        ]
        session.execute(insert(CheckinEvent), events)
        return outbound


def _open_visits(households: Sequence[int]) -> Select[Task]:
    """The open visit tasks a visit joins rather than making another, of these households."""
    return select(Task).where(
        Task.household_id.in_(households),
        Task.category == TaskCategory.VISIT,
        Task.status.in_(TaskStatus.joinable()),
    )


def _visit(
    session: Session, checkin: Checkin, now: datetime, context: DispatchContext, wave: _Wave | None = None
) -> list[int]:
    """An urgent visit task for the household's liaison, or the household's open one, once per check-in. In a
    `wave`, its SMS, events and care circle wait for the wave's end (`_Wave.finish`); alone, they are written now.
    Returns the outbound SMS ids queued now."""
    if wave is None:
        wave = _Wave.read(session, [checkin])
        return _visit(session, checkin, now, context, wave) + wave.finish(session, now, context)
    checkin.rung, checkin.next_call_at, checkin.calls_left = CheckinRung.VISIT, None, 0
    resident = checkin.resident
    household = resident.household
    if checkin.slot == BACK_SLOT:
        covered = _covered_by_the_day(session, checkin, wave)
        if covered is not None:
            wave.steps.append(_Step(checkin, None, why_not=covered))
            return []
        body = context.catalog.render("away_back_no_answer", context.staff_language)
    else:
        body = context.catalog.render("checkin_visit_body", context.staff_language, slot=checkin.slot)
    # The household's row was locked with the check-in (`_due`): two check-ins of one household climbed at once
    # by two workers cannot both make a visit task: the second is skipped until the first commits, then finds it.
    task = wave.open_visit(session, household.id)
    # Planned backwards: offered `visit_lead` before the check-in's deadline, so every rung has its window by then.
    due_by = context.checkin.due_by(checkin.visit_at or now)
    why = f"checkin:{checkin.id} no answer"
    if task is not None:
        task.due_by = min(task.due_by, due_by) if task.due_by else due_by
        wave.events.append((task, lifecycle.event_row("added", "system", "system", now, why)))
        # The circle was told of this visit when the resident's welcome-back call climbed to it: not again.
        step = _Step(checkin, task, told=task.id is not None and _told_with_the_call(session, checkin, task.id))
        if task.priority != TaskPriority.URGENT:
            task.priority = TaskPriority.URGENT
            escalation.hurry(task, now, context)
            step.alert = True  # `escalation.became_urgent`'s alert, queued at the pass's end
        wave.steps.append(step)
        return []
    task = lifecycle.create_task(
        session,
        household,
        resident,
        TaskCategory.VISIT,
        TaskPriority.URGENT,
        description=body,
        actor="system",
        channel="system",
        now=now,
        due_by=due_by,
        why=why,
        flush=False,
        events=wave.events,
    )
    wave.open_visits[household.id] = task
    outbound: list[int] = []
    if task.assignee is not None:  # `put_in_play`: the first offer and, urgent, the duty alert, at the pass's end
        task.offer_deadline = escalation.first_deadline(task, now, context)
        wave.steps.append(_Step(checkin, task, offer=True, alert=True))
    else:  # nobody to offer it to: `put_in_play` now (the duty alert, and it climbs)
        lifecycle.write_events(session, wave.events)  # its "created" before its climb's events
        outbound += lifecycle.put_in_play(session, task, now, context, household.community)
        wave.steps.append(_Step(checkin, task))
    return outbound


def _told_with_the_call(session: Session, checkin: Checkin, task_id: int) -> bool:
    """True if the resident's welcome-back call of the same day climbed to this visit task first (its circle was
    told then): the day's check-in joining it tells them nothing more, as the call joining the check-in's does not
    (`_covered_by_the_day`)."""
    found = session.scalar(
        select(Checkin.id)
        .where(
            Checkin.visit_task_id == task_id,
            Checkin.resident_id == checkin.resident_id,
            Checkin.local_date == checkin.local_date,
            Checkin.slot == BACK_SLOT,
            Checkin.id != checkin.id,
        )
        .limit(1)
    )
    return found is not None


def _covered_by_the_day(session: Session, checkin: Checkin, wave: _Wave) -> str | None:
    """Why an unanswered welcome-back call needs no visit of its own, or None if it does: the resident answered
    another of the day's check-ins after it was placed, or one still waits with a visit due no later than its own
    (climbing in the same pass, whichever comes first: the household's one visit task is shared), or one climbed to
    its visit already, in this pass or before with that task still open (its circle was told then: not twice)."""
    for step in wave.steps:
        same_day = (step.checkin.resident_id, step.checkin.local_date) == (checkin.resident_id, checkin.local_date)
        if same_day and step.task is not None:
            return f"not needed: check-in {step.checkin.id} has its visit asked already"
    others = session.execute(
        select(
            Checkin.id, Checkin.status, Checkin.answered_at, Checkin.rung, Checkin.visit_at, Checkin.visit_task_id
        ).where(
            Checkin.resident_id == checkin.resident_id,
            Checkin.local_date == checkin.local_date,
            Checkin.id != checkin.id,
        )
    ).all()
    for other in others:
        if other.answered_at is not None and checkin.sent_at is not None and other.answered_at >= checkin.sent_at:
            return f"not needed: check-in {other.id} answered since"
    for other in others:
        if other.rung == CheckinRung.VISIT and other.visit_task_id is not None:
            task = session.get(Task, other.visit_task_id)
            if task is not None and task.status in TaskStatus.joinable():
                return f"not needed: check-in {other.id} has its visit asked already (task:{task.id})"
    for other in others:
        waiting = other.status in CHECKIN_WAITING and other.rung < CheckinRung.VISIT
        if waiting and other.visit_at is not None and checkin.visit_at and other.visit_at <= checkin.visit_at:
            return f"not needed: check-in {other.id} climbs its own ladder to a visit as soon"
    return None
