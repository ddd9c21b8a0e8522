"""The demo's past of its care (`dispatch.demo_care`): residents in a ring mode ring, the scheduler's medicine tasks
are made each morning, and staff set two residents away."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import demo_people as people
from dispatch.checkins.ring import count_ring, is_a_ring
from dispatch.context import DispatchContext
from dispatch.demo_history.cast import Past
from dispatch.ivr.calls import identify_caller, start_call
from dispatch.models import (
    AbsenceReason,
    Resident,
    RingMode,
    StaffUser,
)
from dispatch.register.away import set_absence
from dispatch.staff_accounts import household_scope
from dispatch.tasks.medicine_refills import make_medicine_tasks


def medicines(context: DispatchContext) -> Callable[[Session, datetime], None]:
    """The scheduler's run of the medicines: a task for each medicine whose refill has come due."""

    def act(session: Session, now: datetime) -> None:
        make_medicine_tasks(session, now, context)

    return act


def rings(history: Past, day: date) -> None:
    """Residents in a ring mode ring the hotline: most mornings before the check-in (fine), or now and then
    to be called back."""
    for resident_id, mode, phone in history.ringers:
        if mode == RingMode.FINE and history.rng.random() < people.RING_FINE_DAYS:
            when = history.local(day, "08:20") + people.minutes(history.rng, 0, 30)
        elif mode == RingMode.CALLBACK and day.toordinal() % people.RING_CALLBACK_EVERY == 0:
            when = history.local(day, "10:00") + people.minutes(history.rng, 0, 300)
        else:
            continue
        history.at(when, ring(history, resident_id, phone))


def ring(history: Past, resident_id: int, phone: str) -> Callable[[Session, datetime], None]:
    """A ring, as the voice hotline takes it: the call's row, rejected unanswered and counted; a call that
    would not be a ring (away, unwell today) is not made."""

    def act(session: Session, now: datetime) -> None:
        sid = history.sid("CA")
        if not is_a_ring(session, resident_id, sid, now, history.context):
            return
        language = session.scalar(select(Resident.language).where(Resident.id == resident_id)) or "zh-CN"
        caller = identify_caller(
            session, phone, region=history.context.region, language=language, duty_phone=history.context.duty_phone
        )
        call = start_call(session, sid, caller, history.hotline_phone, now)
        count_ring(session, resident_id, sid, "rejected", now, history.context)
        call.status, call.ended_at = "rejected", now

    return act


def set_away(history: Past, today: date) -> None:
    """Staff set residents away in the past: one in hospital three days ago (their circle told), one gone to
    family six days ago; both are back in a few days."""
    for reason, resident_id in history.away:
        hospital = reason == AbsenceReason.HOSPITAL
        went = today - timedelta(days=3 if hospital else 6)
        back = today + timedelta(days=3 if hospital else 4)
        history.at(history.local(went, "10:40"), goes_away(history, resident_id, reason, back))


def goes_away(
    history: Past, resident_id: int, reason: AbsenceReason, back: date
) -> Callable[[Session, datetime], None]:
    """Staff set the resident away until `back` (a hospital stay tells the care circle), as the demo's account."""
    note = people.HOSPITAL_NOTE if reason == AbsenceReason.HOSPITAL else people.FAMILY_NOTE

    def act(session: Session, now: datetime) -> None:
        user = session.scalar(select(StaffUser).where(StaffUser.username == history.staff_username))
        assert user is not None
        set_absence(
            session,
            history.context.checkin,
            resident_id,
            reason=reason,
            note=note,
            return_on=back,
            tell_family=True,
            request_key=f"demo-away:{resident_id}",
            actor=user,
            where=household_scope(user),
            now=now,
            catalog=history.context.catalog,
        )

    return act
