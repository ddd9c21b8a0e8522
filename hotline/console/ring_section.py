"""The resident page's ring-to-check-in section (`_resident_ring.html`): the mode, and the rings counted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from starlette.requests import Request

from dispatch.checkins.ring_settings import MODES, RingPanel, ring_panel

ERROR = "ring_error"  # request.state: a refused mode, shown in the section


def ring_section(session: Session, request: Request, resident_id: int, since: datetime) -> dict[str, object]:
    """The section's data: the mode, the modes to choose from, the rings since `since`, a refusal to show."""
    panel: RingPanel = ring_panel(session, resident_id, since)
    return {"panel": panel, "modes": MODES, "error": getattr(request.state, ERROR, False)}
