"""Which liaisons serve a resident's household: those a member of staff may assign, and setting the primary and
backup liaison (checked first, one audit entry, like every edit of a resident)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, True_, not_, or_, select, true
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.models import Household, Liaison
from dispatch.register.edit import EditRefused, FieldProblem
from dispatch.register.history import resident_in_scope


def liaison_scope(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The liaisons staff with `where` (a filter on Household) may assign: those of a grid they see, those who
    already serve a household they see, and those of no grid who serve no household outside it (not yet placed
    anywhere). Admins: every one."""
    if isinstance(where, True_):
        return where
    grids = select(Household.grid_id).where(where, Household.grid_id.is_not(None))
    primaries = select(Household.primary_liaison_id).where(where, Household.primary_liaison_id.is_not(None))
    backups = select(Household.backup_liaison_id).where(where, Household.backup_liaison_id.is_not(None))
    elsewhere = select(Household.primary_liaison_id).where(not_(where), Household.primary_liaison_id.is_not(None))
    elsewhere_backup = select(Household.backup_liaison_id).where(not_(where), Household.backup_liaison_id.is_not(None))
    unplaced = Liaison.grid_id.is_(None) & Liaison.id.not_in(elsewhere) & Liaison.id.not_in(elsewhere_backup)
    return or_(unplaced, Liaison.grid_id.in_(grids), Liaison.id.in_(primaries), Liaison.id.in_(backups))


def liaisons_by_phone(session: Session, where: ColumnElement[bool] | None) -> dict[str, Liaison]:
    """Liaisons by phone, for an import. Staff with a scope may name only those they could assign by hand."""
    query = select(Liaison).where(true() if where is None else liaison_scope(where), Liaison.phone.is_not(None))
    return {str(liaison.phone): liaison for liaison in session.scalars(query)}


def assignable_liaisons(session: Session, where: ColumnElement[bool]) -> list[Liaison]:
    """Active liaisons in `liaison_scope(where)`, by name."""
    return list(
        session.scalars(select(Liaison).where(Liaison.active, liaison_scope(where)).order_by(Liaison.name, Liaison.id))
    )


def set_liaisons(
    session: Session,
    resident_id: int,
    *,
    primary_id: int | None,
    backup_id: int | None,
    actor: Actor,
    where: ColumnElement[bool],
) -> None:
    """Set the primary and backup liaison of the resident's household (every resident at the address shares
    them). None removes one; a backup needs a primary. A liaison left where they are is not checked again (an
    inactive one can still be kept while the rest of the form is saved; `hotline assign` lists them).

    Raises:
        NotFound: no such resident in `where`.
        EditRefused: a liaison who is inactive, not assignable by this staff member, the same for both, or who
            lives in the household; nothing was changed.
    """
    resident = resident_in_scope(session, resident_id, where)
    household = resident.household
    problems = []
    chosen: dict[str, Liaison | None] = {}
    numbers = {p.phone for r in household.residents for p in r.phones}
    for field, liaison_id in (("primary_liaison", primary_id), ("backup_liaison", backup_id)):
        liaison = None
        if liaison_id is not None and liaison_id == getattr(household, f"{field}_id"):
            liaison = getattr(household, field)  # kept where they are: checked when they were chosen
        elif liaison_id is not None:
            liaison = session.scalar(
                select(Liaison).where(Liaison.id == liaison_id, Liaison.active, liaison_scope(where))
            )
            if liaison is None:
                problems.append(
                    FieldProblem(field, "not_assignable", f"{liaison_id} is not an active liaison you may assign")
                )
            elif liaison.phone in numbers:
                problems.append(FieldProblem(field, "own_household", f"{liaison.name} lives in this household"))
        chosen[field] = liaison
    if primary_id is not None and primary_id == backup_id:
        problems.append(FieldProblem("backup_liaison", "same_liaison", "must be someone other than the primary"))
    if backup_id is not None and primary_id is None:
        problems.append(FieldProblem("primary_liaison", "required", "choose a primary liaison before a backup"))
    if problems:
        raise EditRefused(problems)
    changed = []
    if household.primary_liaison_id != primary_id:
        household.primary_liaison = chosen["primary_liaison"]
        changed.append("primary_liaison")
    if household.backup_liaison_id != backup_id:
        household.backup_liaison = chosen["backup_liaison"]
        changed.append("backup_liaison")
    if changed:
        audit.record(session, actor, "edit", "resident", resident.id, ", ".join(changed))
        session.flush()
