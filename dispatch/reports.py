"""Reports for the street office: per day and per community, how many check-ins and with what outcome, errands by
kind, how long residents waited for a taker and for the errand to be done, and how often the ladder climbed.

Definitions (the page and the CSV say the same):

- A day is a local day in the hotline's timezone `zone`: from 00:00 to the next 00:00 there.
- Check-ins are the rows of that `local_date` that were due by `now`, counted by their status; the standings
  (fine, needs, unwell, not reached, visit pending, visited: one per resident due) come from
  `dispatch.checkins.report.coverage`, the same numbers as the board.
- Errands are the tasks *created* that day, by category. The times to acceptance (`Task.accepted_at`) and to done
  (the first TaskEvent "done") are taken over those same tasks, in minutes, over the tasks that got there.
- Escalations are the TaskEvents "escalated" that happened that day (one per rung climbed), of any task.
- Percentiles: linear interpolation between the closest ranks, as Excel's PERCENTILE.INC and
  `statistics.quantiles(method="inclusive")`: position p·(n-1) in the sorted values. The median is p = 0.5.

Every query is narrowed by `where`, a filter on Household (`dispatch.staff_accounts.household_scope`); a task with no
household is only ever seen unfiltered (by an admin), under the community "-".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dispatch.checkins.report import coverage
from dispatch.models import (
    Checkin,
    CheckinStatus,
    Community,
    Household,
    Resident,
    Task,
    TaskCategory,
    TaskEvent,
    utcnow,
)
from dispatch.register.csv_read import escape_cell

STANDINGS = ("fine", "needs", "unwell", "not_reached", "visit_pending", "visited")  # one per resident due
CHECKIN_STATUSES = tuple(str(s) for s in CheckinStatus)
CATEGORIES = tuple(str(c) for c in TaskCategory)
# Bucket edges of the time-to-accept histogram, in minutes: [0, 5), [5, 15), … [120, ∞).
ACCEPT_BUCKETS = (0, 5, 15, 30, 60, 120)
TOTAL, NO_COMMUNITY = "*", "-"  # the community of the total row, and of households without a community


def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p` (0…1) percentile of `values` by linear interpolation between closest ranks (None if empty)."""
    if not 0 <= p <= 1:
        raise ValueError("p must be between 0 and 1")
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start and end of local day `day` in `zone` (23 or 25 hours long on a daylight-saving change)."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


