"""Sign-in, sign-out, and today's board."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dispatch.at_risk import at_risk
from dispatch.board import open_tasks
from dispatch.checkins.report import coverage
from dispatch.models import StaffUser
from dispatch.register.away import away_residents
from dispatch.staff_accounts import authenticate, end_sessions, household_scope
from dispatch.triage.items import triage_scope
from dispatch.triage.views import open_items
from hotline.console.auth import csrf_ok, current_user, sign_in, staff_only
from hotline.console.login_throttle import LoginThrottle
from hotline.console.render import page
from hotline.services import Services

log = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/board"


async def home(request: Request) -> Response:
    """The board for staff; the sign-in page for everyone else."""
    user = await current_user(request)
    return RedirectResponse("/board" if user is not None else "/login", status_code=303)


async def login(request: Request) -> Response:
    """GET: the form. POST: check the CSRF token, the throttle, then the password."""
    if request.method == "GET":
        return page(request, "login.html", None, next=_safe_next(request.query_params.get("next")), error=None)
    services: Services = request.app.state.services
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    if not await csrf_ok(request):
        return page(request, "login.html", None, status_code=403, next=target, error="login_csrf")
    address = request.client.host if request.client else "-"
    throttle = LoginThrottle(services.redis)
    attempt = await run_in_threadpool(throttle.attempt, username, address)
    if not attempt.allowed:
        log.warning("sign-in refused: too many failures for this username from this address, or from this address")
        return page(request, "login.html", None, status_code=429, next=target, error="login_throttled")

    def check() -> StaffUser | None:
        with services.sessions.begin() as session:
            user = authenticate(session, username, password)
            if user is not None:
                session.flush()
                session.expunge(user)
            return user

    user = await run_in_threadpool(check)
    if user is None:
        log.info("sign-in failed")
        return page(request, "login.html", None, status_code=401, next=target, error="login_failed")
    await run_in_threadpool(throttle.succeeded, attempt)
    sign_in(request, user)
    log.info("signed in: staff %s", user.id)
    return RedirectResponse(target, status_code=303)


@staff_only()
async def logout(request: Request) -> Response:
    """End every session of this account, on every device (committed before answering), then clear the cookie:
    a copy of it, taken before, opens nothing."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user

    def end() -> None:
        with services.sessions.begin() as session:
            end_sessions(session, user.id)

    await run_in_threadpool(end)
    request.session.clear()
    log.info("signed out: staff %s, every session ended", user.id)
    return RedirectResponse("/login", status_code=303)


@staff_only()
async def board(request: Request) -> Response:
    """Today: coverage per grid, who to look at first, open tasks, what escalated. `?part=1`: the inner part
    only, which the page fetches every few seconds to update itself."""
    services: Services = request.app.state.services
    user = request.state.user
    now = services.clock()
    where = household_scope(user)

    def load() -> dict[str, Any]:
        today = now.astimezone(services.settings.timezone).date()
        with services.readonly() as session:
            report = coverage(session, today, now, where)
            tasks = open_tasks(session, now, where)
            behind = at_risk(session, today, now, where, services.intake.checkin)
            triage = open_items(session, now, triage_scope(user))
            away = away_residents(session, where)
        attention = [r for r in report.residents if r.standing in ("not_reached", "unwell", "visit_pending")]
        attention.sort(key=lambda r: (r.standing != "not_reached", r.standing != "unwell", r.grid, r.name))
        return {
            "report": report,
            "attention": attention,
            "tasks": tasks,
            "at_risk": behind,
            "triage": triage,
            "away": away,
        }

    data = await run_in_threadpool(load)
    local: datetime = now.astimezone(services.settings.timezone)
    template = "_board.html" if request.query_params.get("part") else "board.html"
    return page(request, template, user, now=local.strftime("%H:%M:%S"), catalog=services.catalog, **data)
