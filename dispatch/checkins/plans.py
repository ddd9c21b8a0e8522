"""Each resident's check-in plan: their own (set by staff), or the default of their categories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.checkins.rules import CheckinRules, contact_channel, slot_name
from dispatch.db import insert_skipping_duplicates
from dispatch.exceptions import InvalidPlan, NotFound
from dispatch.models import Checkin, CheckinEvent, CheckinPlan, CheckinStatus, Resident, ResidentPhone, utcnow


@dataclass(frozen=True)
class Plan:
    """The plan that applies to one resident on one day."""

    times: tuple[time, ...]
    channel: str
    own: bool  # True: staff set it; False: the default of the resident's categories
    since: datetime | None  # slots due before this are not made (a plan set mid-morning starts with the next)


def plan_for_day(
    rules: CheckinRules,
    day: date,
    *,
    categories: list[str],
    channel: str,
    landline: bool | None,
    registered_on: date,
    own: CheckinPlan | None,
) -> Plan:
    """The plan for `day`: the resident's own if it covers that day, else the default of their categories."""
    default_channel = contact_channel(channel, landline)
    if (
        own is not None
        and (own.starts_on is None or own.starts_on <= day)
        and (own.ends_on is None or day <= own.ends_on)
    ):
        times = tuple(sorted(time.fromisoformat(t) for t in own.times))
        return Plan(times, own.channel or default_channel, own=True, since=own.updated_at)
    return Plan(rules.default_times(categories, registered_on, day), default_channel, own=False, since=None)


def set_plan(
    session: Session,
    rules: CheckinRules,
    resident_id: int,
    *,
    times: list[str],
    channel: str | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
    note: str = "",
    actor: str,
    now: datetime | None = None,
) -> CheckinPlan:
    """Give a resident their own plan (staff). An empty `times` means no check-ins while it lasts.

    Raises:
        NotFound: no such resident.
        InvalidPlan: a time is not HH:MM or falls in quiet hours, the channel is unknown, or the dates are reversed.
    """
    if session.get(Resident, resident_id) is None:
        raise NotFound("resident", str(resident_id))
    parsed = []
    for raw in times:
        try:
            slot = time.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidPlan(f"{raw!r} is not a time of day such as 09:00") from None
        if rules.in_quiet_hours(slot):
            raise InvalidPlan(f"{raw} is in quiet hours; nobody is contacted then")
        parsed.append(slot.strftime("%H:%M"))
    if channel not in (None, "sms", "voice"):
        raise InvalidPlan("channel must be sms or voice")
    if starts_on and ends_on and ends_on < starts_on:
        raise InvalidPlan("the plan ends before it starts")
    plan = session.scalar(select(CheckinPlan).where(CheckinPlan.resident_id == resident_id))
    if plan is None:
        plan = CheckinPlan(resident_id=resident_id)
        session.add(plan)
    plan.times, plan.channel, plan.starts_on, plan.ends_on = sorted(set(parsed)), channel, starts_on, ends_on
    now = now or utcnow()
    plan.note, plan.updated_by, plan.updated_at = note, actor[:64], now
    session.flush()
    _settle_today(session, rules, resident_id, plan, now)
    return plan


def clear_plan(session: Session, rules: CheckinRules, resident_id: int, now: datetime | None = None) -> bool:
    """Back to the default of the resident's categories. Returns False if they had no plan of their own."""
    plan = session.scalar(select(CheckinPlan).where(CheckinPlan.resident_id == resident_id))
    if plan is None:
        return False
    session.delete(plan)
    session.flush()
    _settle_today(session, rules, resident_id, None, now or utcnow())
    return True


def _settle_today(
    session: Session, rules: CheckinRules, resident_id: int, own: CheckinPlan | None, now: datetime
) -> None:
    """A plan changed: today's check-ins not yet sent that the new plan does not have are skipped, and the new
    plan's times already past today are marked skipped too, so they are not sent late as if missed."""
    resident = session.get(Resident, resident_id)
    assert resident is not None
    community = resident.household.community
    zone = rules.zone(community.timezone if community else None)
    day = now.astimezone(zone).date()
    phones = _first_phone(session, resident_id)
    plan = plan_for_day(
        rules,
        day,
        categories=resident.categories or [],
        channel=resident.channel,
        landline=phones[1] if phones else None,
        registered_on=resident.created_at.astimezone(zone).date(),
        own=own,
    )
    wanted = {slot_name(t): datetime.combine(day, t, zone) for t in plan.times}
    today = select(Checkin).where(Checkin.resident_id == resident_id, Checkin.local_date == day)
    existing = {c.slot: c for c in session.scalars(today)}
    for slot, checkin in existing.items():
        if checkin.status == CheckinStatus.SCHEDULED and slot not in wanted and not slot.startswith("staff-"):
            checkin.status = CheckinStatus.SKIPPED
            session.add(CheckinEvent(checkin=checkin, kind="skipped", at=now, detail="skipped: plan changed"))
    past = [
        {
            "resident_id": resident_id,
            "household_id": resident.household_id,
            "local_date": day,
            "slot": slot,
            "channel": plan.channel,
            "language": resident.language,
            "due_at": due,
            "status": CheckinStatus.SKIPPED,
            "rung": 0,
            "calls_placed": 0,
            "calls_left": 0,
            "created_at": now,
        }
        for slot, due in wanted.items()
        if due < now and slot not in existing
    ]
    if past:
        session.execute(insert_skipping_duplicates(session, Checkin), past)


def first_phones(session: Session, resident_ids: list[int]) -> dict[int, tuple[str, bool]]:
    """Each of these residents' first number, and whether it is a landline."""
    first = (
        select(ResidentPhone.resident_id, func.min(ResidentPhone.position).label("position"))
        .where(ResidentPhone.resident_id.in_(resident_ids))
        .group_by(ResidentPhone.resident_id)
        .subquery()
    )
    rows = session.execute(
        select(ResidentPhone.resident_id, ResidentPhone.phone, ResidentPhone.landline).join(
            first,
            (first.c.resident_id == ResidentPhone.resident_id) & (first.c.position == ResidentPhone.position),
        )
    )
    return {row.resident_id: (row.phone, row.landline) for row in rows}


def _first_phone(session: Session, resident_id: int) -> tuple[str, bool] | None:
    row = session.execute(
        select(ResidentPhone.phone, ResidentPhone.landline)
        .where(ResidentPhone.resident_id == resident_id)
        .order_by(ResidentPhone.position)
        .limit(1)
    ).first()
    return (row.phone, row.landline) if row else None


def plan_of(session: Session, resident_id: int) -> CheckinPlan | None:
    """The resident's own check-in plan, if they have one (else their community's rules apply)."""
    return session.scalar(select(CheckinPlan).where(CheckinPlan.resident_id == resident_id))
