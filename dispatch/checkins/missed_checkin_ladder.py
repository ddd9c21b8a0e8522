"""The ladder of a check-in nobody answered: a reminder (SMS residents) and a call after the window; the call
retried when busy, unanswered or a machine; then an urgent visit task (上门查看) for the liaison, offered early
enough (`CheckinRules.ladder_times`) that it climbs the task ladder's every rung by the day's deadline: someone has
taken it by then, or duty staff know. Each rung is a check-in event.

Every step locks its rows and checks their state first, so a late, repeated or concurrent run changes nothing
twice, and each SMS and call is decided once (dedupe keys `checkin:<id>:reminder`, `checkin:<id>:call:<n>`).
Quiet hours hold: no reminder or call to a resident then; the visit task still goes to the liaison.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.care_circle import tell_no_answer
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
    Resident,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.outbox import queue_sms
from dispatch.tasks import escalation, lifecycle

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
    for checkin in visits:
        climbed.outbound += _visit(session, checkin, now, context)
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


def _visit(session: Session, checkin: Checkin, now: datetime, context: DispatchContext) -> list[int]:
    """An urgent visit task for the household's liaison, or the household's open one, once per check-in."""
    checkin.rung, checkin.next_call_at, checkin.calls_left = CheckinRung.VISIT, None, 0
    resident = checkin.resident
    household = resident.household
    if checkin.slot == BACK_SLOT:
        covered = _covered_by_the_day(session, checkin)
        if covered is not None:
            session.add(CheckinEvent(checkin=checkin, kind="visit", at=now, detail=covered))
            return []
        body = context.catalog.render("away_back_no_answer", context.staff_language)
    else:
        body = context.catalog.render("checkin_visit_body", context.staff_language, slot=checkin.slot)
    # The household's row was locked with the check-in (`_due`): two check-ins of one household climbed at once
    # by two workers cannot both make a visit task: the second is skipped until the first commits, then finds it.
    task = session.scalar(
        select(Task)
        .where(
            Task.household_id == household.id,
            Task.category == TaskCategory.VISIT,
            Task.status.in_(TaskStatus.joinable()),
        )
        .order_by(Task.id)
        .limit(1)
    )
    # Planned backwards: offered `visit_lead` before the check-in's deadline, so every rung has its window by then.
    due_by = context.checkin.due_by(checkin.visit_at or now)
    outbound: list[int] = []
    told = False  # the circle was told of this visit already (`_told_with_the_call`)
    if task is not None:
        told = _told_with_the_call(session, checkin, task.id)
        task.due_by = min(task.due_by, due_by) if task.due_by else due_by
        session.add(
            TaskEvent(
                task=task,
                kind="added",
                actor="system",
                channel="system",
                at=now,
                detail=f"checkin:{checkin.id} no answer",
            )
        )
        if task.priority != TaskPriority.URGENT:
            task.priority = TaskPriority.URGENT
            outbound += escalation.became_urgent(session, task, now, context)
    else:
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
            why=f"checkin:{checkin.id} no answer",
        )
        outbound += lifecycle.put_in_play(session, task, now, context, household.community)
    checkin.visit_task_id = task.id
    session.add(CheckinEvent(checkin=checkin, kind="visit", at=now, detail=f"task:{task.id}"))
    if told:
        return outbound
    return outbound + tell_no_answer(session, checkin, context.catalog)  # the care circle, once


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


def _covered_by_the_day(session: Session, checkin: Checkin) -> str | None:
    """Why an unanswered welcome-back call needs no visit of its own, or None if it does: the resident answered
    another of the day's check-ins after it was placed, or one still waits with a visit due no later than its own
    (climbing in the same pass, whichever comes first: the household's one visit task is shared), or one climbed to
    its visit already and that task is still open (its circle was told then: not told twice)."""
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
