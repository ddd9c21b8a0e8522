"""The daily coverage report: per community and grid, resident by resident, who is known to be fine, who needs
what, who is unwell, and who has not been reached. This is the number that shows no one was missed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from dispatch.models import (
    Checkin,
    CheckinStatus,
    Community,
    Grid,
    Household,
    Resident,
    ResidentStatus,
    Task,
    TaskStatus,
)

COLUMNS = ("due", "fine", "needs", "unwell", "not_reached", "visit_pending", "visited", "opted_out")
KNOWN = ("fine", "needs", "unwell", "visited")


@dataclass(frozen=True)
class ResidentDay:
    """Where one resident stands today."""

    resident_id: int
    name: str
    community: str
    grid: str
    standing: str  # one of COLUMNS after "due"
    slot: str  # the check-in that decides it
    rung: int
    visit_task_id: int | None


@dataclass
class Coverage:
    """Counts for one community and grid."""

    community: str
    grid: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))

    @property
    def known_percent(self) -> float:
        """The share of residents due whose status is known (fine, needs, unwell, or seen on a visit)."""
        due = self.counts["due"]
        return 100.0 * sum(self.counts[k] for k in KNOWN) / due if due else 100.0


@dataclass
class CoverageReport:
    """The day's coverage: rows per community and grid, a total, and every resident's standing."""

    day: date
    rows: list[Coverage]
    total: Coverage
    residents: list[ResidentDay]


def coverage(session: Session, day: date, now: datetime, where: ColumnElement[bool] | None = None) -> CoverageReport:
    """Coverage of the check-ins of local day `day` that were due by `now`; `where` on Household narrows it."""
    rows = session.execute(
        select(
            Checkin,
            Resident.name,
            Community.name.label("community"),
            Grid.name.label("grid"),
            Task.status.label("visit_status"),
        )
        .join(Resident, Resident.id == Checkin.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(Task, Task.id == Checkin.visit_task_id)
        .where(Checkin.local_date == day, Checkin.due_at <= now, Checkin.status != CheckinStatus.SKIPPED)
        .where(true() if where is None else where)
        .order_by(Checkin.resident_id, Checkin.due_at)
    ).all()
    by_resident: dict[int, list[tuple[Checkin, str | None]]] = defaultdict(list)
    places: dict[int, tuple[str, str, str]] = {}
    for row in rows:
        by_resident[row.Checkin.resident_id].append((row.Checkin, row.visit_status))
        places[row.Checkin.resident_id] = (row.name, row.community or "-", row.grid or "-")
    standings = []
    for resident_id, checkins in by_resident.items():
        name, community, grid = places[resident_id]
        deciding, standing = _standing(checkins)
        standings.append(
            ResidentDay(
                resident_id, name, community, grid, standing, deciding.slot, deciding.rung, deciding.visit_task_id
            )
        )
    table: dict[tuple[str, str], Coverage] = {}
    for item in standings:
        cell = table.setdefault((item.community, item.grid), Coverage(item.community, item.grid))
        cell.counts["due"] += 1
        cell.counts[item.standing] += 1
    opted_out = session.execute(
        select(Community.name, Grid.name)
        .select_from(Resident)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .where(Resident.status == ResidentStatus.OPTED_OUT, true() if where is None else where)
    ).all()
    for community_name, grid_name in opted_out:
        key = (community_name or "-", grid_name or "-")
        table.setdefault(key, Coverage(*key)).counts["opted_out"] += 1
    total = Coverage("*", "*")
    for cell in table.values():
        for column in COLUMNS:
            total.counts[column] += cell.counts[column]
    order = {"not_reached": 0, "unwell": 1, "visit_pending": 2, "needs": 3, "visited": 4, "fine": 5}
    standings.sort(key=lambda r: (order[r.standing], r.community, r.grid, r.name))
    return CoverageReport(day, [table[k] for k in sorted(table)], total, standings)


def _standing(checkins: list[tuple[Checkin, str | None]]) -> tuple[Checkin, str]:
    """One resident's day: unwell or needs if any check-in said so; else what the latest check-in says."""
    for wanted in (CheckinStatus.UNWELL, CheckinStatus.NEEDS):
        for checkin, _ in checkins:
            if checkin.status == wanted:
                return checkin, str(wanted)
    # A call staff asked for decides the day only once answered: calling someone fine does not unmake "fine".
    planned = [(c, v) for c, v in checkins if not c.slot.startswith("staff-") or c.status == CheckinStatus.FINE]
    latest, visit_status = (planned or checkins)[-1]
    if latest.status == CheckinStatus.FINE:
        return latest, "fine"
    if latest.visit_task_id is not None:
        return latest, "visited" if visit_status == TaskStatus.DONE else "visit_pending"
    return latest, "not_reached"
