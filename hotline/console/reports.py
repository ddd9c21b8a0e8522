"""Reports: per day and per community, with server-rendered SVG charts and CSV export.

`/reports?day=YYYY-MM-DD&community=<id>` shows one local day (default today): check-ins, errands by kind, the
time to a taker and to done, escalations, and the coverage of the 14 days up to it. An admin may pick a
community (or all); a clerk and a grid leader always see their own part of the register. `/reports.csv` gives
the same numbers (`&days=N` for the N days up to `day`, at most 31) as a CSV for Excel. Reports are aggregates:
no audit entry is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.models import Household, StaffRole, StaffUser
from dispatch.register.places import all_communities, community_choice, grid_name
from dispatch.reports import (
    CATEGORIES,
    CHECKIN_STATUSES,
    STANDINGS,
    Bucket,
    DailyReport,
    TrendDay,
    coverage_trend,
    csv_columns,
    daily_report,
    report_csv,
)
from dispatch.staff_accounts import household_scope
from hotline.console.auth import staff_only
from hotline.console.charts import Series, bars, legend, stacked_columns
from hotline.console.render import CONSOLE_TEXTS, language_of, page
from hotline.services import Services

TREND_DAYS = 14
MAX_CSV_DAYS = 31
FIRST_DAY = date(2000, 1, 1)  # days before this, or over a year ahead, are refused as mistyped
# Calm colours for the standings, bottom of the stack first; the words always come with them.
STANDING_COLOURS = {
    "fine": "#8cc09a",
    "visited": "#8ec5c2",
    "needs": "#9bb5de",
    "unwell": "#e0a29b",
    "visit_pending": "#c4b5e0",
    "not_reached": "#efc27a",
}


class BadInput(Exception):
    """A query parameter that cannot be read: the page says which, with status 400."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Choice:
    """What the request asks for, read and checked."""

    day: date
    today: date
    community_id: int | None  # None: the whole of this account's scope
    days: int


def _choice(request: Request, services: Services) -> Choice:
    today = services.clock().astimezone(services.settings.timezone).date()
    params = request.query_params
    raw_day = params.get("day", "").strip()
    try:
        day = date.fromisoformat(raw_day) if raw_day else today
    except ValueError:
        raise BadInput("reports_bad_day") from None
    if not FIRST_DAY <= day <= today + timedelta(days=366):
        raise BadInput("reports_bad_day")  # also keeps the day before and after within the calendar
    raw_community = params.get("community", "").strip()
    if raw_community and not (raw_community.isascii() and raw_community.isdigit()):
        raise BadInput("reports_bad_community")
    raw_days = params.get("days", "1").strip()
    if not (raw_days.isascii() and raw_days.isdigit() and len(raw_days) <= 3 and 1 <= int(raw_days) <= MAX_CSV_DAYS):
        raise BadInput("reports_bad_days")
    # A number too long to be an id is an id that does not exist: never handed to the database.
    community = int(raw_community) if raw_community and len(raw_community) <= 9 else (-1 if raw_community else None)
    return Choice(day, today, community, int(raw_days))


def _visible(session: Session, user: StaffUser) -> list[tuple[int, str]]:
    """The communities this account may pick: every one for an admin, else the one their scope is in."""
    if user.role == StaffRole.ADMIN:
        return all_communities(session)
    return community_choice(session, user.community_id)


def _scope_label(session: Session, user: StaffUser, communities: list[tuple[int, str]]) -> str:
    """The part of the register a clerk or grid leader always sees ("" for an admin)."""
    if user.role == StaffRole.ADMIN:
        return ""
    names = [name for _, name in communities]
    if user.role == StaffRole.GRID_LEADER and user.grid_id is not None:
        names.append(grid_name(session, user.grid_id) or "-")
    return " · ".join(names)


def _where(user: StaffUser, community_id: int | None) -> ColumnElement[bool]:
    scope = household_scope(user)
    return scope if community_id is None else scope & (Household.community_id == community_id)


