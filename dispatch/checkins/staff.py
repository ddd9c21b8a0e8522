"""Calls staff ask for (设计卡: staff trigger outbound check-in calls): one resident, or a set in one action:
everyone not reached today, a building, a grid, a category. Each becomes a check-in call, rate-limited like all
calls. A resident whose check-in today is still waiting gets one more call on it; anyone else gets a check-in of
its own (slot "staff-HH:MM"), so a second request in the same minute calls nobody twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.checkins.ladder import call_on_its_way, place_call
from dispatch.checkins.plans import first_phones
from dispatch.checkins.report import coverage
from dispatch.context import DispatchContext
from dispatch.db import insert_skipping_duplicates
from dispatch.models import (
    Channel,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Community,
    Grid,
    Household,
    Resident,
    ResidentStatus,
)


@dataclass(frozen=True)
class Selection:
    """Which residents to call. Every filter given must hold; none given selects nobody (never "everyone")."""

    resident_ids: tuple[int, ...] = ()
    not_reached_today: bool = False
    community: str | None = None
    grid: str | None = None
    building: str | None = None
    category: str | None = None

    @property
    def empty(self) -> bool:
        """True if no filter was given."""
        return not (self.resident_ids or self.not_reached_today or self.community or self.grid or self.building
                    or self.category)  # fmt: skip


@dataclass
class StaffCalls:
    """What one request did."""

    outbound_ids: list[int] = field(default_factory=list)
    called: list[int] = field(default_factory=list)  # resident ids
    skipped: dict[int, str] = field(default_factory=dict)  # resident id → why not


def select_residents(session: Session, selection: Selection, now: datetime, context: DispatchContext) -> list[int]:
    """The active residents the selection names, by id."""
    if selection.empty:
        return []
    query = (
        select(Resident.id, Resident.categories)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .where(Resident.status == ResidentStatus.ACTIVE)
    )
    if selection.resident_ids:
        query = query.where(Resident.id.in_(selection.resident_ids))
    if selection.community:
        query = query.where(Community.name == selection.community)
    if selection.grid:
        query = query.where(Grid.name == selection.grid)
    if selection.building:
        query = query.where(Household.building == selection.building)
    ids = [row.id for row in session.execute(query) if not selection.category or selection.category in row.categories]
    if selection.not_reached_today:
        day = now.astimezone(context.checkin.timezone).date()
        waiting = {r.resident_id for r in coverage(session, day, now).residents
                   if r.standing in ("not_reached", "visit_pending")}  # fmt: skip
        ids = [i for i in ids if i in waiting]
    return sorted(ids)


def call_residents(
    session: Session, resident_ids: list[int], now: datetime, context: DispatchContext, actor: str
) -> StaffCalls:
    """Decide a check-in call to each resident. Residents without a number, or in quiet hours, are skipped."""
    rules, result = context.checkin, StaffCalls()
    phones = first_phones(session, resident_ids)
    for resident_id in resident_ids:
        resident = session.get(Resident, resident_id)
        if resident is None or resident.status != ResidentStatus.ACTIVE:
            result.skipped[resident_id] = "not active"
            continue
        community = resident.household.community
        zone = rules.zone(community.timezone if community else None)
        if resident_id not in phones:
            result.skipped[resident_id] = "no phone"
            continue
        if rules.is_quiet(now, zone):
            result.skipped[resident_id] = "quiet hours"
            continue
        local = now.astimezone(zone)
        checkin = session.scalar(
            select(Checkin)
            .where(Checkin.resident_id == resident_id, Checkin.local_date == local.date(),
                   Checkin.status == CheckinStatus.SENT)
            .order_by(Checkin.due_at.desc())
            .limit(1)
            .with_for_update()
        )  # fmt: skip
        if checkin is None:
            slot = f"staff-{local:%H:%M}"
            session.execute(
                insert_skipping_duplicates(session, Checkin),
                [{"resident_id": resident_id, "household_id": resident.household_id, "local_date": local.date(),
                  "slot": slot, "channel": Channel.VOICE, "phone": phones[resident_id][0],
                  "language": resident.language, "due_at": now, "status": CheckinStatus.SENT, "sent_at": now,
                  "rung": 0, "calls_placed": 0, "calls_left": 0, "created_at": now}],
            )  # fmt: skip
            checkin = session.scalar(
                select(Checkin).where(Checkin.resident_id == resident_id, Checkin.local_date == local.date(),
                                      Checkin.slot == slot)
            )  # fmt: skip
            assert checkin is not None
            if checkin.calls_placed:
                result.skipped[resident_id] = "called this minute already"
                continue
        elif call_on_its_way(session, checkin, now - rules.call_retry):
            result.skipped[resident_id] = "a call is on its way"
            continue
        checkin.calls_left = max(checkin.calls_left, 0) + 1 + (rules.call_retries if checkin.calls_placed == 0 else 0)
        session.add(CheckinEvent(checkin=checkin, kind="staff_call", at=now, detail=actor[:64]))
        result.outbound_ids += place_call(session, checkin, now, context)
        result.called.append(resident_id)
    return result
