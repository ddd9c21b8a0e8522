"""Staff setting a resident away (in hospital, with family, travelling, other) until a return date, and ending it
early; the absences as the resident's page, the API and the board show them.

An absence is a pause with a reason and a return date: while it runs the resident's status is PAUSED, so no
check-in is made or sent for them and nothing of theirs climbs the missed check-in ladder (today's check-ins still
waiting are skipped when it starts). A pause without an absence (the status field set to paused by hand) is
open-ended and unchanged; setting an absence on a paused resident gives that pause a reason and a return date.
The return date ends it by itself (`dispatch.checkins.returns`); staff may end it early (no welcome-back call: they
know the resident is back), and changing the status by hand ends it too.

`tell_family` records staff's choice to tell the care circle of a hospital stay (on unless staff turn it off;
always off for the other reasons); this module stores it and tells nobody. Each change records one audit entry
("away", "away_end") in the caller's transaction. The request that set an absence carries a key (the form's, or
the API's Idempotency-Key): the same key finds it again and changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.care_circle import queue_for_circle
from dispatch.checkins.returns import end_running
from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import InvalidAction
from dispatch.models import (
    CHECKIN_WAITING,
    Absence,
    AbsenceEnd,
    AbsenceReason,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Community,
    Grid,
    Household,
    Resident,
    ResidentStatus,
)
from dispatch.register.csv_read import CONTROL_CHARACTERS
from dispatch.register.edit import EditRefused, FieldProblem
from dispatch.register.history import resident_in_scope
from dispatch.texts import MessageCatalog

NOTE_LIMIT = 500
KEY_LIMIT = 64
MAX_DAYS = 366  # a return date further than this is a typing mistake (a year typed wrong)
HISTORY = 10  # past absences the resident's page shows
BOARD_LIMIT = 200


@dataclass(frozen=True)
class AbsenceLine:
    """One absence in words a page or the API can use."""

    id: int
    reason: str
    note: str
    starts_on: date
    return_on: date
    tell_family: bool
    set_by: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    return_call: str
    return_task_id: int | None


@dataclass(frozen=True)
class Away:
    """A resident's running absence (None: not away) and their last ones."""

    current: AbsenceLine | None
    past: tuple[AbsenceLine, ...]


@dataclass(frozen=True)
class AwayResident:
    """One resident away, as the board lists them."""

    resident_id: int
    name: str
    community: str
    grid: str
    reason: str
    starts_on: date
    return_on: date
    tell_family: bool


@dataclass(frozen=True)
class AbsenceSet:
    """What a request did: `created` a new absence, `changed` the running one, or neither (found as it was)."""

    absence_id: int
    created: bool
    changed: bool
    sends: tuple[int, ...] = ()  # SMS queued to the care circle (a hospital stay), for the caller to hand over


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def local_today(rules: CheckinRules, resident: Resident, now: datetime) -> date:
    """Today where the resident lives."""
    community = resident.household.community
    return now.astimezone(rules.zone(community.timezone if community else None)).date()


def _checked(
    reason: object, note: object, return_on: object, today: date
) -> tuple[AbsenceReason, str, date] | list[FieldProblem]:
    problems: list[FieldProblem] = []
    if reason not in tuple(AbsenceReason):
        problems.append(FieldProblem("reason", "bad_choice", f"must be one of {', '.join(AbsenceReason)}"))
    text = note.strip() if isinstance(note, str) else ""
    if len(text) > NOTE_LIMIT:
        problems.append(FieldProblem("note", "too_long", f"is longer than {NOTE_LIMIT} characters"))
    elif CONTROL_CHARACTERS.search(text):
        problems.append(FieldProblem("note", "control", "contains control characters: type it again"))
    day: date | None = return_on if isinstance(return_on, date) else None
    raw = return_on.strip() if isinstance(return_on, str) else ""
    if day is None and not raw:
        problems.append(FieldProblem("return_on", "required", "give the day they are expected back, e.g. 2030-03-04"))
    elif day is None:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            problems.append(FieldProblem("return_on", "bad_date", f"{raw[:20]!r} is not a date such as 2030-03-04"))
    if day is not None and day <= today:
        problems.append(FieldProblem("return_on", "date_past", "must be after today: check-ins resume on that day"))
    elif day is not None and day > today + timedelta(days=MAX_DAYS):
        problems.append(FieldProblem("return_on", "too_far", f"is more than {MAX_DAYS} days away: check the year"))
    if problems or day is None:
        return problems
    return AbsenceReason(str(reason)), text, day


