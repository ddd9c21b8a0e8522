"""One resident as staff see them: details, household, liaisons, check-in plan, and their last days.

Everything is returned as plain values, so a page or the JSON API can use it after the session is closed. The
phones are given in full: staff need them to call. They must never reach a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from dispatch.checkins.plans import plan_for_day
from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import NotFound
from dispatch.models import (
    Call,
    Checkin,
    CheckinPlan,
    Household,
    Liaison,
    OutboundMessage,
    Resident,
    Task,
    TemperatureReading,
)
from dispatch.register.coverage import describe_address

HISTORY_DAYS = 14
CALL_KINDS = ("checkin", "call")  # outbound messages that are calls


@dataclass(frozen=True)
class PhoneLine:
    phone: str  # E.164
    landline: bool


@dataclass(frozen=True)
class LiaisonLine:
    id: int
    name: str
    phone: str | None
    active: bool


@dataclass(frozen=True)
class ResidentDetails:
    """The register's record of one resident and their household."""

    id: int
    name: str
    phones: tuple[PhoneLine, ...]
    language: str
    channel: str
    categories: tuple[str, ...]
    risk: str
    status: str
    emergency_contact_name: str | None
    emergency_contact_phone: str | None
    notes: str
    created_at: datetime
    updated_at: datetime
    household_id: int
    community: str | None
    building: str | None
    unit: str | None
    room: str | None
    address: str
    grid: str | None
    grid_leader: str | None
    liaison: LiaisonLine | None
    backup_liaison: LiaisonLine | None
    housemates: tuple[tuple[int, str], ...]  # the other residents at the address: (id, name)


@dataclass(frozen=True)
class PlanLine:
    """A check-in plan: the resident's own (staff set it) or, when `own` is False, their categories' default."""

    own: bool
    times: tuple[str, ...]  # local "HH:MM"; empty: no check-ins
    channel: str | None  # None: the resident's own channel
    starts_on: date | None = None
    ends_on: date | None = None
    note: str = ""
    updated_by: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CheckinLine:
    id: int
    local_date: date
    slot: str
    channel: str
    status: str
    rung: int
    due_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None
    calls_placed: int
    last_call_result: str | None
    visit_task_id: int | None


@dataclass(frozen=True)
class ReadingLine:
    at: datetime
    celsius: float


@dataclass(frozen=True)
class TaskLine:
    id: int
    category: str
    priority: str
    status: str
    created_at: datetime
    assignee: str | None
    household_only: bool  # the need came from a number the household shares, not from this resident alone


@dataclass(frozen=True)
class CallLine:
    """A phone call: one the resident (or their household's number) made to the hotline, or one the hotline
    placed to them (a check-in call, or an automated call that reads a message)."""

    at: datetime
    direction: str  # "in" or "out"
    kind: str  # hotline (they called), checkin (a check-in call), message (a call reading a message)
    outcome: str | None  # Twilio's status, or the check-in call's result (human, machine, busy, no-answer, …)
    duration_seconds: int | None
    connected: bool  # put through to a person
    task_made: bool
    voicemail: bool


@dataclass(frozen=True)
class ResidentHistory:
    resident: ResidentDetails
    own_plan: PlanLine | None  # the plan staff set, if any
    plan_today: PlanLine | None  # the plan that applies today (own or default), when rules were given
    since: datetime
    checkins: tuple[CheckinLine, ...]  # newest first, here and below
    readings: tuple[ReadingLine, ...]
    tasks: tuple[TaskLine, ...]
    calls: tuple[CallLine, ...]


def resident_in_scope(session: Session, resident_id: int, where: ColumnElement[bool]) -> Resident:
    """The resident, with phones and household loaded, if `where` (a filter on Household) holds them.

    Raises:
        NotFound: no such resident, or not in scope (the same answer, so an id tells nothing).
    """
    resident = session.scalar(
        select(Resident)
        .join(Household, Household.id == Resident.household_id)
        .where(Resident.id == resident_id, where)
        .options(
            selectinload(Resident.phones),
            selectinload(Resident.household).selectinload(Household.residents),
            selectinload(Resident.household).selectinload(Household.community),
            selectinload(Resident.household).selectinload(Household.grid),
            selectinload(Resident.household).selectinload(Household.primary_liaison),
            selectinload(Resident.household).selectinload(Household.backup_liaison),
        )
    )
    if resident is None:
        raise NotFound("resident", str(resident_id))
    return resident


def _liaison(liaison: Liaison | None) -> LiaisonLine | None:
    return None if liaison is None else LiaisonLine(liaison.id, liaison.name, liaison.phone, liaison.active)


def details(resident: Resident) -> ResidentDetails:
    """The plain record of a resident loaded by `resident_in_scope`."""
    household = resident.household
    return ResidentDetails(
        id=resident.id,
        name=resident.name,
        phones=tuple(PhoneLine(p.phone, p.landline) for p in resident.phones),
        language=resident.language,
        channel=str(resident.channel),
        categories=tuple(resident.categories or ()),
        risk=str(resident.risk),
        status=str(resident.status),
        emergency_contact_name=resident.emergency_contact_name,
        emergency_contact_phone=resident.emergency_contact_phone,
        notes=resident.notes or "",
        created_at=resident.created_at,
        updated_at=resident.updated_at,
        household_id=household.id,
        community=household.community.name if household.community else None,
        building=household.building,
        unit=household.unit,
        room=household.room,
        address=describe_address(household),
        grid=household.grid.name if household.grid else None,
        grid_leader=household.grid.leader_name if household.grid else None,
        liaison=_liaison(household.primary_liaison),
        backup_liaison=_liaison(household.backup_liaison),
        housemates=tuple((r.id, r.name) for r in household.residents if r.id != resident.id),
    )