@dataclass(frozen=True)
class Durations:
    """Minutes from a request to one step, over the tasks that reached it: how many, median and 90th percentile
    (to one decimal; None when no task reached it)."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Durations:
        median, p90 = percentile(minutes, 0.5), percentile(minutes, 0.9)
        return cls(len(minutes), None if median is None else round(median, 1), None if p90 is None else round(p90, 1))

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median_minutes": self.median, "p90_minutes": self.p90}


@dataclass(frozen=True)
class CommunityDay:
    """One community's day (or the total of the report's scope, community "*")."""

    community: str
    checkins: dict[str, int]  # check-in rows due that day, by status (every CheckinStatus)
    standings: dict[str, int]  # "due" and every STANDINGS: residents due that day and where each stands
    tasks: dict[str, int]  # tasks made that day, by category (every TaskCategory)
    to_accept: Durations
    to_done: Durations
    escalations: int

    @property
    def tasks_total(self) -> int:
        return sum(self.tasks.values())

    @property
    def known_percent(self) -> float | None:
        """The share of residents due whose standing is known (all but not reached and visit pending)."""
        due = self.standings["due"]
        unknown = self.standings["not_reached"] + self.standings["visit_pending"]
        return round(100.0 * (due - unknown) / due, 1) if due else None

    @property
    def empty(self) -> bool:
        """Nothing happened: no check-in due, no task made, no escalation."""
        return not (sum(self.checkins.values()) or self.standings["due"] or self.tasks_total or self.escalations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "community": self.community,
            "checkins": dict(self.checkins),
            "standings": dict(self.standings),
            "known_percent": self.known_percent,
            "tasks": dict(self.tasks),
            "tasks_total": self.tasks_total,
            "to_accept": self.to_accept.as_dict(),
            "to_done": self.to_done.as_dict(),
            "escalations": self.escalations,
        }


@dataclass(frozen=True)
class Bucket:
    """One bar of a histogram: tasks whose minutes are in [lower, upper) (upper None: no limit)."""

    lower: int
    upper: int | None
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"lower_minutes": self.lower, "upper_minutes": self.upper, "count": self.count}


@dataclass(frozen=True)
class DailyReport:
    """One local day: a row per community in scope that had anything that day, and their total."""

    day: date
    timezone: str
    as_of: datetime  # check-ins due after this are not counted yet (a report of today is a report so far)
    communities: list[CommunityDay]
    total: CommunityDay
    accept_histogram: list[Bucket]  # minutes to acceptance of the day's tasks, over the whole scope

    @property
    def empty(self) -> bool:
        return self.total.empty

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "timezone": self.timezone,
            "as_of": self.as_of.astimezone(UTC).isoformat(),
            "empty": self.empty,
            "communities": [c.as_dict() for c in self.communities],
            "total": self.total.as_dict(),
            "accept_histogram": [b.as_dict() for b in self.accept_histogram],
        }


@dataclass(frozen=True)
class TrendDay:
    """One day of the coverage trend: residents due, and where each stood."""

    day: date
    due: int
    standings: dict[str, int]  # every STANDINGS

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "due": self.due, "standings": dict(self.standings)}


@dataclass
class _Cell:
    """A community's counts while they are gathered."""

    checkins: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKIN_STATUSES, 0))
    standings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("due", *STANDINGS), 0))
    tasks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    to_accept: list[float] = field(default_factory=list)
    to_done: list[float] = field(default_factory=list)
    escalations: int = 0

    def add(self, other: _Cell) -> None:
        for mine, theirs in (
            (self.checkins, other.checkins),
            (self.standings, other.standings),
            (self.tasks, other.tasks),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.to_accept += other.to_accept
        self.to_done += other.to_done
        self.escalations += other.escalations

    def freeze(self, community: str) -> CommunityDay:
        return CommunityDay(
            community,
            self.checkins,
            self.standings,
            self.tasks,
            Durations.of(self.to_accept),
            Durations.of(self.to_done),
            self.escalations,
        )


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds() / 60)


