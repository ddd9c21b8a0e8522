"""Today's board: the open tasks and what escalated lately, for one staff member's part of the register."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from dispatch.models import Grid, Household, Liaison, Resident, StaffUser, Task, TaskEvent, TaskPriority, TaskStatus

BOARD_LIMIT = 200


@dataclass(frozen=True)
class BoardTask:
    """One open task as the board shows it."""

    id: int
    category: str
    urgent: bool
    status: str
    rung: int
    resident: str
    grid: str
    liaison: str
    age_minutes: int
    escalated_recently: bool
    flagged: bool = False  # for staff to look at: a liaison's reply about it could not be read, or it is overdue
    owner: str = "-"  # the staff member following it up, by name


def open_tasks(session: Session, now: datetime, where: ColumnElement[bool]) -> list[BoardTask]:
    """Open tasks in `where` (a filter on Household): urgent first, then those flagged for staff, then by rung and
    age (oldest first)."""
    liaison = aliased(Liaison)
    hour_ago = now - timedelta(hours=1)
    escalated = (
        select(TaskEvent.task_id).where(TaskEvent.kind == "escalated", TaskEvent.at >= hour_ago).scalar_subquery()
    )
    rows = session.execute(
        select(
            Task, Resident.name, Grid.name, liaison.name, Task.id.in_(escalated).label("recent"), StaffUser.display_name
        )
        .outerjoin(Household, Household.id == Task.household_id)
        .outerjoin(Resident, Resident.id == Task.resident_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(liaison, liaison.id == Task.assignee_liaison_id)
        .outerjoin(StaffUser, StaffUser.id == Task.owner_staff_id)
        .where(Task.status.in_(TaskStatus.open()), where)
        .order_by(
            (Task.priority == TaskPriority.URGENT).desc(),
            Task.flagged_at.is_not(None).desc(),
            Task.rung.desc(),
            Task.created_at,
        )
        .limit(BOARD_LIMIT)
    ).all()
    return [
        BoardTask(
            id=task.id,
            category=task.category,
            urgent=task.priority == TaskPriority.URGENT,
            status=task.status,
            rung=task.rung,
            resident=resident or "-",
            grid=grid or "-",
            liaison=liaison_name or "-",
            age_minutes=max(0, int((now - task.created_at).total_seconds() // 60)),
            escalated_recently=bool(recent),
            flagged=task.flagged_at is not None,
            owner=owner or "-",
        )
        for task, resident, grid, liaison_name, recent, owner in rows
    ]
