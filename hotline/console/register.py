"""The register: search, one resident's page and last 14 days, edits, CSV import with its error report, export."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
