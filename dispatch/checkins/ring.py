"""Ring to check in (the Fukuoka model): a resident set this way says "I am fine" (or "please call me back") by
ringing the hotline and hanging up, or by a ring the hotline rejects unanswered (which costs nobody anything).

A ring is counted once per CallSid (`rings.call_sid` is unique): a provider's retry of the call's first webhook,
and its later report that the rejected call ended, count nothing again.

Health first:
- only an active resident's ring counts (paused or moved away: a call is a call);
- a call less than `RING_REPEAT` after the resident's last ring is not a ring: someone who needs help and calls
  again reaches the menu, and a person;
- a resident who answered unwell today, or whose household has an open urgent task, is not rejected: they may be
  calling about it; and a ring never makes an answer less serious, nor closes any task.

"fine": today's waiting check-in (sent, or with no phone) is answered fine; if none is waiting, the check-in due now
but not sent yet, or before the day's first check-in is due that first one, is answered before it is sent (so no
SMS or call goes for it). Never a later slot of the day: with check-ins at 09:00 and 17:00, a ring at 09:06 after
the morning one was answered changes nothing, and the evening check-in still goes. "callback": a call-back task
for the liaison, one per resident per day (its request key `ring:<resident>:<day>`); later rings join it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.checkins.answers import answer
from dispatch.checkins.schedule import make_checkins
from dispatch.context import DispatchContext
from dispatch.models import (
    CHECKIN_WAITING,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Resident,
    ResidentPhone,
    ResidentStatus,
    Ring,
    RingMode,
    RingSetting,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.tasks import lifecycle

RING_REPEAT = timedelta(minutes=5)  # a second call this soon after a ring gets the menu
UNANSWERED = ("no-answer", "canceled", "busy")  # how an inbound call ends that we never answered
_WAITING = (*CHECKIN_WAITING, CheckinStatus.MISSED_QUIET)
_SERIOUS = (CheckinStatus.UNWELL,)


@dataclass
class Counted:
    """What a ring did: its outcome (fine, already, kept, no_checkin, task, joined) and the SMS to hand over."""

    outcome: str
    outbound: list[int] = field(default_factory=list)


def ring_mode(session: Session, resident_id: int) -> RingMode:
    """The resident's ring mode (off when staff never set one)."""
    mode = session.scalar(select(RingSetting.mode).where(RingSetting.resident_id == resident_id))
    return RingMode(mode) if mode else RingMode.OFF


def ringing_phones(session: Session, phones: Iterable[str]) -> set[str]:
    """Those of `phones` that belong to a resident with a ring mode on, in one statement (a batch of new calls):
    a call from any other number is not a ring, and needs no more reading to say so."""
    wanted = sorted(set(phones))
    if not wanted:
        return set()
    with session.no_autoflush:
        found = session.scalars(
            select(ResidentPhone.phone)
            .join(RingSetting, RingSetting.resident_id == ResidentPhone.resident_id)
            .where(ResidentPhone.phone.in_(wanted), RingSetting.mode != RingMode.OFF)
        )
        return set(found)


def set_ring_mode(session: Session, resident_id: int, mode: str, actor: str) -> bool:
    """Set the resident's ring mode. Returns True if it changed. Raises ValueError for an unknown mode."""
    wanted = RingMode(mode)
    setting = session.scalar(select(RingSetting).where(RingSetting.resident_id == resident_id).with_for_update())
    if setting is None:
        if wanted == RingMode.OFF:
            return False
        session.add(RingSetting(resident_id=resident_id, mode=wanted, updated_by=actor[:64]))
        return True
    if setting.mode == wanted:
        return False
    setting.mode, setting.updated_by = wanted, actor[:64]
    return True


def is_a_ring(session: Session, resident_id: int, call_sid: str, now: datetime, context: DispatchContext) -> bool:
    """True if a call from `resident_id` now is a ring, to reject unanswered and count: see the module's doc. A call
    already counted as a ring (the provider's retry of its first webhook) is one again."""
    if session.scalar(select(Ring.id).where(Ring.call_sid == call_sid)) is not None:
        return True
    resident = session.get(Resident, resident_id)
    if resident is None or resident.status != ResidentStatus.ACTIVE:
        return False
    if ring_mode(session, resident_id) == RingMode.OFF:
        return False
    return not _recent_ring(session, resident_id, now) and not needs_a_person(session, resident, now, context)


def count_ring(
    session: Session, resident_id: int, call_sid: str, how: str, now: datetime, context: DispatchContext
) -> Counted | None:
    """Count a ring of `resident_id` (`how`: rejected or unanswered), once per CallSid.

    Returns:
        What it did; None if it does not count: counted before, not an active resident's, ring mode off, too soon
        after their last ring, or (for a call that ended unanswered) they may need a person today.
    """
    if session.scalar(select(Ring.id).where(Ring.call_sid == call_sid)) is not None:
        return None
    resident = session.get(Resident, resident_id)
    if resident is None or resident.status != ResidentStatus.ACTIVE:
        return None
    mode = ring_mode(session, resident_id)
    if mode == RingMode.OFF or _recent_ring(session, resident_id, now):
        return None
    if how != "rejected" and needs_a_person(session, resident, now, context):
        return None  # the normal path: a resident's call that came to nothing is a call-back task
    today = _local_day(resident, now, context)
    ring = Ring(call_sid=call_sid[:64], resident_id=resident_id, at=now, local_date=today, mode=mode, how=how)
    ring.outcome = "kept"
    try:
        with session.begin_nested():
            session.add(ring)
    except IntegrityError:  # the same call's webhook, twice at once: the first counted it
        return None
    if mode == RingMode.FINE:
        counted = _answer_today(session, resident, ring, now, context)
    else:
        counted = _call_me_back(session, resident, ring, now, context)
    ring.outcome = counted.outcome
    return counted