def daily_report(
    session: Session, *, day: date, zone: ZoneInfo, where: ColumnElement[bool], now: datetime | None = None
) -> DailyReport:
    """The report of local day `day` in `zone` for the households `where` allows, as of `now` (default: now)."""
    now = now or utcnow()
    start, end = day_bounds(day, zone)
    cells: dict[str, _Cell] = {}

    def cell(name: str | None) -> _Cell:
        return cells.setdefault(name or NO_COMMUNITY, _Cell())

    for row in coverage(session, day, now, where).rows:
        if not row.counts["due"]:
            continue  # a row of opted-out residents only (coverage counts those without `where`): not this day's
        counts = cell(None if row.community == NO_COMMUNITY else row.community).standings
        for key in counts:
            counts[key] += row.counts[key]
    checkins = session.execute(
        select(Community.name, Checkin.status, func.count(Checkin.id))
        .select_from(Checkin)
        .join(Resident, Resident.id == Checkin.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(Checkin.local_date == day, Checkin.due_at <= now, where)
        .group_by(Community.name, Checkin.status)
    ).all()
    for community, status, n in checkins:
        cell(community).checkins[str(status)] += n
    done = (
        select(TaskEvent.task_id, func.min(TaskEvent.at).label("at"))
        .where(TaskEvent.kind == "done")
        .group_by(TaskEvent.task_id)
        .subquery()
    )
    made = session.execute(
        select(Community.name, Task.category, Task.created_at, Task.accepted_at, done.c.at)
        .select_from(Task)
        .outerjoin(Household, Household.id == Task.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(done, done.c.task_id == Task.id)
        .where(Task.created_at >= start, Task.created_at < end, where)
    ).all()
    for community, category, created_at, accepted_at, done_at in made:
        target = cell(community)
        target.tasks[str(category)] = target.tasks.get(str(category), 0) + 1
        for minutes, into in (
            (_minutes(created_at, accepted_at), target.to_accept),
            (_minutes(created_at, done_at), target.to_done),
        ):
            if minutes is not None:
                into.append(minutes)
    escalated = session.execute(
        select(Community.name, func.count(TaskEvent.id))
        .select_from(TaskEvent)
        .join(Task, Task.id == TaskEvent.task_id)
        .outerjoin(Household, Household.id == Task.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(TaskEvent.kind == "escalated", TaskEvent.at >= start, TaskEvent.at < end, where)
        .group_by(Community.name)
    ).all()
    for community, n in escalated:
        cell(community).escalations += n
    total = _Cell()
    for part in cells.values():
        total.add(part)
    return DailyReport(
        day=day,
        timezone=zone.key,
        as_of=now,
        communities=[cells[name].freeze(name) for name in sorted(cells)],
        total=total.freeze(TOTAL),
        accept_histogram=histogram(total.to_accept),
    )


def histogram(minutes: Sequence[float], edges: Sequence[int] = ACCEPT_BUCKETS) -> list[Bucket]:
    """How many of `minutes` fall in each bucket between `edges` (the last bucket has no upper limit)."""
    uppers: list[int | None] = [*edges[1:], None]
    return [
        Bucket(lower, upper, sum(1 for m in minutes if m >= lower and (upper is None or m < upper)))
        for lower, upper in zip(edges, uppers, strict=True)
    ]


def coverage_trend(
    session: Session,
    *,
    end: date,
    days: int = 14,
    zone: ZoneInfo,
    where: ColumnElement[bool],
    now: datetime | None = None,
) -> list[TrendDay]:
    """Coverage of each of the `days` local days up to and including `end`, oldest first. Days after today (in
    `zone`) have had nothing due yet: they are zeros, without asking the database."""
    if not 1 <= days <= 366:
        raise ValueError("days must be between 1 and 366")
    now = now or utcnow()
    today = now.astimezone(zone).date()
    trend = []
    for back in range(days - 1, -1, -1):
        day = end - timedelta(days=back)
        if day > today:
            trend.append(TrendDay(day, 0, dict.fromkeys(STANDINGS, 0)))
            continue
        counts = coverage(session, day, now, where).total.counts
        trend.append(TrendDay(day, counts["due"], {key: counts[key] for key in STANDINGS}))
    return trend


def csv_columns() -> list[str]:
    """The stable column keys of `report_csv`, in order."""
    return [
        "day",
        "community",
        *(f"checkins_{s}" for s in CHECKIN_STATUSES),
        "due",
        *STANDINGS,
        "known_percent",
        *(f"tasks_{c}" for c in CATEGORIES),
        "tasks_total",
        "accepted",
        "accept_median_minutes",
        "accept_p90_minutes",
        "done",
        "done_median_minutes",
        "done_p90_minutes",
        "escalations",
    ]


def _csv_row(day: date, row: CommunityDay, labels: Mapping[str, str]) -> list[str]:
    names = {TOTAL: labels.get("total", "total"), NO_COMMUNITY: labels.get("no_community", "none")}
    values: list[object] = [
        day.isoformat(),
        names.get(row.community, row.community),
        *(row.checkins[s] for s in CHECKIN_STATUSES),
        row.standings["due"],
        *(row.standings[s] for s in STANDINGS),
        row.known_percent,
        *(row.tasks[c] for c in CATEGORIES),
        row.tasks_total,
        row.to_accept.count,
        row.to_accept.median,
        row.to_accept.p90,
        row.to_done.count,
        row.to_done.median,
        row.to_done.p90,
        row.escalations,
    ]
    return [escape_cell("" if value is None else str(value)) for value in values]


def report_csv(reports: DailyReport | Sequence[DailyReport], labels: Mapping[str, str] | None = None) -> bytes:
    """The reports as CSV: a row per community and day, then the day's total. UTF-8 with a BOM, so Excel reads
    the Chinese names right.

    The header is `csv_columns()`, stable English keys for scripts, unless `labels` maps a key to the words to
    show instead (the console passes its catalog's words: the language is the web's business). `labels` may
    also name the total row ("total") and households without a community ("no_community"). Empty cells: no
    task got that far.
    """
    labels = labels or {}
    items = [reports] if isinstance(reports, DailyReport) else list(reports)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([labels.get(key, key) for key in csv_columns()])
    for report in items:
        for row in [*report.communities, report.total]:
            writer.writerow(_csv_row(report.day, row, labels))
    return buffer.getvalue().encode("utf-8-sig")
