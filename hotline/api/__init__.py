"""The JSON API under /api/v1, for other systems and scripts, with bearer tokens.

Every route but the OpenAPI document is guarded by `common.token_only`. The routes sit in one Mount whose own
exception handler answers Starlette's 404 (no such path) and 405 (wrong method) as JSON too, so nothing under
/api/v1 answers anything but JSON. The document, `openapi.DOCUMENT`, is checked against these routes by a test.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, compile_path

from hotline.api.access import ROUTES as ACCESS_ROUTES
from hotline.api.admin import ROUTES as ADMIN_ROUTES
from hotline.api.away import ROUTES as AWAY_ROUTES
from hotline.api.circle import ROUTES as CIRCLE_ROUTES
from hotline.api.common import http_error
from hotline.api.greetings import ROUTES as GREETING_ROUTES
from hotline.api.medicines import ROUTES as MEDICINE_ROUTES
from hotline.api.openapi import ROUTES as OPENAPI_ROUTES
from hotline.api.outreach import ROUTES as OUTREACH_ROUTES
from hotline.api.register import ROUTES as REGISTER_ROUTES
from hotline.api.reports import ROUTES as REPORT_ROUTES
from hotline.api.ring import ROUTES as RING_ROUTES
from hotline.api.tasks import ROUTES as TASK_ROUTES
from hotline.api.triage import ROUTES as TRIAGE_ROUTES
from hotline.console import params as _params  # noqa: F401 -- registers the "id" path convertor

API_ROUTES: list[BaseRoute] = [
    *TASK_ROUTES,
    *TRIAGE_ROUTES,
    *REGISTER_ROUTES,
    *RING_ROUTES,
    *AWAY_ROUTES,
    *MEDICINE_ROUTES,
    *ACCESS_ROUTES,
    *CIRCLE_ROUTES,
    *GREETING_ROUTES,
    *OUTREACH_ROUTES,
    *REPORT_ROUTES,
    *ADMIN_ROUTES,
    *OPENAPI_ROUTES,
]

# An `{id}` matches an id only (1 to 9 ASCII digits, the `id` convertor), so /notices/preview is never a notice
# "preview" and GET on it is a 405. The routes keep their paths as documented.
for _route in API_ROUTES:
    if isinstance(_route, Route) and "{id}" in _route.path:
        _route.path_regex, _route.path_format, _route.param_convertors = compile_path(
            _route.path.replace("{id}", "{id:id}")
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    """`common.http_error`; a 405's Allow names every method of the path, not only those of the first route that
    matched it (GET and PATCH of /residents/{id} are two routes)."""
    response = await http_error(request, exc)
    if response.status_code == 405:
        matching = [r for r in API_ROUTES if isinstance(r, Route) and r.matches(request.scope)[0] == Match.PARTIAL]
        response.headers["Allow"] = ", ".join(sorted({method for r in matching for method in r.methods or ()}))
    return response


ROUTES: list[BaseRoute] = [
    Mount("", routes=API_ROUTES, middleware=[Middleware(ExceptionMiddleware, handlers={HTTPException: _http_error})])
]
