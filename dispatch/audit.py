"""The audit log: who viewed or changed which resident, task or notice, and when.

Every console page and API call that shows one resident or task, or changes anything, records one entry in the
same transaction as the change, so an entry exists exactly when the change does. Entries name fields and
categories, never phone numbers or health details.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import ApiToken, AuditEntry, StaffUser, utcnow

AUDIT_PAGE = 100


class Actor(Protocol):
    """Anyone who acts through the console or the API: a staff account or an API token."""

    @property
    def audit_name(self) -> str: ...

    @property
    def audit_ref(self) -> str: ...


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_kind: str,
    object_id: int | None = None,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    """Add one entry. Call it inside the transaction that makes the change it records."""
    session.add(
        AuditEntry(
            at=at or utcnow(),
            actor=actor.audit_ref[:64],
            actor_name=actor.audit_name[:100],
            action=action[:32],
            object_kind=object_kind[:16],
            object_id=object_id,
            detail=detail[:500],
        )
    )


def entries(
    session: Session,
    *,
    object_kind: str | None = None,
    object_id: int | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = AUDIT_PAGE,
) -> list[AuditEntry]:
    """The latest entries first, optionally for one object or one actor; `before_id` pages back."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if object_kind is not None:
        query = query.where(AuditEntry.object_kind == object_kind)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))


def actors(session: Session) -> list[tuple[str, str]]:
    """Everyone who can appear in the log, as (audit ref, name): staff accounts, then API tokens."""
    staff = session.scalars(select(StaffUser).order_by(StaffUser.display_name, StaffUser.id))
    found = [(user.audit_ref, f"{user.display_name} ({user.username})") for user in staff]
    tokens = session.scalars(select(ApiToken).order_by(ApiToken.name, ApiToken.id))
    return found + [(token.audit_ref, token.audit_name) for token in tokens]
