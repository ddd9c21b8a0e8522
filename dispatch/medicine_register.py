"""A resident's medicines as staff keep them: add, change, stop, record a refill; and the calendar the resident's
page shows (each medicine's run-out day, the day its next task is made, and a month marking both).

Every function finds the resident within the caller's scope (`where`, a filter on Household; outside is NotFound)
and records its change in the audit log. Names and doses are never logged: the audit entry names the medicine's id.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.context import DispatchContext
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import Medicine, MedicineTask, Resident, Task, TaskStatus
from dispatch.register.history import resident_in_scope
from dispatch.staff_accounts import Principal
from dispatch.tasks.medicine_refills import MAX_LEAD_DAYS, lead_of, set_refill, task_day

NAME_LIMIT = 100
DOSE_LIMIT = 200
MAX_DAYS = 365
KEY_LIMIT = 64


@dataclass(frozen=True)
class MedicineFields:
    """What staff give for a medicine, as typed (checked by `checked`)."""

    name: str
    days_supply: int | str
    last_refill: date | str | None = None
    dose: str = ""
    lead_days: int | str | None = None


@dataclass(frozen=True)
class MedicineView:
    """One medicine on the resident's page."""

    id: int
    name: str
    dose: str
    days_supply: int
    last_refill: date | None
    runs_out_on: date | None
    task_on: date | None  # the day its next task is made
    lead_days: int
    own_lead: bool
    stopped: bool
    state: str  # ok, soon (its task day has come), out (run out), no_refill, stopped
    open_task_id: int | None  # the open medicine task covering it


@dataclass(frozen=True)
class CalendarDay:
    day: date | None  # None: a blank before the 1st or after the last day
    refills: list[str] = field(default_factory=list)
    run_outs: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MedicineCalendar:
    today: date
    medicines: list[MedicineView]
    month: date  # its first day
    weeks: list[list[CalendarDay]]
    default_lead: int


def _today(resident: Resident, now: datetime, context: DispatchContext) -> date:
    community = resident.household.community if resident.household else None
    zone = ZoneInfo(community.timezone) if community is not None and community.timezone else context.timezone
    return now.astimezone(zone).date()


def _whole(raw: int | str | None, low: int, high: int, key: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidAction(f"give a whole number from {low} to {high}", key, low=low, high=high) from None
    if not low <= value <= high:
        raise InvalidAction(f"give a whole number from {low} to {high}", key, low=low, high=high)
    return value


def _day(raw: date | str | None, today: date) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, date):
        day = raw
    else:
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            raise InvalidAction("give the date as YYYY-MM-DD", "medicine_date") from None
    if day > today:
        raise InvalidAction("a refill cannot be in the future", "medicine_future", today=today.isoformat())
    if day < today - timedelta(days=3 * MAX_DAYS):
        raise InvalidAction("a refill that long ago does not count: give a recent one", "medicine_date")
    return day


