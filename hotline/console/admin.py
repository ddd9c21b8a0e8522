"""The IVR scripts page, the audit log (admins only), and each account's console language."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
