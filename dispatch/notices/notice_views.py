"""How far each notice is, and which notices a member of staff may see.

Visibility: a notice to a community or a category is seen by staff who see a household of its community; to a
grid, by those who see a household of that grid; a category notice to the whole register (an admin's, community
unset) only by staff who see every household.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from dispatch.exceptions import NotFound
from dispatch.models import AuditEntry, Community, Grid, Household, Notice, OutboundMessage
from dispatch.notices.notice_plan import outside_scope

LIST_LIMIT = 100
STATUSES = ("scheduled", "sending", "sent", "cancelled")  # a notice's, in words on its pages
STAGES = ("pending", "sent", "delivered", "failed")  # a notice's progress; a call's "sent" is "placed"
_STAGE = {"sending": "pending", "unknown": "sent", "undelivered": "failed", "cancelled": "failed"}  # others: as named


@dataclass(frozen=True)
class NoticeProgress:
    """One notice and how far its copies are, per channel: pending, sent (a call: placed), delivered, failed."""

    id: int
    body: str
    channels: str
    target_kind: str
    target: str
    community: str | None
    recipients: int
    created_at: datetime
    sent_by: str
    counts: dict[str, dict[str, int]]  # "sms" / "call" → stage → copies, and "total"
    stored_status: str = "started"  # as stored: scheduled, started, cancelled
    starts_at: datetime | None = None  # the time it was scheduled for; None: sent at once
    started_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.stored_status != "scheduled" and all(c["pending"] == 0 for c in self.counts.values())

    @property
    def status(self) -> str:
        """One of STATUSES: scheduled (waits for its time), sending (copies still pending), sent, cancelled."""
        if self.stored_status in ("scheduled", "cancelled"):
            return self.stored_status
        return "sent" if self.done else "sending"

    @property
    def cancellable(self) -> bool:
        return self.stored_status == "scheduled"

    def as_dict(self) -> dict[str, Any]:
        found = {**asdict(self), "created_at": self.created_at.isoformat(), "done": self.done, "status": self.status}
        found.pop("stored_status")
        for key in ("starts_at", "started_at"):
            moment = getattr(self, key)
            found[key] = moment.isoformat() if moment is not None else None
        return found


def visible_notices(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """Notices the scope may see; see the module's description."""
    in_community = exists(select(Household.id).where(where, Household.community_id == Notice.community_id))
    in_grid = exists(
        select(Household.id)
        .join(Grid, Grid.id == Household.grid_id)
        .where(where, Grid.community_id == Notice.community_id, Grid.name == Notice.target)
    )
    everything = not_(exists(select(Household.id).where(outside_scope(where))))
    return or_(
        and_(Notice.target_kind == "grid", in_grid),
        and_(Notice.target_kind != "grid", Notice.community_id.is_not(None), in_community),
        and_(Notice.community_id.is_(None), everything),
    )


def _progress(session: Session, notices: list[Notice]) -> list[NoticeProgress]:
    ids = [n.id for n in notices]
    counts: dict[int, dict[str, dict[str, int]]] = {i: {} for i in ids}
    if ids:
        rows = session.execute(
            select(OutboundMessage.notice_id, OutboundMessage.kind, OutboundMessage.status, func.count())
            .where(OutboundMessage.notice_id.in_(ids))
            .group_by(OutboundMessage.notice_id, OutboundMessage.kind, OutboundMessage.status)
        )
        for notice_id, kind, status, count in rows:
            assert notice_id is not None
            channel = counts[notice_id].setdefault(kind, {**dict.fromkeys(STAGES, 0), "total": 0})
            channel[_STAGE.get(status, status)] += count
            channel["total"] += count
    names = {
        row.object_id: row.actor_name
        for row in session.execute(
            select(AuditEntry.object_id, AuditEntry.actor_name).where(
                AuditEntry.object_kind == "notice",
                AuditEntry.action.in_(("send", "schedule")),
                AuditEntry.object_id.in_(ids),
            )
        )
    }
    communities = {row.id: row.name for row in session.execute(select(Community.id, Community.name))}
    found = []
    for n in notices:
        by_channel = dict(sorted(counts[n.id].items(), key=lambda kv: kv[0] != "sms"))  # SMS first
        found.append(
            NoticeProgress(
                id=n.id,
                body=n.body,
                channels=n.channels,
                target_kind=n.target_kind,
                target=n.target,
                community=communities.get(n.community_id) if n.community_id else None,
                recipients=n.recipients,
                created_at=n.created_at,
                sent_by=names.get(n.id) or n.created_by,
                counts=by_channel,
                stored_status=n.status,
                starts_at=n.starts_at,
                started_at=n.started_at,
            )
        )
    return found


def notice_progress(session: Session, notice_id: int, where: ColumnElement[bool]) -> NoticeProgress:
    """One notice and how far it is. Raises NotFound if there is no such notice in scope (one answer for both)."""
    notice = session.scalar(select(Notice).where(Notice.id == notice_id, visible_notices(where)))
    if notice is None:
        raise NotFound("notice", str(notice_id))
    return _progress(session, [notice])[0]


def list_notices(session: Session, where: ColumnElement[bool], limit: int = LIST_LIMIT) -> list[NoticeProgress]:
    """The latest notices in scope, newest first, each with its progress."""
    query = select(Notice).where(visible_notices(where)).order_by(Notice.id.desc()).limit(limit)
    notices = list(session.scalars(query))
    return _progress(session, notices)