def set_absence(
    session: Session,
    rules: CheckinRules,
    resident_id: int,
    *,
    reason: object,
    note: object,
    return_on: object,
    tell_family: bool | None,
    request_key: str,
    actor: Actor,
    where: ColumnElement[bool],
    now: datetime,
    catalog: MessageCatalog | None = None,
) -> AbsenceSet:
    """Set the resident away until `return_on` (a local day after today), or change the running absence. A
    hospital stay whose `tell_family` is on tells the resident's care circle once (with `catalog`: the SMS are
    queued, and their ids returned for the caller to hand over after commit).

    Raises:
        NotFound: the resident is not in `where`.
        EditRefused: a bad reason, note or return date (each named); nothing changed.
        InvalidAction: a bad key, a key used before for another resident, a resident opted out or moved away.
    """
    key = request_key.strip()
    if not key or len(key) > KEY_LIMIT:
        raise InvalidAction(f"a request key needs 1 to {KEY_LIMIT} characters", "request_key")
    resident = resident_in_scope(session, resident_id, where)  # first: a key tells nothing outside the scope
    session.execute(select(Resident.id).where(Resident.id == resident.id).with_for_update(key_share=True))
    checked = _checked(reason, note, return_on, local_today(rules, resident, now))
    if isinstance(checked, list):
        raise EditRefused(checked)
    why, text, day = checked
    tell = why == AbsenceReason.HOSPITAL and tell_family is not False  # a hospital stay's, on unless said off
    stored = _digest(actor.audit_ref, key)
    found = session.scalar(select(Absence).where(Absence.request_key == stored))
    if found is not None:
        if found.resident_id != resident.id:
            raise InvalidAction("this request key was used for another resident; use a new key", "away_key_reused")
        return AbsenceSet(found.id, False, False)
    if resident.status not in (ResidentStatus.ACTIVE, ResidentStatus.PAUSED):
        raise InvalidAction(f"the resident is {resident.status}: they are not contacted anyway", "away_not_contacted")
    running = session.scalar(
        select(Absence).where(Absence.resident_id == resident.id, Absence.ended_at.is_(None)).with_for_update()
    )
    if running is not None:
        if (running.reason, running.note, running.return_on, running.tell_family) == (why, text, day, tell):
            return AbsenceSet(running.id, False, False)
        running.reason, running.note, running.return_on, running.tell_family = why, text, day, tell
        audit.record(session, actor, "away", "resident", resident.id, f"{why}; return_on={day}", at=now)
        return AbsenceSet(running.id, False, True, _tell_circle(session, resident, running, catalog))
    absence = Absence(
        resident_id=resident.id,
        reason=why,
        note=text,
        starts_on=local_today(rules, resident, now),
        return_on=day,
        tell_family=tell,
        set_by=actor.audit_ref[:64],
        set_by_name=actor.audit_name[:100],
        created_at=now,
        request_key=stored,
    )
    session.add(absence)
    resident.status = ResidentStatus.PAUSED
    _skip_waiting(session, resident.id, now)
    audit.record(session, actor, "away", "resident", resident.id, f"{why}; return_on={day}", at=now)
    session.flush()
    return AbsenceSet(absence.id, True, True, _tell_circle(session, resident, absence, catalog))


