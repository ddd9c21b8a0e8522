"""Medicine that never runs out: a medicine task `lead` days before a resident's medicine runs out, and the count
reset when that task is done.

The scheduler runs `make_medicine_tasks` with the check-in tick. A medicine runs out on its last refill plus its
days of supply (`Medicine.runs_out_on`); from `lead` days before that day (in the community's timezone, outside
quiet hours) its household's liaison is offered a medicine task naming it, like any task, on the ladder. Each
medicine and cycle is covered once (`MedicineTask`, unique on the medicine and the run-out day): a second run, or a
second scheduler at the same moment, finds the row and makes nothing. A household with a medicine task nobody has
taken yet (a resident's own "买药", or one made earlier today) gets the medicine added to it instead of a second
errand; a task a liaison has already taken is left as they took it, and the medicine gets a task of its own.

When a medicine task is done (the liaison's reply, or staff closing it) `refilled` sets each medicine it covers to
refilled that day, once; the next task comes a cycle later. A cancelled task resets nothing and does not cover the
cycle: a medicine that runs out must reach a person, so the next run makes one new task for it, and the cycle's row
is moved to that task (one new task per cancel, never a stream of them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy import Exists, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.context import DispatchContext
from dispatch.models import (
    Community,
    Household,
    Medicine,
    MedicineTask,
    Resident,
    ResidentStatus,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.tasks import lifecycle

log = logging.getLogger(__name__)

MAX_LEAD_DAYS = 30  # a medicine's own lead is 0 to this many days
DESCRIPTION_LIMIT = 1000


@dataclass(frozen=True)
class MadeMedicineTasks:
    """What one run did: tasks made, medicines added to an open task, and the outbound SMS decided."""

    made: int
    joined: int
    outbound: list[int]


def lead_of(medicine: Medicine, default_lead: int) -> int:
    """How many days before it runs out a medicine's task is made: its own setting, else the hotline's."""
    return medicine.lead_days if medicine.lead_days is not None else default_lead


def task_day(medicine: Medicine, default_lead: int) -> date | None:
    """The local day its next task is made; None without a last refill."""
    if medicine.runs_out_on is None:
        return None
    return medicine.runs_out_on - timedelta(days=lead_of(medicine, default_lead))


def words_of(medicine: Medicine) -> str:
    """What the liaison buys: the medicine as the family names it, and the dose note if any."""
    return f"{medicine.name} {medicine.dose}".strip()


def covered(medicine_id: int | None = None) -> Exists:
    """A medicine task still open covers the medicine (the current one in a query, else `medicine_id`)."""
    target = Medicine.id if medicine_id is None else medicine_id
    return exists().where(
        MedicineTask.medicine_id == target,
        MedicineTask.task_id == Task.id,
        Task.status.in_(TaskStatus.open()),
    )


def make_medicine_tasks(session: Session, now: datetime, context: DispatchContext) -> MadeMedicineTasks:
    """Offer a medicine task for every medicine whose task day has come (and that no open task covers and no task
    covered in this cycle), one per household: added to the household's open medicine task if it has one.

    Cheap when nothing is due: one query over the index on the run-out day."""
    horizon = now.date() + timedelta(days=2 + MAX_LEAD_DAYS)  # any timezone's today, and then the longest lead
    cycle_done = exists().where(
        MedicineTask.medicine_id == Medicine.id,
        MedicineTask.runs_out_on == Medicine.runs_out_on,
        MedicineTask.task_id == Task.id,
        Task.status != TaskStatus.CANCELLED,  # a cancelled task leaves the cycle uncovered
    )
    rows = session.execute(
        select(Medicine, Resident, Household, Community.timezone)
        .join(Resident, Resident.id == Medicine.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(
            Medicine.stopped_at.is_(None),
            Medicine.runs_out_on.is_not(None),
            Medicine.runs_out_on <= horizon,
            Resident.status.not_in((ResidentStatus.MOVED_AWAY, ResidentStatus.PAUSED)),  # away: made once back
            ~cycle_done,
            ~covered(),
        )
        .order_by(Household.id, Resident.id, Medicine.id)
    ).all()
    due = []
    for row in rows:
        zone = context.checkin.zone(row.timezone)
        today = now.astimezone(zone).date()
        day = task_day(row.Medicine, context.medicine_lead_days)
        if day is not None and day <= today and not context.checkin.is_quiet(now, zone):
            due.append(row)
    made = joined = 0
    outbound: list[int] = []
    for _, group in groupby(due, key=lambda r: r.Household.id):
        household_rows = list(group)
        household: Household = household_rows[0].Household
        for _, of_resident in groupby(household_rows, key=lambda r: r.Resident.id):
            resident_rows = list(of_resident)
            medicines = [r.Medicine for r in resident_rows]
            resident: Resident = resident_rows[0].Resident
            open_task = session.scalar(
                select(Task)
                .where(
                    Task.household_id == household.id,
                    Task.category == TaskCategory.MEDICINE,
                    Task.status.in_(TaskStatus.takeable()),  # taken: its liaison is not told of more
                )
                .order_by(Task.id)
                .limit(1)
                .with_for_update()
            )
            if open_task is not None:
                joined += _join(session, open_task, resident, medicines, now)
                continue
            task = _make(session, household, resident, medicines, now)
            if task is None:
                continue
            made += 1
            outbound += lifecycle.put_in_play(session, task, now, context, household.community)
    if made or joined:
        log.info("medicine tasks made=%d joined=%d", made, joined)  # counts only: no names, no medicines
    return MadeMedicineTasks(made, joined, outbound)


def _claim(session: Session, task: Task, medicines: list[Medicine], now: datetime) -> list[Medicine]:
    """Cover each medicine's current cycle with `task`; those another run covered meanwhile are left out."""
    claimed = []
    for medicine in medicines:
        try:
            with session.begin_nested():
                _cover(session, task, medicine, now)
        except IntegrityError:
            continue
        claimed.append(medicine)
    return claimed


