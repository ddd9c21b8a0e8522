"""Staff and ring to check in: a resident's ring mode set from the console or the API (scoped, audited), and what
the resident's page shows of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.checkins.ring import ring_mode, rings_of, set_ring_mode
from dispatch.exceptions import InvalidAction
from dispatch.models import Ring, RingMode
from dispatch.register.history import resident_in_scope

MODES = tuple(RingMode)


@dataclass(frozen=True)
class RingPanel:
    """The resident's ring mode and their rings since a moment."""

    mode: RingMode
    rings: list[Ring]


def change_ring_mode(
    session: Session,
    resident_id: int,
    mode: str,
    *,
    actor: audit.Actor,
    where: ColumnElement[bool],
    now: datetime,
) -> bool:
    """Set the resident's ring mode (off, fine or callback), in scope; audited when it changes.

    Returns:
        True if it changed; setting the mode it has changes nothing (a double click, a retry).

    Raises:
        NotFound: the resident is not in scope.
        InvalidAction: not one of the modes.
    """
    resident_in_scope(session, resident_id, where)  # first: a bad mode tells nothing outside the scope
    if mode not in MODES:
        raise InvalidAction(f"ring mode must be one of: {', '.join(MODES)}", "ring_mode")
    changed = set_ring_mode(session, resident_id, mode, actor.audit_ref)
    if changed:
        audit.record(session, actor, "edit", "resident", resident_id, f"ring_mode_{mode}", at=now)
    return changed


def ring_panel(session: Session, resident_id: int, since: datetime) -> RingPanel:
    """What the resident's page shows: the mode, and the rings counted since `since`."""
    return RingPanel(ring_mode(session, resident_id), rings_of(session, resident_id, since))
