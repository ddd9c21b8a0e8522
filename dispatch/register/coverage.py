"""Assignment rules: who is not covered, who carries too much, and what happens when a liaison stops."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session, selectinload

from dispatch import audit
from dispatch.context import DispatchContext
from dispatch.models import Household, Liaison, Resident, ResidentStatus, Task, TaskStatus
from dispatch.tasks.staff_actions import pass_on_from_stopped

DEFAULT_MAX_LOAD = 10


@dataclass
class CoverageReport:
    """The gaps in the liaison network. Empty lists mean every household is covered."""

    households_without_liaison: list[Household] = field(default_factory=list)
    overloaded: list[tuple[Liaison, int]] = field(default_factory=list)
    liaisons_without_phone: list[Liaison] = field(default_factory=list)
    households_without_backup: int = 0

    @property
    def has_gaps(self) -> bool:
        """True if any household is uncovered, any liaison overloaded or unreachable."""
        return bool(self.households_without_liaison or self.overloaded or self.liaisons_without_phone)


def _living_households(session: Session, where: ColumnElement[bool] | None = None) -> list[Household]:
    """Households with at least one resident who has not moved away (the ones that need a liaison), within
    `where` (a filter on Household) if given."""
    return list(
        session.scalars(
            select(Household)
            .where(Household.residents.any(Resident.status != ResidentStatus.MOVED_AWAY))
            .where(true() if where is None else where)
            .options(
                selectinload(Household.residents),
                selectinload(Household.primary_liaison),
                selectinload(Household.backup_liaison),
                selectinload(Household.community),
            )
            .order_by(Household.id)
        )
    )


def coverage_report(session: Session, max_load: int = DEFAULT_MAX_LOAD) -> CoverageReport:
    """Check the register's coverage.

    Args:
        session: A session.
        max_load: The most households one liaison should serve as primary.

    Returns:
        Households without an active primary liaison, liaisons over `max_load`, active liaisons without a phone.
    """
    households = _living_households(session)
    report = CoverageReport()
    load: Counter[int] = Counter()
    for household in households:
        primary = household.primary_liaison
        if not is_covered(household):
            report.households_without_liaison.append(household)
        elif primary is not None:
            load[primary.id] += 1
        backup = household.backup_liaison
        if backup is None or not backup.active:
            report.households_without_backup += 1
    liaisons = {liaison.id: liaison for liaison in session.scalars(select(Liaison).where(Liaison.active))}
    report.overloaded = sorted(
        ((liaisons[i], n) for i, n in load.items() if n > max_load and i in liaisons), key=lambda x: -x[1]
    )
    report.liaisons_without_phone = sorted(
        (liaison for liaison in liaisons.values() if not liaison.phone), key=lambda liaison: liaison.id
    )
    return report


def is_covered(household: Household) -> bool:
    """True if the household has an active primary liaison: someone who is offered its errands."""
    return household.primary_liaison is not None and household.primary_liaison.active


def households_without_liaison(session: Session, where: ColumnElement[bool]) -> list[Household]:
    """The living households within `where` that no active liaison serves, as `coverage_report` counts them."""
    return [household for household in _living_households(session, where) if not is_covered(household)]


@dataclass
class Deactivation:
    """What stopping a liaison did to their households."""

    moved_to_backup: list[Household] = field(default_factory=list)
    uncovered: list[Household] = field(default_factory=list)  # no active backup: staff must assign someone
    backup_removed: list[Household] = field(default_factory=list)
    # Open tasks offered to or taken by them, and who is offered each next (None: it climbs the ladder).
    errands: list[tuple[Task, Liaison | None]] = field(default_factory=list)
    outbound: list[int] = field(default_factory=list)  # SMS decided by the stop, to hand over after the commit


def _errands(session: Session, liaison: Liaison, moved: list[Household]) -> list[tuple[Task, Liaison | None]]:
    """The open tasks offered to or taken by `liaison`, and who they pass to once `moved` households have passed
    to their backups: the household's primary liaison then, if active with a phone; else nobody (they climb)."""
    held = select(Task).where(
        Task.assignee_liaison_id == liaison.id, Task.status.in_((TaskStatus.OFFERED, TaskStatus.ACCEPTED))
    )
    moving = {household.id for household in moved}
    found: list[tuple[Task, Liaison | None]] = []
    for task in session.scalars(held.order_by(Task.id)):
        household = task.household
        to = None
        if household is not None:
            to = household.backup_liaison if household.id in moving else household.primary_liaison
        usable = to is not None and to.active and to.phone is not None and to.id != liaison.id
        found.append((task, to if usable else None))
    return found


def plan_deactivation(session: Session, liaison: Liaison) -> Deactivation:
    """What stopping `liaison` would do, without doing it: the households passing to their active backup, those
    left with no one, those losing `liaison` as their backup, and the open errands passing on.
    `deactivate_liaison` does exactly this."""
    result = Deactivation()
    primary_of = select(Household).where(Household.primary_liaison_id == liaison.id).order_by(Household.id)
    for household in session.scalars(primary_of):
        backup = household.backup_liaison
        if backup is not None and backup.active and backup.id != liaison.id:
            result.moved_to_backup.append(household)
        else:
            result.uncovered.append(household)
    backup_of = select(Household).where(Household.backup_liaison_id == liaison.id).order_by(Household.id)
    result.backup_removed.extend(session.scalars(backup_of))
    result.errands = _errands(session, liaison, result.moved_to_backup)
    return result


def deactivate_liaison(
    session: Session,
    liaison: Liaison,
    *,
    actor: audit.Actor,
    now: datetime,
    context: DispatchContext | None,
) -> Deactivation:
    """Stop a liaison. Their households pass to the backup; those without one are reported, never left silent.
    In the same transaction their open errands pass on (`pass_on_from_stopped`): offered to the household's new
    primary liaison, or up the ladder; the SMS that decides are in `outbound`, for the caller to hand over after
    the commit. Only a caller that can send nothing gives no `context`: the errands are then listed in `errands`
    and left as they were."""
    result = plan_deactivation(session, liaison)
    liaison.active = False
    for household in result.moved_to_backup:
        household.primary_liaison, household.backup_liaison = household.backup_liaison, None
    for household in result.uncovered:
        household.primary_liaison = None
    for household in result.backup_removed:
        household.backup_liaison = None
    session.flush()
    if context is not None:
        _, result.outbound = pass_on_from_stopped(session, liaison, actor=actor, now=now, context=context)
    return result


def describe_address(household: Household) -> str:
    """`幸福里社区 3号楼 2单元 402`, with unknown parts left out; `#<id>` if nothing is known."""
    parts = [household.community.name if household.community else None, household.building, household.unit]
    parts.append(household.room)
    text = " ".join(p for p in parts if p)
    return text or f"#{household.id}"
