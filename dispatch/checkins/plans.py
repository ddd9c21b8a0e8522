"""Each resident's check-in plan: their own (set by staff), or the default of their categories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.checkins.rules import CheckinRules, contact_channel
from dispatch.exceptions import InvalidPlan, NotFound
from dispatch.models import CheckinPlan, Resident, ResidentPhone, utcnow


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
    plan.note, plan.updated_by, plan.updated_at = note, actor[:64], utcnow()
    session.flush()
    return plan


def clear_plan(session: Session, resident_id: int) -> bool:
    """Back to the default of the resident's categories. Returns False if they had no plan of their own."""
    plan = session.scalar(select(CheckinPlan).where(CheckinPlan.resident_id == resident_id))
    if plan is None:
        return False
    session.delete(plan)
    return True


def first_phones(session: Session) -> dict[int, tuple[str, bool]]:
    """Each resident's first number and whether it is a landline."""
    first = (
        select(ResidentPhone.resident_id, func.min(ResidentPhone.position).label("position"))
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
