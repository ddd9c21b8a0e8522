"""The resident page's away section: the running absence, the last ones, and its forms' fresh key (the forms
and their routes: `hotline.console.away`)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from dispatch.models import AbsenceReason
from dispatch.register.away import NOTE_LIMIT, away_of
from hotline.services import Services

DONE = ("set", "changed", "ended", "none")  # what `?away=` may say after a form


async def away_context(request: Request, resident_id: int) -> dict[str, Any]:
    """What the resident page's away section needs (the caller has checked the resident is in scope)."""
    services: Services = request.app.state.services

    def load() -> Any:
        with services.readonly() as session:
            return away_of(session, resident_id)

    today = services.clock().astimezone(services.settings.timezone).date()
    done = request.query_params.get("away", "")
    return {
        "away": await run_in_threadpool(load),
        "away_reasons": list(AbsenceReason),
        "away_key": secrets.token_urlsafe(16),
        "away_min": (today + timedelta(days=1)).isoformat(),
        "away_note_limit": NOTE_LIMIT,
        "away_done": done if done in DONE else "",
    }
