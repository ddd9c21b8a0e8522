"""Residents back from an absence: the return date ends it, and a welcome-back check-in call goes that day.

The check-in tick runs `returns_due` before it makes the day. An absence whose return date has come where the
resident lives is ended by a conditional UPDATE (`ended_at IS NULL`), so two schedulers or a repeated job end it
once; the resident is active again (if still paused), and the day's check-ins are made for them as usual. Its
welcome-back call waits for the first moment outside quiet hours: the absence's row is locked (SKIP LOCKED) and
its `return_call` moves from due to placed in the same transaction as the call is decided, on a check-in of its
own (slot "back", unique per resident and day; the call's dedupe key `checkin:<id>:call:1`), so it is placed once.
A resident without a phone gets a visit task instead. Staff ending an absence early (`end_running`) place no call.

An unanswered welcome-back call climbs the missed check-in ladder's last rung: its visit is due as the day's other
check-ins' are (`CheckinRules.call_visit_time`). The day's own check-in covers it when there is one: if that is
answered after the call, or still on its way up its own ladder, the call's check-in needs no visit of its own
(`dispatch.checkins.missed_checkin_ladder`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.checkins.checkin_calls import place_call
from dispatch.checkins.plans import first_phones
from dispatch.checkins.rules import BACK_SLOT
from dispatch.context import DispatchContext
from dispatch.db import insert_skipping_duplicates
from dispatch.models import (
    Absence,
    AbsenceEnd,
    Channel,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Community,
    Household,
    Resident,
    ResidentStatus,
    ReturnCall,
    TaskCategory,
    TaskPriority,
)
from dispatch.tasks import lifecycle

LIMIT = 500


@dataclass
class Returned:
    """What one pass did: absences ended, calls and visits decided, and the outbox rows to hand over (the calls
    as a campaign, on the check-in queue; a visit task's offers each on its own)."""

    ended: int = 0
    called: int = 0
    visits: int = 0
    calls: list[int] = field(default_factory=list)
    sends: list[int] = field(default_factory=list)


def end_running(session: Session, resident: Resident, now: datetime, how: AbsenceEnd, by: str) -> Absence | None:
    """End the resident's running absence, if any, without a welcome-back call (staff ended it, or changed the
    status); the resident is active again if the absence had them paused and `how` is not a change of status."""
    running = session.scalar(
        select(Absence).where(Absence.resident_id == resident.id, Absence.ended_at.is_(None)).with_for_update()
    )
    if running is None:
        return None
    running.ended_at, running.ended_by, running.end_reason = now, by[:100], how
    running.return_call = ReturnCall.NONE
    if how != AbsenceEnd.STATUS and resident.status == ResidentStatus.PAUSED:
        resident.status = ResidentStatus.ACTIVE
    return running


def returns_due(session: Session, now: datetime, context: DispatchContext) -> Returned:
    """End the absences whose return date has come where the resident lives, and place the welcome-back calls due
    (not in quiet hours). Safe to run from several schedulers at once, and again."""
    rules, result = context.checkin, Returned()
    latest = (now + timedelta(days=1)).date()  # no timezone is a day ahead of UTC: the candidates
    rows = session.execute(
        select(Absence.id, Absence.resident_id, Absence.return_on, Community.timezone)
        .join(Resident, Resident.id == Absence.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(Absence.ended_at.is_(None), Absence.return_on <= latest)
        .order_by(Absence.id)
        .limit(LIMIT)
    ).all()
    for row in rows:
        if row.return_on > now.astimezone(rules.zone(row.timezone)).date():
            continue
        ended = session.execute(
            update(Absence)
            .where(Absence.id == row.id, Absence.ended_at.is_(None))
            .values(ended_at=now, ended_by="system", end_reason=AbsenceEnd.RETURNED, return_call=ReturnCall.DUE)
            .execution_options(synchronize_session=False)
        )
        if ended.rowcount == 1:  # type: ignore[attr-defined]
            result.ended += 1
            session.execute(
                update(Resident)
                .where(Resident.id == row.resident_id, Resident.status == ResidentStatus.PAUSED)
                .values(status=ResidentStatus.ACTIVE, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    due = session.scalars(
        select(Absence)
        .where(Absence.return_call == ReturnCall.DUE)
        .order_by(Absence.id)
        .limit(LIMIT)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for absence in due:
        resident = session.get(Resident, absence.resident_id, populate_existing=True)
        assert resident is not None
        community = resident.household.community
        if rules.is_quiet(now, rules.zone(community.timezone if community else None)):
            continue  # the first tick after quiet hours places it
        if resident.status != ResidentStatus.ACTIVE:  # opted out or moved away meanwhile: nobody to welcome
            absence.return_call = ReturnCall.NONE
            continue
        _welcome_back(session, absence, resident, now, context, result)
    return result


def _welcome_back(
    session: Session, absence: Absence, resident: Resident, now: datetime, context: DispatchContext, result: Returned
) -> None:
    """The welcome-back check-in call, or a visit task for a resident without a phone."""
    rules = context.checkin
    household = resident.household
    community = household.community
    phone = first_phones(session, [resident.id]).get(resident.id)
    if phone is None:
        task = lifecycle.create_task(
            session,
            household,
            resident,
            TaskCategory.VISIT,
            TaskPriority.NORMAL,
            description=context.catalog.render("away_back_visit", context.staff_language),
            actor="system",
            channel="system",
            now=now,
            why=f"absence:{absence.id} back",
        )
        result.sends += lifecycle.put_in_play(session, task, now, context, community)
        absence.return_call, absence.return_task_id = ReturnCall.VISIT, task.id
        result.visits += 1
        return
    zone = rules.zone(community.timezone if community else None)
    day = now.astimezone(zone).date()
    session.execute(
        insert_skipping_duplicates(session, Checkin),
        [
            {
                "resident_id": resident.id,
                "household_id": household.id,
                "local_date": day,
                "slot": BACK_SLOT,
                "channel": Channel.VOICE,
                "phone": phone[0],
                "language": resident.language,
                "due_at": now,
                "status": CheckinStatus.SENT,
                "sent_at": now,
                "visit_at": rules.call_visit_time(now, zone),
                "rung": 0,
                "calls_placed": 0,
                "calls_left": 1 + rules.call_retries,
                "created_at": now,
            }
        ],
    )
    checkin = session.scalar(
        select(Checkin)
        .where(Checkin.resident_id == resident.id, Checkin.local_date == day, Checkin.slot == BACK_SLOT)
        .execution_options(populate_existing=True)
    )
    assert checkin is not None
    absence.return_call, absence.return_checkin_id = ReturnCall.PLACED, checkin.id
    if checkin.calls_placed:  # placed already (it cannot be, with the absence's lock; but never twice)
        return
    session.add(CheckinEvent(checkin=checkin, kind="welcome_back", at=now, detail=f"absence:{absence.id}"))
    result.calls += place_call(session, checkin, now, context)
    result.called += 1
