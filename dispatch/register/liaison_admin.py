"""Staff keeping the liaisons in the console: the list, adding one, changing a name, number or grid, and stopping
one after seeing which households pass to their backups and which are left with no one.

Admins manage every liaison; a clerk those of their own community: placed in one of its grids or, of no grid,
serving one of its households, and in either case serving no household elsewhere. Grid leaders manage none. A
liaison outside the caller's reach is `NotFound`, like one that does not exist. Every change is checked whole
before anything is written (`EditRefused` names each bad field), records one audit entry ("liaison"), and a
repeat of the same request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, not_, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from dispatch import audit
from dispatch.audit import Actor
from dispatch.context import DispatchContext
from dispatch.db import serialise
from dispatch.exceptions import InvalidPhoneNumber, NotFound
from dispatch.models import AuditEntry, Community, Grid, Household, Liaison, LiaisonRole, ResidentStatus, StaffRole
from dispatch.phones import parse_register_phone
from dispatch.register.coverage import Deactivation, deactivate_liaison, plan_deactivation
from dispatch.register.edit import MAX_NAME, EditRefused, FieldProblem
from dispatch.register.people import find_liaison_by_phone
from dispatch.staff_accounts import Principal


def managed_liaisons(principal: Principal) -> ColumnElement[bool]:
    """A filter on Liaison: those this account may manage (see the module's words)."""
    if principal.role == StaffRole.ADMIN:
        return true()
    if principal.role != StaffRole.CLERK or principal.community_id is None:
        return false()
    community = principal.community_id
    own_grids = select(Grid.id).where(Grid.community_id == community)
    here = Household.community_id == community
    elsewhere = or_(Household.community_id.is_(None), Household.community_id != community)

    def serving(where: ColumnElement[bool]) -> ColumnElement[bool]:
        primaries = select(Household.primary_liaison_id).where(where, Household.primary_liaison_id.is_not(None))
        backups = select(Household.backup_liaison_id).where(where, Household.backup_liaison_id.is_not(None))
        return or_(Liaison.id.in_(primaries), Liaison.id.in_(backups))

    placed = or_(Liaison.grid_id.in_(own_grids), Liaison.grid_id.is_(None) & serving(here))
    return placed & not_(serving(elsewhere))


def managed_among(session: Session, principal: Principal, liaison_ids: set[int]) -> set[int]:
    """Those of `liaison_ids` this account may manage (whose details it may open)."""
    if not liaison_ids:
        return set()
    return set(session.scalars(select(Liaison.id).where(Liaison.id.in_(liaison_ids), managed_liaisons(principal))))


def grid_choices(session: Session, principal: Principal) -> list[tuple[int, str]]:
    """The grids this account may place a liaison in, as (id, "community grid"), by name."""
    query = select(Grid.id, Community.name, Grid.name).join(Community).order_by(Community.name, Grid.name)
    if principal.role == StaffRole.CLERK:
        query = query.where(Grid.community_id == principal.community_id)
    elif principal.role != StaffRole.ADMIN:
        query = query.where(false())
    return [(row[0], f"{row[1]} {row[2]}") for row in session.execute(query)]


def list_managed(session: Session, principal: Principal) -> list[Liaison]:
    """The liaisons this account manages, active first, by name, with their grid and its community loaded."""
    query = (
        select(Liaison)
        .where(managed_liaisons(principal))
        .options(selectinload(Liaison.grid).selectinload(Grid.community))
        .order_by(Liaison.active.desc(), Liaison.name, Liaison.id)
    )
    return list(session.scalars(query))


def managed_liaison(session: Session, principal: Principal, liaison_id: int) -> Liaison:
    """One liaison this account manages.

    Raises:
        NotFound: no such liaison, or one outside the account's reach.
    """
    found = session.scalar(select(Liaison).where(Liaison.id == liaison_id, managed_liaisons(principal)))
    if found is None:
        raise NotFound("liaison", str(liaison_id))
    return found


def _stopped_by(session: Session, actor: Actor, liaison_id: int) -> Liaison | None:
    """The liaison this actor stopped, if they did. A clerk's liaison of no grid leaves the clerk's reach once
    they serve no household there; their second click still finds what the first one did."""
    entry = select(AuditEntry.id).where(
        AuditEntry.action == "deactivate",
        AuditEntry.object_kind == "liaison",
        AuditEntry.object_id == liaison_id,
        AuditEntry.actor == actor.audit_ref,
    )
    stopped = session.scalar(select(Liaison).where(Liaison.id == liaison_id, Liaison.id.in_(entry)))
    return stopped if stopped is not None and not stopped.active else None


@dataclass(frozen=True)
class LiaisonForm:
    """What staff typed for a liaison: a name, a number (any usual form) and a grid's id (None: no grid)."""

    name: str
    phone: str
    grid_id: int | None
    role: LiaisonRole = LiaisonRole.VOLUNTEER


def _checked(
    session: Session, principal: Principal, form: LiaisonForm, region: str, liaison_id: int | None
) -> tuple[str, str, Grid | None]:
    """The form's name, E.164 number and grid, or EditRefused naming every bad field."""
    problems: list[FieldProblem] = []
    name = form.name.strip()
    if not name:
        problems.append(FieldProblem("name", "required", "a liaison needs a name"))
    elif len(name) > MAX_NAME:
        problems.append(FieldProblem("name", "too_long", f"at most {MAX_NAME} characters"))
    e164 = ""
    if not form.phone.strip():
        problems.append(FieldProblem("phone", "required", "a liaison needs a mobile number for their SMS"))
    else:
        try:
            e164 = parse_register_phone(form.phone, region).e164
        except InvalidPhoneNumber:
            problems.append(FieldProblem("phone", "bad_phone", "not a valid number of this country"))
        else:
            other = find_liaison_by_phone(session, e164)
            if other is not None and other.id != liaison_id:
                problems.append(FieldProblem("phone", "phone_taken", "another liaison has this number"))
    grid = None
    if form.grid_id is not None:
        grid = session.get(Grid, form.grid_id)
        if grid is None or form.grid_id not in {gid for gid, _ in grid_choices(session, principal)}:
            problems.append(FieldProblem("grid", "not_yours", "not a grid you may place a liaison in"))
    elif principal.role != StaffRole.ADMIN:
        problems.append(FieldProblem("grid", "required", "choose one of your community's grids"))
    if problems:
        raise EditRefused(problems)
    return name, e164, grid


def add_managed_liaison(
    session: Session, principal: Principal, actor: Actor, form: LiaisonForm, region: str
) -> Liaison:
    """Add a liaison. The same name and number again (a second click, or two submits at once: they are serialised,
    and a number another transaction took meanwhile is read again) finds the one already added.

    Raises:
        EditRefused: a missing or long name, a bad or taken number, a grid the account may not use.
    """
    try:
        e164 = parse_register_phone(form.phone, region).e164 if form.phone.strip() else ""
    except InvalidPhoneNumber:
        e164 = ""
    serialise(session, "liaison-add")  # two adds at once: the second waits, then finds the first
    found = _same_liaison(session, principal, form, e164)
    if found is not None:
        return found
    name, e164, grid = _checked(session, principal, form, region, None)
    liaison = Liaison(name=name, phone=e164, role=form.role, grid=grid)
    try:
        with session.begin_nested():
            session.add(liaison)
    except IntegrityError:  # the number was taken since it was checked: a repeat of this add, or refused as taken
        found = _same_liaison(session, principal, form, e164 or "")
        if found is not None:
            return found
        raise EditRefused([FieldProblem("phone", "phone_taken", "another liaison has this number")]) from None
    audit.record(session, actor, "create", "liaison", liaison.id, "name, phone" + (", grid" if grid else ""))
    return liaison


def _same_liaison(session: Session, principal: Principal, form: LiaisonForm, e164: str) -> Liaison | None:
    """The liaison already added with this name, number and grid, within reach; None if there is none."""
    same = find_liaison_by_phone(session, e164) if e164 else None
    if same is None or same.name != form.name.strip() or same.grid_id != form.grid_id:
        return None
    return session.scalar(select(Liaison).where(Liaison.id == same.id, managed_liaisons(principal)))


def update_managed_liaison(
    session: Session, principal: Principal, actor: Actor, liaison_id: int, form: LiaisonForm, region: str
) -> list[str]:
    """Change a liaison's name, number and grid. Returns the fields changed (none: nothing written).

    Raises:
        NotFound: no such liaison within reach.
        EditRefused: as for adding one; nothing was changed.
    """
    liaison = managed_liaison(session, principal, liaison_id)
    name, e164, grid = _checked(session, principal, form, region, liaison.id)
    changed = []
    if liaison.name != name:
        liaison.name = name
        changed.append("name")
    if liaison.phone != e164:
        liaison.phone = e164
        changed.append("phone")
    if liaison.grid_id != (grid.id if grid else None):
        liaison.grid = grid
        changed.append("grid")
    if changed:
        audit.record(session, actor, "edit", "liaison", liaison.id, ", ".join(changed))
        session.flush()
    return changed


def preview_deactivation(
    session: Session, principal: Principal, actor: Actor, liaison_id: int
) -> tuple[Liaison, Deactivation]:
    """The liaison and what stopping them would do to their households; nothing is changed. One this actor
    stopped already is found too (a page brought back).

    Raises:
        NotFound: no such liaison within reach.
    """
    stopped = _stopped_by(session, actor, liaison_id)
    if stopped is not None:
        return stopped, Deactivation()
    liaison = managed_liaison(session, principal, liaison_id)
    return liaison, plan_deactivation(session, liaison)


def deactivate_managed_liaison(
    session: Session,
    principal: Principal,
    actor: Actor,
    liaison_id: int,
    *,
    now: datetime,
    context: DispatchContext,
) -> tuple[Liaison, Deactivation | None]:
    """Stop a liaison: their households pass to their backups, the rest are left uncovered (and shown so), and
    their open errands pass on (`deactivate_liaison`; its `outbound` is for the caller to hand over after the
    commit). Returns what it did; None if they had been stopped already (a second click), when nothing changes.

    Raises:
        NotFound: no such liaison within reach.
    """
    stopped = _stopped_by(session, actor, liaison_id)
    if stopped is not None:
        return stopped, None
    liaison = managed_liaison(session, principal, liaison_id)
    if not liaison.active:
        return liaison, None
    result = deactivate_liaison(session, liaison, actor=actor, now=now, context=context)
    detail = f"to backup {len(result.moved_to_backup)}, uncovered {len(result.uncovered)}"
    audit.record(session, actor, "deactivate", "liaison", liaison.id, detail)
    return liaison, result


def household_names(household: Household) -> str:
    """The household as staff know it: its residents' names (who have not moved away first)."""
    residents = sorted(household.residents, key=lambda r: (r.status == ResidentStatus.MOVED_AWAY, r.id))
    return "、".join(r.name for r in residents) or "-"
