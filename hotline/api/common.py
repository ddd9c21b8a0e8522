"""What every API endpoint shares: the bearer-token guard, JSON errors, and strict reading of queries and bodies.

The API reads no cookie, only the `Authorization: Bearer <secret>` header, so a browser cannot be tricked into
sending a request with a staff member's authority: there is no CSRF to defend against, and no CSRF token.

Every error is JSON, `{"error": "…"}`: 400 for a malformed query or JSON body, 401 without a live token, 403 for
a role that may not do this, 404 for anything missing or outside the token's scope (the same answer), 405 for a
wrong method, 409 for an action the object's state refuses, 413 for a body over 64 KiB, 415 for a body that is
not JSON, 422 for a body whose fields are missing, unknown or of the wrong type or value, or hold text no database
can store (a lone surrogate such as "\\ud800", or a NUL): that one names the field in `problems`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from functools import wraps
from typing import Any, NoReturn

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch.exceptions import DispatchError, InvalidAction, NotFound
from dispatch.models import ApiToken, StaffRole
from dispatch.tokens import needs_touch, touch_token, verify_token
from hotline.json_text import unstorable_text
from hotline.services import Services

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_BODY = 64 * 1024
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9_\-]{1,200})$", re.IGNORECASE)
_INT = re.compile(r"[0-9]{1,9}")  # an id: 9 digits fit PostgreSQL's integer, whose ids end at 2,147,483,647
MAX_QUERY_INT = 10**9  # the largest number a query parameter takes
MAX_BODY_INT = 2**31 - 1  # the largest a JSON body's number field takes: any integer column holds it


class ApiError(Exception):
    """An answer other than success: its HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None) -> None:
        self.status = status
        self.message = message
        self.extra = extra or {}
        super().__init__(message)


def error(
    status: int, message: str, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, **(extra or {})}, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no such path) and 405 (wrong method) under /api/v1, as JSON."""
    assert isinstance(exc, HTTPException)
    message = {404: "no such path in the API", 405: "this path does not take this method"}.get(
        exc.status_code, exc.detail
    )
    return error(exc.status_code, message, headers=dict(exc.headers or {}))


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def token_of(request: Request) -> ApiToken:
    """The token the guard let through."""
    token: ApiToken = request.state.token
    return token


async def bearer_token(request: Request) -> ApiToken | None:
    """The live token the request carries (not revoked, not expired), or None. Records its use at most once a
    minute."""
    found = _BEARER.match(request.headers.get("authorization", "").strip())
    if found is None:
        return None
    secret = found.group(1)
    services = services_of(request)
    now = services.clock()

    def load() -> ApiToken | None:
        with services.readonly() as session:
            token = verify_token(session, secret, now)
            if token is not None:
                session.expunge(token)
            return token

    token = await run_in_threadpool(load)
    if token is not None and needs_touch(token, now):

        def touch() -> None:
            with services.sessions.begin() as session:
                touch_token(session, token.id, now)

        try:
            await run_in_threadpool(touch)
        except SQLAlchemyError as exc:  # a busy database must not refuse the request itself
            log.warning("token %s: last use not recorded (%s)", token.id, type(exc).__name__)
    return token


def token_only(*roles: StaffRole) -> Callable[[Endpoint], Endpoint]:
    """Decorate an API endpoint: a live bearer token of one of `roles` (any role if none). Domain errors and
    ApiError become JSON answers here, once, for every endpoint."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            token = await bearer_token(request)
            if token is None:
                given = "authorization" in request.headers
                challenge = 'Bearer realm="hotline"' + (', error="invalid_token"' if given else "")
                message = "the token is unknown, revoked or expired" if given else "send Authorization: Bearer <token>"
                return error(401, message, headers={"WWW-Authenticate": challenge})
            if roles and token.role not in roles:
                return error(403, f"a {token.role} token may not do this")
            request.state.token = token
            try:
                return await endpoint(request)
            except ApiError as exc:
                return error(exc.status, exc.message, extra=exc.extra)
            except NotFound as exc:
                return error(404, str(exc))
            except InvalidAction as exc:
                return error(409, str(exc))
            except DispatchError as exc:
                return error(422, str(exc))

        guarded.staff_roles = roles or tuple(StaffRole)  # type: ignore[attr-defined]  # for the route audit test
        return guarded

    return decorate


def path_id(request: Request, name: str, kind: str) -> int:
    """A numeric id from the path; anything else is a thing that does not exist."""
    raw = str(request.path_params[name])
    if not _INT.fullmatch(raw):
        raise ApiError(404, f"no {kind} {raw[:40]}")
    return int(raw)


# ── Queries ──────────────────────────────────────────────────────────────────────────────────────────────────