def _own_plan(plan: CheckinPlan | None) -> PlanLine | None:
    if plan is None:
        return None
    return PlanLine(
        True, tuple(plan.times), plan.channel, plan.starts_on, plan.ends_on, plan.note, plan.updated_by, plan.updated_at
    )


def resident_history(
    session: Session,
    resident_id: int,
    where: ColumnElement[bool],
    now: datetime,
    days: int = HISTORY_DAYS,
    *,
    rules: CheckinRules | None = None,
) -> ResidentHistory:
    """A resident and their last `days` days up to `now`: check-ins and their outcome, temperature readings,
    tasks (their own, and their household's from a shared number), and calls both ways. With `rules`, also the
    check-in plan that applies today.

    Raises:
        NotFound: no such resident, or not in `where` (a filter on Household).
    """
    resident = resident_in_scope(session, resident_id, where)
    record = details(resident)
    since = now - timedelta(days=days)
    own = session.scalar(select(CheckinPlan).where(CheckinPlan.resident_id == resident_id))
    plan_today = None
    if rules is not None:
        zone = rules.zone(resident.household.community.timezone if resident.household.community else None)
        phones = resident.phones
        plan = plan_for_day(
            rules,
            now.astimezone(zone).date(),
            categories=list(resident.categories or []),
            channel=resident.channel,
            landline=phones[0].landline if phones else None,
            registered_on=resident.created_at.astimezone(zone).date(),
            own=own,
        )
        plan_today = PlanLine(plan.own, tuple(t.strftime("%H:%M") for t in plan.times), plan.channel)
    checkins = session.scalars(
        select(Checkin)
        .where(Checkin.resident_id == resident_id, Checkin.due_at >= since, Checkin.due_at <= now)
        .order_by(Checkin.due_at.desc(), Checkin.id.desc())
    ).all()
    readings = session.scalars(
        select(TemperatureReading)
        .where(TemperatureReading.resident_id == resident_id, TemperatureReading.at >= since)
        .order_by(TemperatureReading.at.desc())
    ).all()
    household_need = and_(Task.resident_id.is_(None), Task.household_id == record.household_id)
    tasks = session.scalars(
        select(Task)
        .where(or_(Task.resident_id == resident_id, household_need), Task.created_at >= since)
        .options(selectinload(Task.assignee))
        .order_by(Task.created_at.desc(), Task.id.desc())
    ).all()
    return ResidentHistory(
        resident=record,
        own_plan=_own_plan(own),
        plan_today=plan_today,
        since=since,
        checkins=tuple(
            CheckinLine(
                c.id,
                c.local_date,
                c.slot,
                c.channel,
                str(c.status),
                c.rung,
                c.due_at,
                c.sent_at,
                c.answered_at,
                c.calls_placed,
                c.last_call_result,
                c.visit_task_id,
            )
            for c in checkins
        ),
        readings=tuple(ReadingLine(r.at, r.celsius) for r in readings),
        tasks=tuple(
            TaskLine(
                t.id,
                str(t.category),
                str(t.priority),
                str(t.status),
                t.created_at,
                t.assignee.name if t.assignee else None,
                t.resident_id is None,
            )
            for t in tasks
        ),
        calls=tuple(_calls(session, resident_id, record, since)),
    )


def _calls(session: Session, resident_id: int, record: ResidentDetails, since: datetime) -> list[CallLine]:
    """Calls both ways, newest first. A placed call that was answered has a `calls` row too (same SID): it is
    shown once, with what that row knows (duration, put through)."""
    numbers = [p.phone for p in record.phones]
    own_checkins = select(Checkin.id).where(Checkin.resident_id == resident_id)
    placed = session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.kind.in_(CALL_KINDS),
            OutboundMessage.created_at >= since,
            or_(OutboundMessage.checkin_id.in_(own_checkins), OutboundMessage.to_phone.in_(numbers)),
        )
        .order_by(OutboundMessage.id)
    ).all()
    household_call = and_(Call.resident_id.is_(None), Call.household_id == record.household_id)
    rows = session.scalars(
        select(Call).where(or_(Call.resident_id == resident_id, household_call), Call.started_at >= since)
    ).all()
    by_sid = {row.call_sid: row for row in rows}
    lines = []
    for message in placed:
        row = by_sid.pop(message.provider_sid, None) if message.provider_sid else None
        lines.append(
            CallLine(
                at=message.sent_at or message.created_at,
                direction="out",
                kind="checkin" if message.kind == "checkin" else "message",
                outcome=message.call_result or (row.status if row else None) or str(message.status),
                duration_seconds=row.duration_seconds if row else None,
                connected=bool(row and row.connected),
                task_made=bool(row and row.task_made),
                voicemail=False,
            )
        )
    for row in by_sid.values():
        lines.append(
            CallLine(
                at=row.started_at,
                direction="in" if row.direction == "inbound" else "out",
                kind="hotline" if row.direction == "inbound" else "checkin",
                outcome=row.status,
                duration_seconds=row.duration_seconds,
                connected=row.connected,
                task_made=row.task_made,
                voicemail=row.voicemail,
            )
        )
    lines.sort(key=lambda line: line.at, reverse=True)
    return lines