class Words:
    """The console's words in one staff member's language, for what is built outside a template."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, key: str, **fields: object) -> str:
        return CONSOLE_TEXTS.render(key, self.language, **fields)


def _bucket_label(t: Words, bucket: Bucket) -> str:
    if bucket.upper is None:
        return t("reports_bucket_over", low=bucket.lower)
    return t("reports_bucket", low=bucket.lower, high=bucket.upper)


def _charts(t: Words, report: DailyReport, trend: list[TrendDay]) -> dict[str, Any]:
    due, not_reached = sum(d.due for d in trend), sum(d.standings["not_reached"] for d in trend)
    first, last = trend[0].day.isoformat(), trend[-1].day.isoformat()
    series = [Series(key, t(f"reports_standing_{key}"), colour) for key, colour in STANDING_COLOURS.items()]
    coverage = stacked_columns(
        chart_id="chart-coverage",
        title=t("reports_chart_coverage", days=len(trend)),
        description=t("reports_chart_coverage_desc", first=first, last=last, due=due, not_reached=not_reached),
        columns=[(d.day.strftime("%m-%d"), d.standings) for d in trend],
        series=series,
    )
    categories = bars(
        chart_id="chart-categories",
        title=t("reports_chart_categories", day=report.day.isoformat()),
        description=t("reports_chart_categories_desc", total=report.total.tasks_total),
        items=[(t(f"reports_category_{c}"), report.total.tasks[c]) for c in CATEGORIES],
    )
    taken = report.total.to_accept
    median, p90 = _number(taken.median), _number(taken.p90)
    waits = bars(
        chart_id="chart-accept",
        title=t("reports_chart_accept", day=report.day.isoformat()),
        description=t("reports_chart_accept_desc", count=taken.count, median=median, p90=p90),
        items=[(_bucket_label(t, b), b.count) for b in report.accept_histogram],
        colour="#9bb5de",
    )
    return {
        "chart_coverage": coverage,
        "legend_coverage": legend(series),
        "chart_categories": categories,
        "chart_accept": waits,
    }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _csv_labels(t: Words) -> dict[str, str]:
    """The CSV's header in the staff member's language: every key of `csv_columns()`, and the row names."""
    plain = [k for k in csv_columns() if k not in STANDINGS and not k.startswith(("checkins_", "tasks_"))]
    labels = {key: t(f"reports_csv_{key}") for key in plain}
    labels |= {key: t(f"reports_standing_{key}") for key in STANDINGS}
    labels |= {f"checkins_{s}": t("reports_csv_checkins", what=t(f"reports_checkin_{s}")) for s in CHECKIN_STATUSES}
    labels |= {f"tasks_{c}": t("reports_csv_tasks", what=t(f"reports_category_{c}")) for c in CATEGORIES}
    labels["tasks_total"] = t("reports_tasks_total")
    labels["total"], labels["no_community"] = t("reports_total"), t("reports_no_community")
    return labels


@staff_only()
async def reports_page(request: Request) -> Response:
    """One day's report, with the 14 days of coverage up to it."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    t = Words(language_of(request, user))
    base: dict[str, Any] = {
        "numeral": _number,
        "standings": STANDINGS,
        "categories": CATEGORIES,
        "checkin_statuses": CHECKIN_STATUSES,
        "error": None,
        "missing": False,
    }
    try:
        choice = _choice(request, services)
    except BadInput as bad:
        today = services.clock().astimezone(services.settings.timezone).date()
        base |= {"error": bad.key, "report": None, "day": today, "today": today, "communities": [], "chosen": None}
        return page(request, "reports.html", user, status_code=400, scope="", **base)
    now, zone = services.clock(), services.settings.timezone

    def load() -> dict[str, Any] | None:
        with services.readonly() as session:
            communities = _visible(session, user)
            if choice.community_id is not None and choice.community_id not in {i for i, _ in communities}:
                return None
            where = _where(user, choice.community_id)
            report = daily_report(session, day=choice.day, zone=zone, where=where, now=now)
            trend = coverage_trend(session, end=choice.day, days=TREND_DAYS, zone=zone, where=where, now=now)
            scope = _scope_label(session, user, communities)
        return {"report": report, "trend": trend, "communities": communities, "scope": scope}

    data = await run_in_threadpool(load)
    context = {**base, "day": choice.day, "today": choice.today, "chosen": choice.community_id}
    if data is None:
        context |= {"missing": True, "report": None, "communities": [], "scope": ""}
        return page(request, "reports.html", user, status_code=404, **context)
    return page(
        request,
        "reports.html",
        user,
        **context,
        **data,
        **_charts(t, data["report"], data["trend"]),
        prev_day=choice.day - timedelta(days=1),
        next_day=choice.day + timedelta(days=1),
    )


@staff_only()
async def reports_csv(request: Request) -> Response:
    """The report of `day` (and the `days` - 1 days before it) as CSV, in this account's scope."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    t = Words(language_of(request, user))
    try:
        choice = _choice(request, services)
    except BadInput as bad:
        return Response(t(bad.key), status_code=400, media_type="text/plain; charset=utf-8")
    now, zone = services.clock(), services.settings.timezone

    def load() -> bytes | None:
        with services.readonly() as session:
            if choice.community_id is not None and choice.community_id not in {i for i, _ in _visible(session, user)}:
                return None
            where = _where(user, choice.community_id)
            days = [choice.day - timedelta(days=back) for back in range(choice.days - 1, -1, -1)]
            reports = [daily_report(session, day=d, zone=zone, where=where, now=now) for d in days]
        return report_csv(reports, _csv_labels(t))

    body = await run_in_threadpool(load)
    if body is None:
        return Response(t("reports_not_found"), status_code=404, media_type="text/plain; charset=utf-8")
    first = choice.day - timedelta(days=choice.days - 1)
    name = f"report-{choice.day}.csv" if choice.days == 1 else f"report-{first}-to-{choice.day}.csv"
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


ROUTES: list[BaseRoute] = [
    Route("/reports", reports_page),
    Route("/reports.csv", reports_csv),
]