def _tell_circle(
    session: Session, resident: Resident, absence: Absence, catalog: MessageCatalog | None
) -> tuple[int, ...]:
    """A hospital stay staff chose to tell the family of: one SMS (or call, as the contact is told) to each
    reachable contact of the care circle, once per absence (a changed return date tells nobody again: the dedupe key
    is the absence's)."""
    if catalog is None or not absence.tell_family or absence.reason != AbsenceReason.HOSPITAL:
        return ()
    dedupe = f"absence:{absence.id}:hospital"
    return tuple(queue_for_circle(session, resident, "circle_hospital", catalog, dedupe, return_on=absence.return_on))


def _skip_waiting(session: Session, resident_id: int, now: datetime) -> None:
    """Today's check-ins of the resident not yet answered are skipped: nothing of theirs goes or climbs now."""
    waiting = list(
        session.scalars(
            select(Checkin.id)
            .where(
                Checkin.resident_id == resident_id,
                Checkin.status.in_((CheckinStatus.SCHEDULED, *CHECKIN_WAITING)),
            )
            .with_for_update()
        )
    )
    if not waiting:
        return
    session.execute(
        update(Checkin)
        .where(Checkin.id.in_(waiting))
        .values(status=CheckinStatus.SKIPPED, next_call_at=None)
        .execution_options(synchronize_session=False)
    )
    session.add_all(CheckinEvent(checkin_id=i, kind="skipped", at=now, detail="away") for i in waiting)


def end_absence(
    session: Session, resident_id: int, *, actor: Actor, where: ColumnElement[bool], now: datetime
) -> int | None:
    """End the resident's absence now (back early): active again, check-ins resume. Nothing running (ended
    already, a second click): None, and nothing is recorded.

    Raises:
        NotFound: the resident is not in `where`.
    """
    resident = resident_in_scope(session, resident_id, where)
    session.execute(select(Resident.id).where(Resident.id == resident.id).with_for_update(key_share=True))
    ended = end_running(session, resident, now, AbsenceEnd.EARLY, actor.audit_name)
    if ended is None:
        return None
    audit.record(session, actor, "away_end", "resident", resident.id, f"return_on={ended.return_on}", at=now)
    return ended.id


def _line(row: Absence) -> AbsenceLine:
    return AbsenceLine(
        id=row.id,
        reason=str(row.reason),
        note=row.note,
        starts_on=row.starts_on,
        return_on=row.return_on,
        tell_family=row.tell_family,
        set_by=row.set_by_name or row.set_by,
        created_at=row.created_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        end_reason=str(row.end_reason) if row.end_reason else None,
        return_call=str(row.return_call),
        return_task_id=row.return_task_id,
    )


def away_of(session: Session, resident_id: int) -> Away:
    """The resident's running absence and their last HISTORY ones (call after checking the scope)."""
    rows = session.scalars(
        select(Absence).where(Absence.resident_id == resident_id).order_by(Absence.id.desc()).limit(HISTORY + 1)
    ).all()
    current = next((_line(r) for r in rows if r.ended_at is None), None)
    past = tuple(_line(r) for r in rows if r.ended_at is not None)[:HISTORY]
    return Away(current, past)


def away_residents(session: Session, where: ColumnElement[bool]) -> list[AwayResident]:
    """Residents in `where` (a filter on Household) away now, those back soonest first."""
    rows = session.execute(
        select(
            Absence,
            Resident.name,
            Community.name.label("community"),
            Grid.name.label("grid"),
        )
        .join(Resident, Resident.id == Absence.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .where(Absence.ended_at.is_(None), where)
        .order_by(Absence.return_on, Resident.name, Absence.id)
        .limit(BOARD_LIMIT)
    ).all()
    return [
        AwayResident(
            resident_id=absence.resident_id,
            name=name,
            community=community or "-",
            grid=grid or "-",
            reason=str(absence.reason),
            starts_on=absence.starts_on,
            return_on=absence.return_on,
            tell_family=absence.tell_family,
        )
        for absence, name, community, grid in rows
    ]
