"""Who is asking: signed session cookies, the staff account behind them, roles, CSRF tokens.

Sign-in throttling is in `login_throttle.py`.

A session cookie holds only the account id, a fingerprint of its password hash (a new password ends every old
session), the account's session epoch at sign-in (signing out raises it, which ends every session of the account,
on every device, even a copy of the cookie taken before) and a CSRF token. It is signed with HOTLINE_SECRET_KEY,
HttpOnly, SameSite=Lax, Secure when the public URL is https, and expires after SESSION_HOURS. Every request
reloads the account, so deactivating one ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from dispatch.models import StaffRole, StaffUser
from dispatch.staff_accounts import staff_account
from hotline.services import Services
from hotline.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "hotline_session"
SESSION_HOURS = 12
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
Endpoint = Callable[[Request], Awaitable[Response]]


def session_middleware(settings: Settings) -> Middleware:
    """Signed cookie sessions for the console's routes (the webhooks never read a cookie)."""
    return Middleware(
        SessionMiddleware,
        secret_key=str(settings.secret_key),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )


def password_fingerprint(user: StaffUser) -> str:
    """Changes whenever the password does: kept in the session, so a new password ends old sessions."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use. Every form and every script's POST carries it."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def csrf_ok(request: Request) -> bool:
    """True if an unsafe request carries this session's token, in the X-CSRF-Token header or the form."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str):
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def sign_in(request: Request, user: StaffUser) -> None:
    """Start a new session for `user`: a fresh cookie content and a fresh CSRF token (no session fixation)."""
    request.session.clear()
    request.session.update(
        {"uid": user.id, "pw": password_fingerprint(user), "ep": user.session_epoch, "csrf": secrets.token_urlsafe(24)}
    )


def session_is_live(held: dict[str, Any], user: StaffUser) -> bool:
    """True if a session's content still opens this account: active, the same password, not signed out since."""
    return user.active and held.get("pw") == password_fingerprint(user) and held.get("ep") == user.session_epoch


async def current_user(request: Request) -> StaffUser | None:
    """The signed-in, active account, or None."""
    if hasattr(request.state, "user"):
        known: StaffUser | None = request.state.user
        return known
    uid = request.session.get("uid")
    user = None
    if isinstance(uid, int):
        services: Services = request.app.state.services

        def load() -> StaffUser | None:
            with services.readonly() as session:
                found = staff_account(session, uid)
                if found is not None:
                    session.expunge(found)
                return found

        found = await run_in_threadpool(load)
        if found is not None and session_is_live(request.session, found):
            user = found
    request.state.user = user
    return user


def _wants_json(request: Request) -> bool:
    return request.method not in SAFE_METHODS or "application/json" in request.headers.get("accept", "")


def staff_only(*roles: StaffRole) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint: signed-in staff of one of `roles` (any role if none), with a CSRF token on unsafe
    methods. Anonymous page requests go to the sign-in page; anything else gets 401 or 403 JSON."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = await current_user(request)
            if user is None:
                if _wants_json(request):
                    return JSONResponse({"error": "sign in first"}, status_code=401)
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            if roles and user.role not in roles:
                return JSONResponse({"error": "your role may not do this"}, status_code=403)
            if request.method not in SAFE_METHODS and not await csrf_ok(request):
                return JSONResponse({"error": "missing or wrong CSRF token; reload the page"}, status_code=403)
            return await endpoint(request)

        guarded.staff_roles = roles or tuple(StaffRole)  # type: ignore[attr-defined]  # for the route audit test
        return guarded

    return decorate
