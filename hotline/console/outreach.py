"""Calls and notices: outbound check-in calls to a selection of residents, and notices (防控信息) by SMS or call."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