def _cover(session: Session, task: Task, medicine: Medicine, now: datetime) -> None:
    """Link `task` to the medicine's current cycle: the cycle's row moves from a cancelled task if it has one (only
    one run can move it: the update re-checks the task it points to), else a new row. IntegrityError when another
    task covers the cycle."""
    assert medicine.runs_out_on is not None
    cancelled = select(Task.id).where(Task.status == TaskStatus.CANCELLED)
    moved = session.execute(
        update(MedicineTask)
        .where(
            MedicineTask.medicine_id == medicine.id,
            MedicineTask.runs_out_on == medicine.runs_out_on,
            MedicineTask.task_id.in_(cancelled),
        )
        .values(task_id=task.id, made_at=now, refilled_on=None)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        session.add(
            MedicineTask(medicine_id=medicine.id, task_id=task.id, runs_out_on=medicine.runs_out_on, made_at=now)
        )
    session.flush()


def _make(
    session: Session, household: Household, resident: Resident, medicines: list[Medicine], now: datetime
) -> Task | None:
    """A new medicine task naming the medicines, covering their cycles; None if another run covered them first."""
    try:
        with session.begin_nested():
            task = lifecycle.create_task(
                session,
                household,
                resident,
                TaskCategory.MEDICINE,
                TaskPriority.NORMAL,
                description="；".join(words_of(m) for m in medicines)[:DESCRIPTION_LIMIT],
                actor="system",
                channel="system",
                now=now,
                why="medicine runs out",
            )
            for medicine in medicines:
                _cover(session, task, medicine, now)
    except IntegrityError:  # another run made it at the same moment: its task stands
        return None
    return task


def _join(session: Session, task: Task, resident: Resident, medicines: list[Medicine], now: datetime) -> int:
    """Add the medicines to the household's untaken medicine task: named in its words, with an "added" event."""
    claimed = _claim(session, task, medicines, now)
    if not claimed:
        return 0
    words = "；".join(words_of(m) for m in claimed)
    if task.resident_id is not None and task.resident_id != resident.id:
        words = f"{resident.name}：{words}"
    task.description = "；".join(part for part in (task.description.strip(), words) if part)[:DESCRIPTION_LIMIT]
    task.updated_at = now
    session.add(TaskEvent(task=task, kind="added", actor="system", channel="system", at=now, detail=words[:500]))
    return len(claimed)


def refilled(session: Session, task: Task, now: datetime, default_zone: ZoneInfo) -> int:
    """A medicine task is done: each medicine it covers was refilled today (in the community's timezone), once;
    a refill recorded later by hand stands. Returns how many medicines were reset."""
    if task.category != TaskCategory.MEDICINE:
        return 0
    community = task.household.community if task.household is not None else None
    zone = ZoneInfo(community.timezone) if community is not None and community.timezone else default_zone
    day = now.astimezone(zone).date()
    links = session.scalars(
        select(MedicineTask).where(MedicineTask.task_id == task.id, MedicineTask.refilled_on.is_(None))
    ).all()
    reset = 0
    for link in links:
        marked = session.execute(
            update(MedicineTask)
            .where(MedicineTask.id == link.id, MedicineTask.refilled_on.is_(None))
            .values(refilled_on=day)
            .execution_options(synchronize_session=False)
        )
        if not marked.rowcount:  # type: ignore[attr-defined]
            continue
        medicine = session.get(Medicine, link.medicine_id, with_for_update=True)
        assert medicine is not None
        if medicine.last_refill is None or medicine.last_refill < day:
            set_refill(medicine, day, now)
            reset += 1
    return reset


def set_refill(medicine: Medicine, day: date, now: datetime) -> None:
    """The medicine was refilled on `day`: its count starts again from there."""
    medicine.last_refill = day
    medicine.runs_out_on = day + timedelta(days=medicine.days_supply)
    medicine.updated_at = now
