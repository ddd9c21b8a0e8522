"""Who will not make the deadline: the board's section of residents whose day is neither known nor in hand.

By the check-in deadline every resident is known to be fine, has their needs made into tasks, or has someone on
the way. Until then this lists, at any moment, those for whom none of that is true yet: a check-in not answered
whose visit nobody has taken, and words in reply to a check-in that nobody has read (an "other" task not taken),
with the time left. `late` marks those whose remaining ladder can no longer finish before the deadline: the
deadline has passed, or the visit is not offered yet and its rungs' windows no longer fit before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from dispatch.checkins.rules import CheckinRules
from dispatch.models import (
    CHECKIN_WAITING,
    Checkin,
    Grid,
    Household,
    Liaison,
    Resident,
    Task,
    TaskCategory,
    TaskStatus,
)

LIMIT = 200
# Nobody has it in hand yet; done, cancelled and taken tasks are someone's.


@dataclass(frozen=True)
class AtRisk:
    """One resident not yet known nor in hand, and the deadline they are measured against."""

    resident_id: int
    resident: str
    grid: str
    liaison: str  # the household's liaison
    reason: str  # "no_answer": check-in not answered, visit not taken; "unread_reply": an unclear reply not taken
    task_id: int | None  # the visit or the "other" task, once made
    rung: int | None  # how far its ladder has climbed (0 liaison … 3 duty staff)
    deadline: datetime
    minutes_left: int  # negative once the deadline has passed
    late: bool  # the remaining ladder cannot finish before the deadline


def at_risk(
    session: Session, today: date, now: datetime, where: ColumnElement[bool], rules: CheckinRules
) -> list[AtRisk]:
    """Today's residents in `where` (a filter on Household) who are not known and not in hand, late first, then
    by time left."""
    liaison, visit = aliased(Liaison), aliased(Task)
    unanswered = session.execute(
        select(Checkin.visit_at, Resident.id, Resident.name, Grid.name, liaison.name, visit.id, visit.rung)
        .join(Resident, Resident.id == Checkin.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(liaison, liaison.id == Household.primary_liaison_id)
        .outerjoin(visit, visit.id == Checkin.visit_task_id)
        .where(Checkin.local_date == today, Checkin.status.in_(CHECKIN_WAITING), Checkin.visit_at.is_not(None), where)
        .where(visit.id.is_(None) | visit.status.in_(TaskStatus.climbable()))
        .limit(LIMIT)
    ).all()
    found = []
    for visit_at, resident_id, name, grid, liaison_name, task_id, rung in unanswered:
        assert visit_at is not None  # selected so
        deadline = rules.due_by(visit_at)
        offered: bool = task_id is not None  # (an outer join: the visit task may not be made yet)
        # Not offered yet: its windows must still fit between now and the deadline.
        late = now >= deadline or (not offered and now + rules.visit_lead > deadline)
        found.append(_row(resident_id, name, grid, liaison_name, "no_answer", task_id, rung, deadline, now, late))
    unread = session.execute(
        select(Task.id, Task.rung, Task.due_by, Resident.id, Resident.name, Grid.name, liaison.name)
        .join(Household, Household.id == Task.household_id)
        .join(Resident, Resident.id == Task.resident_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(liaison, liaison.id == Household.primary_liaison_id)
        .where(
            Task.category == TaskCategory.OTHER,
            Task.status.in_(TaskStatus.climbable()),
            Task.due_by.is_not(None),
            where,
        )
        .limit(LIMIT)
    ).all()
    for task_id, rung, due_by, resident_id, name, grid, liaison_name in unread:
        assert due_by is not None  # selected so
        found.append(
            _row(resident_id, name, grid, liaison_name, "unread_reply", task_id, rung, due_by, now, now >= due_by)
        )
    found.sort(key=lambda row: (not row.late, row.minutes_left, row.resident))
    return found[:LIMIT]


def _row(
    resident_id: int,
    name: str,
    grid: str | None,
    liaison: str | None,
    reason: str,
    task_id: int | None,
    rung: int | None,
    deadline: datetime,
    now: datetime,
    late: bool,
) -> AtRisk:
    minutes_left = int((deadline - now).total_seconds() // 60)
    return AtRisk(resident_id, name, grid or "-", liaison or "-", reason, task_id, rung, deadline, minutes_left, late)