def checked(fields: MedicineFields, today: date) -> tuple[str, str, int, date | None, int | None]:
    """The fields checked: name, dose, days of supply, last refill, own lead (None: the hotline's).

    Raises:
        InvalidAction: a clear reason, for the first field that is wrong; nothing is written.
    """
    name = " ".join(fields.name.split())
    if not name or len(name) > NAME_LIMIT or "\x00" in name:
        raise InvalidAction(f"name the medicine in 1 to {NAME_LIMIT} characters", "medicine_name", limit=NAME_LIMIT)
    dose = " ".join(fields.dose.split())
    if len(dose) > DOSE_LIMIT or "\x00" in dose:
        raise InvalidAction(f"the dose note is at most {DOSE_LIMIT} characters", "medicine_dose", limit=DOSE_LIMIT)
    days = _whole(fields.days_supply, 1, MAX_DAYS, "medicine_days")
    lead = None
    if fields.lead_days is not None and str(fields.lead_days).strip() != "":
        lead = _whole(fields.lead_days, 0, MAX_LEAD_DAYS, "medicine_lead")
    return name, dose, days, _day(fields.last_refill, today), lead


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def add_medicine(
    session: Session,
    resident_id: int,
    fields: MedicineFields,
    *,
    request_key: str,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> tuple[int, bool]:
    """Add a medicine for the resident. The request's key makes a double click or a retry add it once.

    Returns:
        The medicine's id, and whether it was added now (False: the same key added it before).
    """
    key = request_key.strip()
    if not key or len(key) > KEY_LIMIT:
        raise InvalidAction(f"a request key needs 1 to {KEY_LIMIT} characters", "request_key")
    resident = resident_in_scope(session, resident_id, where)
    stored_key = _digest(actor.audit_ref, key)
    found = session.scalar(select(Medicine.id).where(Medicine.request_key == stored_key))
    if found is not None:
        return found, False
    name, dose, days, last_refill, lead = checked(fields, _today(resident, now, context))
    medicine = Medicine(
        resident_id=resident.id,
        name=name,
        dose=dose,
        days_supply=days,
        lead_days=lead,
        request_key=stored_key,
        created_at=now,
        updated_at=now,
    )
    if last_refill is not None:
        set_refill(medicine, last_refill, now)
    try:
        with session.begin_nested():
            session.add(medicine)
            session.flush()
    except IntegrityError:  # the same key at the same moment, in another process
        found = session.scalar(select(Medicine.id).where(Medicine.request_key == stored_key))
        assert found is not None
        return found, False
    audit.record(session, actor, "create", "medicine", medicine.id, f"resident:{resident.id}", at=now)
    return medicine.id, True


def _medicine(session: Session, resident_id: int, medicine_id: int, where: ColumnElement[bool]) -> Medicine:
    resident_in_scope(session, resident_id, where)
    medicine = session.get(Medicine, medicine_id, with_for_update=True)
    if medicine is None or medicine.resident_id != resident_id:
        raise NotFound("medicine", str(medicine_id))
    return medicine


def medicine_fields(session: Session, resident_id: int, medicine_id: int, where: ColumnElement[bool]) -> MedicineFields:
    """The medicine's fields as stored, its row locked for the rest of the transaction: what a change naming only
    some fields (the API's PATCH) starts from, so a change made meanwhile by someone else is not overwritten."""
    medicine = _medicine(session, resident_id, medicine_id, where)
    return MedicineFields(
        name=medicine.name,
        days_supply=medicine.days_supply,
        last_refill=medicine.last_refill,
        dose=medicine.dose,
        lead_days=medicine.lead_days,
    )


def update_medicine(
    session: Session,
    resident_id: int,
    medicine_id: int,
    fields: MedicineFields,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> bool:
    """Change a medicine's name, dose, days of supply, last refill and own lead. Returns whether anything changed
    (the same form twice changes nothing the second time)."""
    medicine = _medicine(session, resident_id, medicine_id, where)
    if medicine.stopped_at is not None:
        raise InvalidAction("this medicine was stopped; add it again to start it", "medicine_stopped")
    name, dose, days, last_refill, lead = checked(fields, _today(medicine.resident, now, context))
    before = (medicine.name, medicine.dose, medicine.days_supply, medicine.last_refill, medicine.lead_days)
    if before == (name, dose, days, last_refill, lead):
        return False
    medicine.name, medicine.dose, medicine.days_supply, medicine.lead_days = name, dose, days, lead
    medicine.last_refill, medicine.updated_at = last_refill, now
    medicine.runs_out_on = last_refill + timedelta(days=days) if last_refill is not None else None
    audit.record(session, actor, "edit", "medicine", medicine.id, f"resident:{resident_id}", at=now)
    return True


def record_refill(
    session: Session,
    resident_id: int,
    medicine_id: int,
    day: date | str | None,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> bool:
    """Staff record a refill by hand (the family brought it): the count starts again from `day` (None: today).
    Returns whether anything changed: the same refill twice changes nothing."""
    medicine = _medicine(session, resident_id, medicine_id, where)
    if medicine.stopped_at is not None:
        raise InvalidAction("this medicine was stopped; add it again to start it", "medicine_stopped")
    today = _today(medicine.resident, now, context)
    refill = _day(day, today) or today
    if medicine.last_refill == refill:
        return False
    set_refill(medicine, refill, now)
    audit.record(session, actor, "refill", "medicine", medicine.id, f"resident:{resident_id}", at=now)
    return True


def stop_medicine(
    session: Session,
    resident_id: int,
    medicine_id: int,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
) -> bool:
    """Stop a medicine: no more tasks; kept for the record. Returns False if it was stopped already."""
    medicine = _medicine(session, resident_id, medicine_id, where)
    if medicine.stopped_at is not None:
        return False
    medicine.stopped_at = medicine.updated_at = now
    audit.record(session, actor, "stop", "medicine", medicine.id, f"resident:{resident_id}", at=now)
    return True


def medicine_calendar(
    session: Session,
    resident_id: int,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
    month: date | None = None,
) -> MedicineCalendar:
    """The resident's medicines (current first, stopped last) and a month (this one unless given) marking each
    refill, run-out day and task day."""
    resident = resident_in_scope(session, resident_id, where)
    today = _today(resident, now, context)
    lead = context.medicine_lead_days
    medicines = list(
        session.scalars(
            select(Medicine)
            .where(Medicine.resident_id == resident.id)
            .order_by(Medicine.stopped_at.is_not(None), Medicine.id)
        )
    )
    covering = dict(
        session.execute(
            select(MedicineTask.medicine_id, Task.id)
            .join(Task, Task.id == MedicineTask.task_id)
            .where(MedicineTask.medicine_id.in_([m.id for m in medicines]), Task.status.in_(TaskStatus.open()))
        ).all()
    )
    views = [_view(m, today, lead, covering.get(m.id)) for m in medicines]
    first = (month or today).replace(day=1)
    return MedicineCalendar(today, views, first, _weeks(first, [v for v in views if not v.stopped]), lead)


def _view(medicine: Medicine, today: date, default_lead: int, task_id: int | None) -> MedicineView:
    day = task_day(medicine, default_lead)
    if medicine.stopped_at is not None:
        state = "stopped"
    elif medicine.runs_out_on is None:
        state = "no_refill"
    elif medicine.runs_out_on <= today:
        state = "out"
    elif day is not None and day <= today:
        state = "soon"
    else:
        state = "ok"
    return MedicineView(
        id=medicine.id,
        name=medicine.name,
        dose=medicine.dose,
        days_supply=medicine.days_supply,
        last_refill=medicine.last_refill,
        runs_out_on=medicine.runs_out_on,
        task_on=day,
        lead_days=lead_of(medicine, default_lead),
        own_lead=medicine.lead_days is not None,
        stopped=medicine.stopped_at is not None,
        state=state,
        open_task_id=task_id,
    )


def _weeks(first: date, medicines: list[MedicineView]) -> list[list[CalendarDay]]:
    """The month as weeks from Monday, each day with the medicines refilled, running out and due a task on it."""
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        row = []
        for day in week:
            if day.month != first.month:
                row.append(CalendarDay(None))
                continue
            row.append(
                CalendarDay(
                    day,
                    refills=[m.name for m in medicines if m.last_refill == day],
                    run_outs=[m.name for m in medicines if m.runs_out_on == day],
                    tasks=[m.name for m in medicines if m.task_on == day],
                )
            )
        weeks.append(row)
    return weeks


def medicines_of(
    session: Session, resident_id: int, where: ColumnElement[bool], now: datetime, context: DispatchContext
) -> list[MedicineView]:
    """The resident's medicines as the API lists them."""
    return medicine_calendar(session, resident_id, where, now, context).medicines
