"""The JSON API under /api/v1, for other systems and scripts, with bearer tokens."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