def rings_of(session: Session, resident_id: int, since: datetime) -> list[Ring]:
    """The resident's rings since `since`, newest first."""
    return list(
        session.scalars(select(Ring).where(Ring.resident_id == resident_id, Ring.at >= since).order_by(Ring.at.desc()))
    )


def _recent_ring(session: Session, resident_id: int, now: datetime) -> bool:
    found = session.scalar(
        select(Ring.id).where(Ring.resident_id == resident_id, Ring.at > now - RING_REPEAT, Ring.at <= now).limit(1)
    )
    return found is not None


def needs_a_person(session: Session, resident: Resident, now: datetime, context: DispatchContext) -> bool:
    """Unwell today, or an urgent task open for their household: their call may be about it."""
    today = _local_day(resident, now, context)
    unwell = session.scalar(
        select(Checkin.id)
        .where(Checkin.resident_id == resident.id, Checkin.local_date == today, Checkin.status.in_(_SERIOUS))
        .limit(1)
    )
    if unwell is not None:
        return True
    urgent = session.scalar(
        select(Task.id)
        .where(
            Task.household_id == resident.household_id,
            Task.priority == TaskPriority.URGENT,
            Task.status.in_(TaskStatus.open()),
        )
        .limit(1)
    )
    return urgent is not None


def _local_day(resident: Resident, now: datetime, context: DispatchContext) -> date:
    community = resident.household.community
    return now.astimezone(context.checkin.zone(community.timezone if community else None)).date()


def _today(session: Session, resident_id: int, day: date) -> list[Checkin]:
    return list(
        session.scalars(
            select(Checkin)
            .where(Checkin.resident_id == resident_id, Checkin.local_date == day)
            .order_by(Checkin.due_at, Checkin.id)
            .with_for_update()
        )
    )


def _answer_today(session: Session, resident: Resident, ring: Ring, now: datetime, context: DispatchContext) -> Counted:
    """In "fine" mode: the latest check-in waiting today is answered; else today's next one, before it is sent."""
    today = _today(session, resident.id, ring.local_date)
    if not today:  # the day's rows are not made yet (the scheduler's tick is to come): make this resident's now
        make_checkins(session, now, context, resident_id=resident.id)
        today = _today(session, resident.id, ring.local_date)
    if any(c.status in (CheckinStatus.UNWELL, CheckinStatus.NEEDS) for c in today if c.due_at <= now):
        return Counted("kept")  # never made less serious; the need stands
    due = [c for c in today if c.due_at <= now]
    waiting = [c for c in due if c.status in _WAITING]
    if waiting:
        checkin = waiting[-1]
        answer(session, checkin, CheckinStatus.FINE, None, "ring", now)
        ring.checkin_id = checkin.id
        return Counted("fine")
    # The check-in a ring answers before it is sent: the one due now and not sent yet, or, before the day's first
    # is due, that first one. Never a later slot: a ring after the morning check-in is not the evening's answer.
    current = due[-1:] if due else today[:1]
    if current and current[0].status == CheckinStatus.SCHEDULED:
        checkin = current[0]  # `send_due` sends only scheduled rows, so nothing goes for it
        checkin.status, checkin.answered_at = CheckinStatus.FINE, now
        session.add(CheckinEvent(checkin=checkin, kind="answered", at=now, detail="fine by ring before it was sent"))
        ring.checkin_id = checkin.id
        return Counted("fine")
    if due or any(c.status == CheckinStatus.FINE for c in today):
        return Counted("already")  # today's due check-in is answered already: nothing more changes
    return Counted("no_checkin")


def _call_me_back(session: Session, resident: Resident, ring: Ring, now: datetime, context: DispatchContext) -> Counted:
    """In "callback" mode: the day's call-back task for the resident, made once; a later ring joins it."""
    key = f"ring:{resident.id}:{ring.local_date.isoformat()}"
    task = session.scalar(select(Task).where(Task.request_key == key).with_for_update())
    if task is None:
        household = resident.household
        try:
            with session.begin_nested():
                task = lifecycle.create_task(
                    session,
                    household,
                    resident,
                    TaskCategory.CALLBACK,
                    TaskPriority.NORMAL,
                    description=context.catalog.render("ring_callback_body", context.staff_language),
                    actor="system",
                    channel="voice",
                    now=now,
                    why="ring",
                )
                task.request_key = key
                session.flush()
        except IntegrityError:  # another ring of the same day, at the same moment: its task stands
            task = session.scalar(select(Task).where(Task.request_key == key))
        else:
            ring.task_id = task.id
            return Counted("task", lifecycle.put_in_play(session, task, now, context, household.community))
    assert task is not None
    ring.task_id = task.id
    if task.status in TaskStatus.open():
        session.add(
            TaskEvent(task=task, kind="added", actor="system", channel="voice", at=now, detail=f"ring:{ring.call_sid}")
        )
    return Counted("joined")
