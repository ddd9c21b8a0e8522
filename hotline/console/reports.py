"""Reports: per day and per community, with server-rendered SVG charts and CSV export."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
