"""The JSON API under /api/v1, for other systems and scripts, with bearer tokens.

Every route but the OpenAPI document is guarded by `common.token_only`. The routes sit in one Mount whose own
exception handler answers Starlette's 404 (no such path) and 405 (wrong method) as JSON too, so nothing under
/api/v1 answers anything but JSON. The document, `openapi.DOCUMENT`, is checked against these routes by a test.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Mount

from hotline.api.admin import ROUTES as ADMIN_ROUTES
from hotline.api.common import http_error
from hotline.api.openapi import ROUTES as OPENAPI_ROUTES
from hotline.api.outreach import ROUTES as OUTREACH_ROUTES
from hotline.api.register import ROUTES as REGISTER_ROUTES
from hotline.api.reports import ROUTES as REPORT_ROUTES
from hotline.api.tasks import ROUTES as TASK_ROUTES

API_ROUTES: list[BaseRoute] = [
    *TASK_ROUTES,
    *REGISTER_ROUTES,
    *OUTREACH_ROUTES,
    *REPORT_ROUTES,
    *ADMIN_ROUTES,
    *OPENAPI_ROUTES,
]

ROUTES: list[BaseRoute] = [
    Mount("", routes=API_ROUTES, middleware=[Middleware(ExceptionMiddleware, handlers={HTTPException: http_error})])
]
