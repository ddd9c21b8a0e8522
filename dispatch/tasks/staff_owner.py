"""A task's staff owner: the staff member following it up ("I'll follow this up"), whoever the liaison is.

A staff member takes a task in scope, gives it to another staff member who can see it, or releases it. The owner
is what "mine" and "unassigned" on the task list read. Each change is a TaskEvent with the owner's name (the
task's history says it in words) and an audit entry. Asking for what is already so (a double click, a retry)
changes nothing and records nothing; a change made from a page that showed another owner than the task has now
is refused, so a late click never takes the task from a colleague who has just taken it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.exceptions import InvalidAction
from dispatch.models import Household, StaffRole, StaffUser, Task, TaskEvent
from dispatch.staff_accounts import Principal
from dispatch.tasks.staff_actions import scoped_task


def who_can_see(household: Household | None) -> ColumnElement[bool]:
    """A filter on StaffUser: active accounts whose scope holds the household (admins only, for no household)."""
    admin = StaffUser.role == StaffRole.ADMIN
    if household is None:
        return and_(StaffUser.active, admin)
    clerk = and_(StaffUser.role == StaffRole.CLERK, StaffUser.community_id == household.community_id)
    leader = and_(
        StaffUser.role == StaffRole.GRID_LEADER,
        StaffUser.grid_id.is_not(None),
        StaffUser.grid_id == household.grid_id,
    )
    return and_(StaffUser.active, or_(admin, clerk, leader))


def possible_owners(session: Session, task_id: int, where: ColumnElement[bool]) -> list[StaffUser]:
    """The staff who may own the task: active accounts that can see it, by name.

    Raises:
        NotFound: the task is not in `where`'s scope.
    """
    task = scoped_task(session, task_id, where)
    query = select(StaffUser).where(who_can_see(task.household)).order_by(StaffUser.display_name, StaffUser.id)
    return list(session.scalars(query))


class _Unchecked(enum.Enum):
    UNCHECKED = "unchecked"


UNCHECKED = _Unchecked.UNCHECKED  # the owner the request saw is not known: no check against it


def set_owner(
    session: Session,
    task_id: int,
    owner_id: int | None,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    seen_owner_id: int | _Unchecked | None = UNCHECKED,
) -> bool:
    """Give the task to staff member `owner_id` (the actor's own id: they take it), or release it (None).

    Args:
        seen_owner_id: the owner the staff member saw on the page (None: nobody). If someone else owns it now, the
            change is refused: a late click never takes a task from a colleague who has just taken it.

    Returns:
        Whether anything changed: False when the task already had that owner (or none, for a release).

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the staff member cannot see the task or is not active, or the owner changed meanwhile.
    """
    task = scoped_task(session, task_id, where, lock=True)
    owner = None
    if owner_id is not None:
        owner = session.scalar(select(StaffUser).where(StaffUser.id == owner_id, who_can_see(task.household)))
        if owner is None:
            raise InvalidAction(f"staff member {owner_id} is not an active account that can see task #{task.id}")
    if task.owner_staff_id == owner_id:
        return False
    if seen_owner_id is not UNCHECKED and task.owner_staff_id != seen_owner_id:
        name = task.owner.display_name if task.owner else "-"
        raise InvalidAction(f"task #{task.id} is now followed up by {name}; nothing was changed")
    if owner is None:
        event = TaskEvent(task=task, kind="owner_released", detail=f"staff:{task.owner_staff_id}")
        audit.record(session, actor, "release", "task", task.id, at=now)
    else:
        taken = owner.audit_ref == actor.audit_ref
        event = TaskEvent(task=task, kind="owner_taken" if taken else "owner_given", detail=owner.audit_ref)
        audit.record(session, actor, "own", "task", task.id, owner.audit_ref, at=now)
    task.owner = owner
    event.actor, event.channel, event.at = actor.audit_ref, _channel(actor), now
    session.add(event)
    task.updated_at = now
    return True


def _channel(actor: Principal) -> str:
    return "api" if actor.audit_ref.startswith("token:") else "console"


def owned_by(owner_id: int | None) -> ColumnElement[bool]:
    """A filter on Task: owned by this staff member; or, for None, by nobody."""
    return Task.owner_staff_id.is_(None) if owner_id is None else Task.owner_staff_id == owner_id
