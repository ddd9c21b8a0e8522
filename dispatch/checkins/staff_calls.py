"""Calls staff ask for (设计卡: staff trigger outbound check-in calls): one resident, or a set in one action:
everyone not reached today, a building, a grid, a category. Each becomes a check-in call, rate-limited like all
calls. A resident whose check-in today is still waiting gets one more call on it; anyone else gets a check-in of
its own (slot "staff-HH:MM"), so a second request in the same minute calls nobody twice.

Every selection is made within a staff member's scope (`where`, from `dispatch.staff_accounts.household_scope`): a clerk
can never call outside their community, whatever ids or names the request carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, false, func, not_, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.checkins.checkin_calls import call_on_its_way, place_call
from dispatch.checkins.plans import first_phones
from dispatch.checkins.report import coverage
from dispatch.context import DispatchContext
from dispatch.db import insert_skipping_duplicates
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import (
    Channel,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Community,
    Grid,
    Household,
    Resident,
    ResidentCategory,
    ResidentStatus,
)
from dispatch.progress import QUIET, Progress, counted
from dispatch.staff_accounts import Principal


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
        return not (
            self.resident_ids or self.not_reached_today or self.community or self.grid or self.building or self.category
        )


@dataclass
class StaffCalls:
    """What one request did."""

    outbound_ids: list[int] = field(default_factory=list)
    called: list[int] = field(default_factory=list)  # resident ids
    skipped: dict[int, str] = field(default_factory=dict)  # resident id → why not


def select_residents(
    session: Session, selection: Selection, now: datetime, context: DispatchContext, *, where: ColumnElement[bool]
) -> list[int]:
    """The active residents the selection names, by id, among the households `where` admits."""
    if selection.empty:
        return []
    query = (
        select(Resident.id, Resident.categories)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .where(Resident.status == ResidentStatus.ACTIVE, where)
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
        waiting = {
            r.resident_id
            for r in coverage(session, day, now, where).residents
            if r.standing in ("not_reached", "visit_pending")
        }
        ids = [i for i in ids if i in waiting]
    return sorted(ids)


def call_residents(
    session: Session,
    resident_ids: list[int],
    now: datetime,
    context: DispatchContext,
    actor: str,
    progress: Progress = QUIET,
) -> StaffCalls:
    """Decide a check-in call to each resident. Residents without a number, or in quiet hours, are skipped.
    `progress` is told of each resident decided (the stage "calls")."""
    rules, result = context.checkin, StaffCalls()
    phones = first_phones(session, resident_ids)
    for resident_id in counted(progress, "calls", resident_ids):
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
            .where(
                Checkin.resident_id == resident_id,
                Checkin.local_date == local.date(),
                Checkin.status == CheckinStatus.SENT,
            )
            .order_by(Checkin.due_at.desc())
            .limit(1)
            .with_for_update()
        )
        if checkin is None:
            slot = f"staff-{local:%H:%M}"
            session.execute(
                insert_skipping_duplicates(session, Checkin),
                [
                    {
                        "resident_id": resident_id,
                        "household_id": resident.household_id,
                        "local_date": local.date(),
                        "slot": slot,
                        "channel": Channel.VOICE,
                        "phone": phones[resident_id][0],
                        "language": resident.language,
                        "due_at": now,
                        "status": CheckinStatus.SENT,
                        "sent_at": now,
                        "rung": 0,
                        "calls_placed": 0,
                        "calls_left": 0,
                        "created_at": now,
                    }
                ],
            )
            checkin = session.scalar(
                select(Checkin).where(
                    Checkin.resident_id == resident_id, Checkin.local_date == local.date(), Checkin.slot == slot
                )
            )
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


@dataclass(frozen=True)
class Someone:
    """A resident as the calls page lists them: no phone number, no health detail."""

    resident_id: int
    name: str
    community: str
    grid: str
    building: str


@dataclass(frozen=True)
class ScopeOptions:
    """What a page may offer within a scope: communities wholly in it (a notice may go to them), grids (id,
    community, grid) and buildings (community id, community, building) with households in it."""

    communities: list[str]
    grids: list[tuple[int, str, str]]
    buildings: list[tuple[int, str, str]]


def residents_in_scope(session: Session, resident_ids: tuple[int, ...], where: ColumnElement[bool]) -> dict[int, str]:
    """Of `resident_ids`, those in scope (of any status), with their status."""
    if not resident_ids:
        return {}
    rows = session.execute(
        select(Resident.id, Resident.status)
        .join(Household, Household.id == Resident.household_id)
        .where(Resident.id.in_(resident_ids), where)
    )
    return {row.id: str(row.status) for row in rows}


def describe(session: Session, resident_ids: list[int], where: ColumnElement[bool]) -> list[Someone]:
    """These residents (in scope) for a page: name and address, by grid and name."""
    if not resident_ids:
        return []
    rows = session.execute(
        select(
            Resident.id, Resident.name, Community.name.label("community"), Grid.name.label("grid"), Household.building
        )
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .where(Resident.id.in_(resident_ids), where)
    )
    found = [Someone(r.id, r.name, r.community or "-", r.grid or "-", r.building or "-") for r in rows]
    return sorted(found, key=lambda s: (s.community, s.grid, s.building, s.name, s.resident_id))


def scope_options(session: Session, where: ColumnElement[bool]) -> ScopeOptions:
    """The communities wholly in scope, and the grids and buildings with households in scope. (A grid is in one
    community, so a scope of a community or a grid holds each of its grids whole.)"""
    outside = select(Household.community_id).where(
        not_(func.coalesce(where, false())), Household.community_id.is_not(None)
    )
    communities = session.scalars(
        select(Community.name)
        .where(Community.id.in_(select(Household.community_id).where(where)), Community.id.not_in(outside))
        .order_by(Community.name)
    )
    grids = session.execute(
        select(Grid.id, Community.name, Grid.name)
        .join(Community, Community.id == Grid.community_id)
        .where(Grid.id.in_(select(Household.grid_id).where(where)))
        .order_by(Community.name, Grid.name)
    ).all()
    buildings = session.execute(
        select(Community.id, Community.name, Household.building)
        .join(Community, Community.id == Household.community_id)
        .where(where, Household.building.is_not(None))
        .distinct()
        .order_by(Community.name, Household.building)
    ).all()
    return ScopeOptions(
        list(communities), [(g[0], g[1], g[2]) for g in grids], [(b[0], b[1], b[2] or "") for b in buildings]
    )


def scoped_selection(
    session: Session,
    where: ColumnElement[bool],
    *,
    resident_ids: tuple[int, ...] = (),
    not_reached_today: bool = False,
    grid_id: int | None = None,
    building: tuple[int, str] | None = None,
    category: str | None = None,
) -> Selection:
    """A Selection from what a page or the API names by id: a grid by id, a building by (community id, name).

    Raises:
        NotFound: a resident, grid or building that does not exist or is outside the scope (the same answer).
        InvalidAction: an unknown category, or a grid and a building of different communities.
    """
    known = residents_in_scope(session, resident_ids, where)
    missing = [i for i in resident_ids if i not in known]
    if missing:
        raise NotFound("resident", str(missing[0]))
    communities: set[str] = set()
    grid_name = building_name = None
    if grid_id is not None:
        grid = session.get(Grid, grid_id)
        in_scope = select(Household.id).where(where, Household.grid_id == grid_id).limit(1)
        if grid is None or session.scalar(in_scope) is None:
            raise NotFound("grid", str(grid_id))
        communities.add(grid.community.name)
        grid_name = grid.name
    if building is not None:
        community = session.get(Community, building[0])
        same = (Household.community_id == building[0]) & (Household.building == building[1])
        in_scope = select(Household.id).where(where, same).limit(1)
        if community is None or session.scalar(in_scope) is None:
            raise NotFound("building", building[1])
        communities.add(community.name)
        building_name = building[1]
    if len(communities) > 1:
        raise InvalidAction("the grid and the building are in different communities", "calls_grid_and_building")
    if category is not None and category not in set(ResidentCategory):
        raise InvalidAction(f"unknown category {category!r}", "unknown_category", value=category)
    return Selection(
        tuple(sorted(set(resident_ids))),
        not_reached_today,
        next(iter(communities), None),
        grid_name,
        building_name,
        category,
    )


def describe_selection(selection: Selection) -> str:
    """The filters, for the audit log: names and ids, never a number or a health detail."""
    parts = ["not_reached"] if selection.not_reached_today else []
    for name in ("community", "grid", "building", "category"):
        value = getattr(selection, name)
        if value:
            parts.append(f"{name}={value}")
    if selection.resident_ids:
        parts.append("residents=" + ",".join(str(i) for i in selection.resident_ids[:20]))
    return " ".join(parts)


def place_staff_calls(
    session: Session,
    selection: Selection,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> StaffCalls:
    """Select within the scope, decide the calls, and record one audit entry ("call"), in the caller's
    transaction; the caller queues `outbound_ids` after the commit. Residents named by id who are not active
    (paused, opted out, moved away) are listed as skipped rather than dropped without a word."""
    chosen = select_residents(session, selection, now, context, where=where)
    result = call_residents(session, chosen, now, context, actor=actor.audit_ref)
    if selection.resident_ids:
        for resident_id, status in residents_in_scope(session, selection.resident_ids, where).items():
            if status != ResidentStatus.ACTIVE:
                result.skipped[resident_id] = "not active"
    detail = (
        f"{describe_selection(selection)}; selected {len(chosen)}, called {len(result.called)}, "
        f"skipped {len(result.skipped)}"
    )
    audit.record(session, actor, "call", "call", chosen[0] if len(chosen) == 1 else None, detail, at=now)
    return result
