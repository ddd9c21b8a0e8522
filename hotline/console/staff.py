"""Staff accounts and API tokens in the console, for admins (`dispatch.staff_admin`): add an account, change its
role and scope, stop it; make a token (its secret shown once) and revoke one.

A role and its scope are chosen together, in one list (`dispatch.staff_admin.scope_choices`): "admin",
"clerk:<community id>", "grid_leader:<grid id>". The new-account form starts on no choice at all (a disabled
"choose a role" line), so an admin who does not choose is told to, never given an admin; the token form starts
on the narrowest scope.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.exceptions import InvalidStaffUser, NotFound
from dispatch.models import StaffRole
from dispatch.staff_admin import (
    StaffForm,
    add_staff,
    choice_of,
    deactivate_staff,
    list_staff,
    make_token,
    read_choice,
    revoke,
    scope_choices,
    scope_names,
    set_staff_role,
)
from dispatch.tokens import is_expired, list_tokens
from hotline.console.auth import staff_only
from hotline.console.render import page
from hotline.services import Services

LIFETIMES = ("30", "90", "365", "never")  # days a new token lives, as the form offers them
_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _scope_options(services: Services) -> list[tuple[str, str, str]]:
    """The role-and-scope list: (value, role, place)."""
    with services.readonly() as session:
        return scope_choices(session)


def _narrowest(options: list[tuple[str, str, str]]) -> str:
    """The choice a token form starts on: the first grid, else the first community, else none."""
    for role in ("grid_leader", "clerk"):
        for value, option_role, _ in options:
            if option_role == role:
                return value
    return ""


def _place(names: dict[tuple[str, int], str], community_id: int | None, grid_id: int | None) -> str:
    """Where an account or token sees: its grid, else its community, else nothing (an admin's)."""
    if grid_id is not None:
        return names.get(("grid", grid_id), "")
    return names.get(("community", community_id), "") if community_id is not None else ""


def _staff_data(services: Services) -> dict[str, Any]:
    with services.readonly() as session:
        names = scope_names(session)
        accounts = [
            {
                "id": u.id,
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "scope": choice_of(u.role, u.community_id, u.grid_id),
                "place": _place(names, u.community_id, u.grid_id),
                "active": u.active,
                "last_login": u.last_login_at,
            }
            for u in list_staff(session)
        ]
    return {"accounts": accounts, "options": _scope_options(services)}


async def _staff_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    data = await run_in_threadpool(_staff_data, _services(request))
    context.setdefault("form", {"username": "", "display_name": "", "scope": "", "language": "zh-CN"})
    context.setdefault("error", None)
    context.setdefault("row_error", None)
    return page(
        request,
        "staff.html",
        request.state.user,
        status_code=status_code,
        done=request.query_params.get("done", ""),
        **data,
        **context,
    )


@staff_only(StaffRole.ADMIN)
async def staff(request: Request) -> Response:
    """GET: every account and a form to add one. POST: add one (the same account again changes nothing)."""
    if request.method == "GET":
        return await _staff_page(request)
    services, user = _services(request), request.state.user
    raw = await request.form()
    typed = {key: str(raw.get(key, "")) for key in ("username", "display_name", "scope", "language")}

    def add() -> bool:
        with services.sessions.begin() as session:
            role, community, grid = read_choice(session, typed["scope"])
            form = StaffForm(
                username=typed["username"],
                display_name=typed["display_name"],
                password=str(raw.get("password", "")),
                role=role,
                community=community,
                grid=grid,
                language=typed["language"],
            )
            return add_staff(session, user, form)[1]

    try:
        await run_in_threadpool(add)
    except InvalidStaffUser as exc:
        return await _staff_page(request, 400, form=typed, error=(exc.field, exc.code))
    return RedirectResponse("/people/staff?done=staff_added", status_code=303)


@staff_only(StaffRole.ADMIN)
async def staff_role(request: Request) -> Response:
    """POST: a new role and scope for one account."""
    services, user = _services(request), request.state.user
    staff_id: int = request.path_params["staff_id"]
    choice = str((await request.form()).get("scope", ""))

    def save() -> None:
        with services.sessions.begin() as session:
            role, community, grid = read_choice(session, choice)
            set_staff_role(session, user, staff_id, role, community, grid)

    try:
        await run_in_threadpool(save)
    except NotFound:
        return await _staff_page(request, 404, row_error=(staff_id, "missing"))
    except InvalidStaffUser as exc:
        return await _staff_page(request, 400, row_error=(staff_id, exc.code))
    return RedirectResponse("/people/staff?done=staff_saved", status_code=303)


@staff_only(StaffRole.ADMIN)
async def staff_deactivate(request: Request) -> Response:
    """POST: stop one account; its sessions end at once. A stopped one stays stopped."""
    await request.form()  # nothing in it is needed, but a body over the cap is refused (413) before anything else
    services, user = _services(request), request.state.user
    staff_id: int = request.path_params["staff_id"]

    def stop() -> None:
        with services.sessions.begin() as session:
            deactivate_staff(session, user, staff_id)

    try:
        await run_in_threadpool(stop)
    except NotFound:
        return await _staff_page(request, 404, row_error=(staff_id, "missing"))
    except InvalidStaffUser as exc:
        return await _staff_page(request, 400, row_error=(staff_id, exc.code))
    return RedirectResponse("/people/staff?done=staff_stopped", status_code=303)


def _token_data(services: Services) -> dict[str, Any]:
    now = services.clock()
    with services.readonly() as session:
        names = scope_names(session)
        tokens = [
            {
                "id": token.id,
                "prefix": token.prefix,
                "name": token.name,
                "role": token.role,
                "place": names.get(("grid", token.grid_id or 0))
                or names.get(("community", token.community_id or 0), ""),
                "created": token.created_at,
                "used": token.last_used_at,
                "expires": token.expires_at,
                "state": "revoked" if token.revoked_at else ("expired" if is_expired(token, now) else "live"),
            }
            for token in list_tokens(session)
        ]
    return {"tokens": tokens, "options": _scope_options(services)}


async def _tokens_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    data = await run_in_threadpool(_token_data, _services(request))
    context.setdefault("form", {"name": "", "scope": _narrowest(data["options"]), "lifetime": "90"})
    context.setdefault("error", None)
    context.setdefault("made", None)
    response = page(
        request,
        "tokens.html",
        request.state.user,
        status_code=status_code,
        done=request.query_params.get("done", ""),
        lifetimes=LIFETIMES,
        request_key=secrets.token_urlsafe(16),
        **data,
        **context,
    )
    response.headers["Cache-Control"] = "no-store"  # a secret shown once, and a form key for one request
    return response


@staff_only(StaffRole.ADMIN)
async def tokens(request: Request) -> Response:
    """GET: every token and a form to make one. POST: make it and show its secret, this once; the same form
    sent again (a second click) finds the token made and shows no secret."""
    if request.method == "GET":
        return await _tokens_page(request)
    services, user = _services(request), request.state.user
    raw = await request.form()
    typed = {key: str(raw.get(key, "")) for key in ("name", "scope", "lifetime", "request_key")}
    if not _REQUEST_KEY.match(typed["request_key"]):
        return await _tokens_page(request, 400, form=typed, error=("form", "stale_form"))
    if typed["lifetime"] not in LIFETIMES:
        return await _tokens_page(request, 400, form=typed, error=("lifetime", "bad_lifetime"))
    lifetime = None if typed["lifetime"] == "never" else timedelta(days=int(typed["lifetime"]))

    def make() -> dict[str, Any]:
        with services.sessions.begin() as session:
            role, community, grid = read_choice(session, typed["scope"])
            token, secret = make_token(
                session,
                user,
                request_key=typed["request_key"],
                name=typed["name"],
                role=role,
                community=community,
                grid=grid,
                lifetime=lifetime,
            )
            return {"id": token.id, "name": token.name, "prefix": token.prefix, "secret": secret}

    try:
        made = await run_in_threadpool(make)
    except InvalidStaffUser as exc:
        return await _tokens_page(request, 400, form=typed, error=(exc.field, exc.code))
    return await _tokens_page(request, made=made)


@staff_only(StaffRole.ADMIN)
async def token_revoke(request: Request) -> Response:
    """POST: revoke a token; it is refused from now on. A revoked one stays revoked."""
    await request.form()  # nothing in it is needed, but a body over the cap is refused (413) before anything else
    services, user = _services(request), request.state.user
    token_id: int = request.path_params["token_id"]

    def run() -> None:
        with services.sessions.begin() as session:
            revoke(session, user, token_id)

    try:
        await run_in_threadpool(run)
    except NotFound:
        return await _tokens_page(request, 404, error=("token", "missing"))
    return RedirectResponse("/people/tokens?done=token_revoked", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/people/staff", staff, methods=["GET", "POST"]),
    Route("/people/staff/{staff_id:id}/role", staff_role, methods=["POST"]),
    Route("/people/staff/{staff_id:id}/deactivate", staff_deactivate, methods=["POST"]),
    Route("/people/tokens", tokens, methods=["GET", "POST"]),
    Route("/people/tokens/{token_id:id}/revoke", token_revoke, methods=["POST"]),
]