class Query:
    """The query string, read strictly: unknown or repeated parameters and bad values are a 400."""

    def __init__(self, request: Request, allowed: set[str]) -> None:
        params = request.query_params
        unknown = sorted(set(params.keys()) - allowed)
        if unknown:
            raise ApiError(
                400, f"unknown query parameter {unknown[0]!r}; this path takes: {', '.join(sorted(allowed))}"
            )
        for key in params:
            if len(params.getlist(key)) > 1:
                raise ApiError(400, f"query parameter {key!r} given more than once")
        self._params = params

    def text(self, name: str, limit: int = 200) -> str | None:
        value = self._params.get(name)
        if value is None or value == "":
            return None
        if len(value) > limit or "\x00" in value:
            raise ApiError(400, f"{name}: at most {limit} characters, and no NUL")
        return value

    def _typed(self, name: str) -> str | None:
        """A number's, day's or choice's text: absent is None, but given empty it is none of these (a 400)."""
        if self._params.get(name) == "":
            raise ApiError(400, f"{name} is empty; leave it out instead")
        return self.text(name)

    def choice(self, name: str, choices: list[str] | tuple[str, ...]) -> str | None:
        value = self._typed(name)
        if value is not None and value not in choices:
            raise ApiError(400, f"{name} must be one of: {', '.join(choices)}")
        return value

    def integer(self, name: str, *, default: int | None = None, low: int = 0, high: int = MAX_QUERY_INT) -> int | None:
        value = self._typed(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?[0-9]{1,10}", value) or not low <= int(value) <= high:
            raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
        return int(value)

    def day(self, name: str) -> date | None:
        value = self._typed(name)
        if value is None:
            return None
        try:
            if not re.fullmatch(r"(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            raise ApiError(400, f"{name} must be a date from 1900 to 2999, YYYY-MM-DD") from None


# ── Bodies ───────────────────────────────────────────────────────────────────────────────────────────────────


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # "²" passes isdigit() but not int()
            raise ApiError(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY:
            raise ApiError(413, f"the body is over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, allowed: set[str], *, optional: bool = False) -> Body:
    """The request's JSON object, with only `allowed` fields. With `optional`, an empty body is `{}`."""
    raw = await _read_body(request)
    if not raw.strip():
        if optional:
            return Body({}, allowed)
        raise ApiError(400, "this request needs a JSON object body")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "send the body as Content-Type: application/json")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiError(400, f"the body is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    bad = unstorable_text(data)
    if bad is not None:
        problem = {"field": bad.field, "code": bad.code, "message": bad.message}
        raise ApiError(422, bad.message, {"problems": [problem]})
    return Body(data, allowed)


class Body:
    """A JSON object's fields, each read with its type checked: a wrong or missing one is a 422."""

    def __init__(self, data: dict[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ApiError(422, f"unknown field {unknown[0]!r}; this request takes: {', '.join(sorted(allowed))}")
        self.data = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def _bad(self, name: str, wanted: str) -> NoReturn:
        raise ApiError(422, f"{name} must be {wanted}")

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise ApiError(422, f"{name} is required")
        return value

    def integer(self, name: str, *, required: bool = False, low: int = 1) -> int | None:
        value = _whole(self._get(name, required))
        if value is None and self.data.get(name) is None:
            return None
        if value is None or not low <= value <= MAX_BODY_INT:
            self._bad(name, f"a whole number, at least {low}")
        return value

    def text(self, name: str, *, required: bool = False, limit: int = 500) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > limit:
            self._bad(name, f"a string of at most {limit} characters")
        return value

    def flag(self, name: str) -> bool:
        value = self._get(name, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self._bad(name, "true or false")
        return value

    def choice(self, name: str, choices: list[str] | tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.text(name, required=required, limit=100)
        if value is not None and value not in choices:
            self._bad(name, f"one of: {', '.join(choices)}")
        return value

    def integers(self, name: str, *, limit: int = 1000) -> list[int]:
        value = self._get(name, False)
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > limit:
            self._bad(name, f"a list of at most {limit} ids")
        numbers = [_whole(v) for v in value]
        if any(n is None or not 1 <= n <= MAX_BODY_INT for n in numbers):
            self._bad(name, "a list of whole numbers, each at least 1")
        return [n for n in numbers if n is not None]


def _whole(value: Any) -> int | None:
    """A JSON number with no fraction as an int (JSON, and its schemas, make no difference between 3 and 3.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def plain(value: Any) -> Any:
    """A dataclass, tuple, dict or date as JSON values (dates and times in ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, date | datetime):  # datetime is a date
        return value.isoformat()
    return value


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)
