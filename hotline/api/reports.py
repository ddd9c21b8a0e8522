"""Reports for API tokens: one local day per community (check-ins by outcome, errands by kind, time to accept
and to done, escalations), and check-in coverage day by day (`dispatch.reports`), within the token's scope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.reports import coverage_trend, daily_report
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Query, ok, services_of, token_of, token_only

TREND_DAYS, MAX_TREND_DAYS = 14, 366


@token_only()
async def daily(request: Request) -> Response:
    """The report of one local day (default: today, so far) in the hotline's timezone."""
    query = Query(request, {"day"})
    services, token = services_of(request), token_of(request)
    now, zone = services.clock(), services.settings.timezone
    day = query.day("day") or now.astimezone(zone).date()

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            report = daily_report(session, day=day, zone=zone, where=household_scope(token), now=now)
            found: dict[str, Any] = report.as_dict()
            return found

    return ok(await run_in_threadpool(load))


@token_only()
async def coverage(request: Request) -> Response:
    """Check-in coverage of each of `days` local days up to `end` (default: today), oldest first."""
    query = Query(request, {"end", "days"})
    services, token = services_of(request), token_of(request)
    now, zone = services.clock(), services.settings.timezone
    today = now.astimezone(zone).date()
    end = query.day("end") or today
    days = query.integer("days", default=TREND_DAYS, low=1, high=MAX_TREND_DAYS) or TREND_DAYS
    if end > today + timedelta(days=MAX_TREND_DAYS):
        raise ApiError(400, "end is too far in the future")

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            trend = coverage_trend(session, end=end, days=days, zone=zone, where=household_scope(token), now=now)
            return [item.as_dict() for item in trend]

    return ok({"end": end.isoformat(), "days": days, "trend": await run_in_threadpool(load)})


ROUTES: list[BaseRoute] = [
    Route("/reports/daily", daily),
    Route("/reports/coverage", coverage),
]
