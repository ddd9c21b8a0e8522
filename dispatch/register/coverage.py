"""Assignment rules: who is not covered, who carries too much, and what happens when a liaison stops."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch.models import Household, Liaison, Resident, ResidentStatus

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


def _living_households(session: Session) -> list[Household]:
    """Households with at least one resident who has not moved away: the ones that need a liaison."""
    return list(
        session.scalars(
            select(Household)
            .where(Household.residents.any(Resident.status != ResidentStatus.MOVED_AWAY))
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
        if primary is None or not primary.active:
            report.households_without_liaison.append(household)
        else:
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


@dataclass
class Deactivation:
    """What stopping a liaison did to their households."""

    moved_to_backup: list[Household] = field(default_factory=list)
    uncovered: list[Household] = field(default_factory=list)  # no active backup: staff must assign someone
    backup_removed: list[Household] = field(default_factory=list)


def deactivate_liaison(session: Session, liaison: Liaison) -> Deactivation:
    """Stop a liaison. Their households pass to the backup; those without one are reported, never left silent."""
    result = Deactivation()
    liaison.active = False
    for household in session.scalars(select(Household).where(Household.primary_liaison_id == liaison.id)):
        backup = household.backup_liaison
        if backup is not None and backup.active:
            household.primary_liaison, household.backup_liaison = backup, None
            result.moved_to_backup.append(household)
        else:
            household.primary_liaison = None
            result.uncovered.append(household)
    for household in session.scalars(select(Household).where(Household.backup_liaison_id == liaison.id)):
        household.backup_liaison = None
        result.backup_removed.append(household)
    session.flush()
    return result


def describe_address(household: Household) -> str:
    """`幸福里社区 3号楼 2单元 402`, with unknown parts left out; `#<id>` if nothing is known."""
    parts = [household.community.name if household.community else None, household.building, household.unit]
    parts.append(household.room)
    text = " ".join(p for p in parts if p)
    return text or f"#{household.id}"
