"""Tasks: the list with filters, one task's whole history, and what staff do to it."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
