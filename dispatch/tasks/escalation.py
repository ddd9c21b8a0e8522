"""The ladder: a task nobody takes in time climbs to the backup liaison, then the grid leader, then duty staff.

Deadlines live in the database (`Task.offer_deadline`). `escalate_due_tasks` is run by the sweeper with the
time it is; every step checks the task's state first, so a late or repeated run changes nothing and each rung's
SMS is decided once (dedupe key `task:<id>:offer:<rung>`). A hand-back or a failed offer SMS climbs at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch.checkins.checkin_calls import sms_not_delivered
from dispatch.context import DispatchContext
from dispatch.models import (
    Community,
    Liaison,
    OutboundMessage,
    OutboundStatus,
    Task,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.outbox import decided, queue_sms
from dispatch.provider_answers import apply_provider_status, provider_error
from dispatch.tasks import offers
from dispatch.tasks.task_texts import task_text

RESEND_SUFFIX = ":resend"  # the one new attempt of a message Twilio did not deliver because of throttling

PRIMARY, BACKUP, GRID_LEADER, DUTY_STAFF = 0, 1, 2, 3


def deadline(task: Task, now: datetime, context: DispatchContext) -> datetime:
    """When an offer made now lapses: urgent tasks sooner. A task due by a time (`Task.due_by`: a visit, an unclear
    reply to a check-in) shares what is left until then among its remaining rungs, so that duty staff are alerted
    by then at the latest; past it, each rung lapses at once."""
    minutes = context.urgent_accept_minutes if task.priority == TaskPriority.URGENT else context.normal_accept_minutes
    window = timedelta(minutes=minutes)
    if task.due_by is not None and task.rung < DUTY_STAFF:
        share = (task.due_by - now) / (DUTY_STAFF - task.rung)
        window = max(timedelta(0), min(window, share))
    return now + window


def start(
    session: Session, task: Task, now: datetime, context: DispatchContext, community: Community | None = None
) -> list[int]:
    """A new task: set its deadline, alert duty staff at once if urgent, climb at once if nobody was offered it.

    Args:
        community: For a task with no household (a number several households share): whose duty staff to tell.

    Returns:
        Outbound SMS ids decided now.
    """
    outbound: list[int] = []
    if task.household is None:
        return _to_duty_staff_directly(session, task, now, context, community)
    if task.priority == TaskPriority.URGENT:
        outbound += alert_duty_staff(session, task, context)
    if (first := first_deadline(task, now, context)) is not None:
        task.offer_deadline = first
    elif task.household is not None:
        outbound += climb(session, task, now, context, reason="no liaison")
    return outbound


def first_deadline(task: Task, now: datetime, context: DispatchContext) -> datetime | None:
    """When a new task's first offer lapses, if it was offered (None: nobody was offered it). Set before the task
    is first written, it saves an UPDATE of every new task (`dispatch.tasks.lifecycle.put_in_play_many`)."""
    return deadline(task, now, context) if task.household is not None and task.status == TaskStatus.OFFERED else None


@dataclass
class Climbed:
    """One pass of a ladder: the SMS and calls it decided, and whether it stopped at its limit (`more`: run it
    again, in a new transaction, until it does not; a large day's rungs never wait for the next tick)."""

    outbound: list[int] = field(default_factory=list)
    more: bool = False


def escalate_due_tasks(session: Session, now: datetime, context: DispatchContext, limit: int = 500) -> Climbed:
    """Climb up to `limit` tasks whose offer lapsed by `now`, or that were handed back (others' locked rows are
    skipped: two sweepers at once climb different tasks)."""
    due = session.scalars(
        select(Task)
        .where(
            or_(
                Task.status.in_((TaskStatus.OFFERED, TaskStatus.ESCALATED)) & (Task.offer_deadline <= now),
                (Task.status == TaskStatus.DECLINED) & (Task.rung < DUTY_STAFF),
            )
        )
        .order_by(Task.offer_deadline, Task.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    climbed = Climbed(more=len(due) >= limit)
    for task in due:
        reason = "handed back" if task.status == TaskStatus.DECLINED else "not taken in time"
        climbed.outbound += climb(session, task, now, context, reason=reason)
    return climbed


@dataclass
class AfterFailure:
    """What a failed or undelivered message leads to: outbound rows to send now, and later (after a pause)."""

    now: list[int] = field(default_factory=list)
    later: list[int] = field(default_factory=list)


def after_delivery_report(
    session: Session,
    provider_sid: str,
    provider_status: str,
    outbound_id: int | None,
    now: datetime,
    context: DispatchContext,
    error_code: int | None = None,
) -> tuple[bool, AfterFailure]:
    """Record a provider's report on one of our messages (`provider_answers.apply_provider_status`), and, if it
    never reached the phone, what follows (`after_delivery_failure`). Returns whether the report was about one of
    ours, and what to hand over."""
    row = apply_provider_status(session, provider_sid, provider_status, outbound_id, error_code)
    if row is None or row.status not in (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED):
        return row is not None, AfterFailure()
    return True, after_delivery_failure(session, row.id, now, context)


def after_delivery_failure(session: Session, outbound_id: int, now: datetime, context: DispatchContext) -> AfterFailure:
    """A message refused at sending or reported failed or undelivered. Throttled by Twilio (a temporary code):
    sent again once, later, as a new row (dedupe key `<key>:resend`). Otherwise, or if the resend fails too: a
    task offer climbs the ladder now, and a check-in SMS moves its check-in on to its call now. Repeated reports
    change nothing: each step is keyed or checks state first."""
    sms = session.get(OutboundMessage, outbound_id)
    result = AfterFailure()
    if sms is None:
        return result
    meaning, resend_key = provider_error(sms.error_code), sms.dedupe_key + RESEND_SUFFIX
    first_try = not sms.dedupe_key.endswith(RESEND_SUFFIX) and len(resend_key) <= 128
    if meaning.temporary and sms.kind == "sms" and first_try:
        if stale_offer(session, sms):
            return result  # taken, finished or climbed past meanwhile (reports can come hours late): no resend
        resend = queue_sms(
            session,
            dedupe_key=resend_key,
            to_phone=sms.to_phone,
            body=sms.body,
            task_id=sms.task_id,
            language=sms.language,
            checkin_id=sms.checkin_id,
            notice_id=sms.notice_id,
        )
        if resend is not None:
            result.later.append(resend.id)
            return result
        if decided(session, resend_key):
            return result  # decided before: a repeated report
        # Refused as unwanted (the number became a landline, or its residents opted out): as for a lasting failure.
    result.now += escalate_after_failed_offer(session, outbound_id, now, context)
    if not meaning.opted_out:  # a resident who opted out is not called instead: they asked for no calls either
        result.now += sms_not_delivered(session, sms, now, context)
    return result


def stale_offer(session: Session, sms: OutboundMessage) -> bool:
    """True if `sms` is a task offer (or its resend) whose task is no longer waiting at that offer's rung."""
    return _offer_rung(sms) is not None and _waiting_task(session, sms) is None


def _offer_rung(sms: OutboundMessage) -> int | None:
    """The rung of a task offer SMS (or of its resend); None for any other SMS."""
    offer = re.fullmatch(rf"task:{sms.task_id}:offer:(\d+)(?:{RESEND_SUFFIX})?", sms.dedupe_key)
    return int(offer.group(1)) if offer is not None and sms.task_id is not None else None


def _waiting_task(session: Session, sms: OutboundMessage, *, lock: bool = False) -> Task | None:
    """The task of an offer SMS if it still waits at that offer's rung (not taken, not climbed past), else None."""
    rung = _offer_rung(sms)
    if rung is None:
        return None
    task = session.get(Task, sms.task_id, with_for_update=lock, populate_existing=lock)
    return task if task is not None and task.rung == rung and task.status in TaskStatus.climbable() else None


def cancel_stale_resend(session: Session, outbound_id: int, now: datetime) -> bool:
    """At sending: cancel an offer's resend whose task was taken, finished or climbed past in the minute it
    waited. True if cancelled (the caller does not send it)."""
    sms = session.get(OutboundMessage, outbound_id)
    if sms is None or not sms.dedupe_key.endswith(RESEND_SUFFIX) or not stale_offer(session, sms):
        return False
    sms.status, sms.status_at = OutboundStatus.CANCELLED, now
    return True


def cancel_stale_resends(session: Session, outbound_ids: list[int], now: datetime) -> set[int]:
    """`cancel_stale_resend` for many: the resends among them found in one statement. Returns those cancelled."""
    resends = session.scalars(
        select(OutboundMessage.id).where(
            OutboundMessage.id.in_(outbound_ids), OutboundMessage.dedupe_key.like(f"%{RESEND_SUFFIX}")
        )
    )
    return {outbound_id for outbound_id in resends if cancel_stale_resend(session, outbound_id, now)}


def escalate_after_failed_offer(
    session: Session, outbound_id: int, now: datetime, context: DispatchContext
) -> list[int]:
    """An offer SMS (or its resend) that failed or was undelivered: climb at once rather than wait for the
    deadline."""
    sms = session.get(OutboundMessage, outbound_id)
    task = _waiting_task(session, sms, lock=True) if sms is not None else None
    if task is None:
        return []  # not an offer, already taken, or already climbed past this offer
    return climb(session, task, now, context, reason="offer SMS not delivered")


def climb(session: Session, task: Task, now: datetime, context: DispatchContext, reason: str) -> list[int]:
    """Offer `task` to the next rung that has someone to reach, and record the step. The next rung's window runs
    from the lapsed deadline, not from when the sweep came round to it: a sweep's lag never adds up rung by rung,
    and a task reaches duty staff within its ladder time."""
    since = min(now, task.offer_deadline) if task.offer_deadline is not None else now
    for rung in range(task.rung + 1, DUTY_STAFF + 1):
        liaison, phone = _reach(session, task, rung, context)
        if phone is None:
            continue
        task.rung = rung
        task.updated_at = now
        detail = f"rung:{rung} {reason}"
        if liaison is not None:  # a liaison can take it by reply
            task.assignee, task.status = liaison, TaskStatus.OFFERED
            task.offer_deadline = deadline(task, since, context)
            key = "liaison_task_offer"
        else:  # grid leader or duty staff: told, and they arrange it; a grid leader has a deadline too
            task.assignee, task.status = None, TaskStatus.ESCALATED
            task.offer_deadline = deadline(task, since, context) if rung < DUTY_STAFF else None
            key = "staff_task_alert"
        session.add(TaskEvent(task=task, kind="escalated", actor="system", channel="sms", at=now, detail=detail))
        offers.widen(session, task, phone, rung, now, liaison)  # the earlier rungs may still take it
        sms = queue_sms(
            session,
            dedupe_key=f"task:{task.id}:offer:{rung}",
            to_phone=phone,
            body=task_text(session, task, key, context.catalog, context.staff_language),
            task_id=task.id,
        )
        return [sms.id] if sms else []
    # Nobody left to reach: staff see it on the board.
    task.assignee, task.status, task.offer_deadline, task.rung = None, TaskStatus.ESCALATED, None, DUTY_STAFF
    session.add(
        TaskEvent(
            task=task,
            kind="escalated",
            actor="system",
            channel="system",
            at=now,
            detail=f"rung:{DUTY_STAFF} {reason}; nobody to reach",
        )
    )
    return []


def _reach(session: Session, task: Task, rung: int, context: DispatchContext) -> tuple[Liaison | None, str | None]:
    """Who is on `rung` for this task: a liaison to offer it to, or a phone to alert; (None, None) if nobody."""
    household = task.household
    if household is None:
        return None, None
    if rung == BACKUP:
        backup = household.backup_liaison
        if backup is not None and backup.active and backup.phone and backup.id != household.primary_liaison_id:
            return backup, backup.phone
        return None, None
    if rung == GRID_LEADER:
        phone = household.grid.leader_phone if household.grid else None
        if phone is None:
            return None, None
        leader = session.scalar(select(Liaison).where(Liaison.phone == phone, Liaison.active))
        return leader, phone
    return None, _duty_phone(household.community, context)


def _duty_phone(community: Community | None, context: DispatchContext) -> str | None:
    """The community's duty phone, else the service's (HOTLINE_DUTY_PHONE), else None."""
    return (community.duty_phone if community is not None else None) or context.duty_phone


def _to_duty_staff_directly(
    session: Session, task: Task, now: datetime, context: DispatchContext, community: Community | None
) -> list[int]:
    """No household to climb through: straight to the community's duty phone, or to the board if none."""
    phone = _duty_phone(community, context)
    task.rung, task.status, task.offer_deadline = DUTY_STAFF, TaskStatus.ESCALATED, None
    detail = f"rung:{DUTY_STAFF} no household" + ("" if phone else "; nobody to reach")
    session.add(TaskEvent(task=task, kind="escalated", actor="system", channel="system", at=now, detail=detail))
    if phone is None:
        return []
    offers.widen(session, task, phone, DUTY_STAFF, now)
    sms = queue_sms(
        session,
        dedupe_key=f"task:{task.id}:offer:{DUTY_STAFF}",
        to_phone=phone,
        body=task_text(session, task, "staff_task_alert", context.catalog, context.staff_language),
        task_id=task.id,
    )
    return [sms.id] if sms else []


def became_urgent(session: Session, task: Task, now: datetime, context: DispatchContext) -> list[int]:
    """An open task just made urgent (an unwell SMS or a voicemail added to it): alert duty staff now, once,
    and bring its offer deadline forward to the urgent one."""
    hurry(task, now, context)
    return alert_duty_staff(session, task, context)


def hurry(task: Task, now: datetime, context: DispatchContext) -> None:
    """Bring the offer deadline of a task just made urgent forward to the urgent one (`became_urgent` without its
    alert, for a caller that queues the alerts of many tasks together: `urgent_alert`)."""
    if task.offer_deadline is not None:
        task.offer_deadline = min(task.offer_deadline, deadline(task, now, context))


def alert_duty_staff(session: Session, task: Task, context: DispatchContext) -> list[int]:
    """Tell the duty phone about an urgent task, once (dedupe key `task:<id>:urgent-alert`)."""
    alert = urgent_alert(session, task, context)
    sms = queue_sms(session, **alert) if alert is not None else None  # type: ignore[arg-type]
    return [sms.id] if sms else []


def urgent_alert(session: Session, task: Task, context: DispatchContext) -> dict[str, object] | None:
    """`alert_duty_staff`'s SMS as `queue_sms`'s arguments (for `queue_many`), or None if there is no duty phone."""
    duty = _duty_phone(task.household.community if task.household else None, context)
    if duty is None:
        return None
    liaison = task.assignee.name if task.assignee else "-"
    return {
        "dedupe_key": f"task:{task.id}:urgent-alert",
        "to_phone": duty,
        "body": task_text(
            session, task, "staff_urgent_alert", context.catalog, context.staff_language, liaison_name=liaison
        ),
        "task_id": task.id,
    }


def flag_overdue_accepted(session: Session, now: datetime, context: DispatchContext) -> list[int]:
    """Flag, once, each task taken but not done by the done-by time of the day it was taken. Returns task ids.

    A task taken after that day's done-by time is due by the next day's.
    """
    flagged = []
    candidates = session.scalars(
        select(Task).where(Task.status == TaskStatus.ACCEPTED, Task.flagged_at.is_(None), Task.accepted_at.is_not(None))
    )
    for task in candidates:
        assert task.accepted_at is not None
        taken = task.accepted_at.astimezone(context.timezone)
        due = datetime.combine(taken.date(), context.done_by, tzinfo=context.timezone)
        if taken >= due:
            due += timedelta(days=1)
        if now >= due:
            task.flagged_at = now
            session.add(
                TaskEvent(
                    task=task,
                    kind="flagged",
                    actor="system",
                    channel="system",
                    at=now,
                    detail=f"not done by {due.isoformat(timespec='minutes')}",
                )
            )
            flagged.append(task.id)
    return flagged
