"""What staff see of triage items: the board's open ones, the list, and one item with its messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dispatch.models import Community, Household, InboundMessage, Resident, Task, TriageItem, TriageStatus
from dispatch.phones import mask_phone
from dispatch.triage.items import item_messages, scoped_item

BOARD_LIMIT = 100
PAGE = 100
SAID_CUT = 60  # characters of the last message on the board and in the list


@dataclass(frozen=True)
class TriageRow:
    """One item as the board and the list show it. The number is masked: the list is for finding items."""

    id: int
    phone: str  # masked, e.g. 137****0001
    community: str
    status: str
    messages: int
    voicemails: int
    last_said: str
    created_at: datetime
    updated_at: datetime
    age_minutes: int


def statuses() -> list[str]:
    """The list's filter values: "open" (the default), each status, or "all"."""
    return [*(str(s) for s in TriageStatus), "all"]


def list_items(
    session: Session,
    where: ColumnElement[bool],
    now: datetime,
    *,
    status: str = "open",
    limit: int = PAGE,
    offset: int = 0,
) -> list[TriageRow]:
    """Items in `where` (`triage_scope`), open ones oldest first (the longest waiting on top), else newest first."""
    query = select(TriageItem, Community.name).outerjoin(Community, Community.id == TriageItem.community_id)
    query = query.where(where)
    if status != "all":
        query = query.where(TriageItem.status == status)
    order = (TriageItem.created_at, TriageItem.id) if status == "open" else (TriageItem.id.desc(),)
    rows = session.execute(query.order_by(*order).limit(limit).offset(max(0, offset))).all()
    ids = [item.id for item, _ in rows]
    counts = _counts(session, ids)
    last = _last_said(session, ids)
    return [
        TriageRow(
            id=item.id,
            phone=mask_phone(item.phone),
            community=community or "-",
            status=str(item.status),
            messages=counts.get(item.id, (0, 0))[0],
            voicemails=counts.get(item.id, (0, 0))[1],
            last_said=last.get(item.id, "")[:SAID_CUT],
            created_at=item.created_at,
            updated_at=item.updated_at,
            age_minutes=max(0, int((now - item.created_at).total_seconds() // 60)),
        )
        for item, community in rows
    ]


def open_items(session: Session, now: datetime, where: ColumnElement[bool]) -> list[TriageRow]:
    """The board's section: the open items in scope, the longest waiting first."""
    return list_items(session, where, now, status="open", limit=BOARD_LIMIT)


def _counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int]]:
    if not ids:
        return {}
    has_voicemail = func.coalesce(func.length(InboundMessage.recording_url), 0) > 0
    rows = session.execute(
        select(InboundMessage.triage_item_id, func.count(), func.count().filter(has_voicemail))
        .where(InboundMessage.triage_item_id.in_(ids))
        .group_by(InboundMessage.triage_item_id)
    ).all()
    return {item_id: (int(total), int(voicemails)) for item_id, total, voicemails in rows if item_id is not None}


def _last_said(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    latest = (
        select(func.max(InboundMessage.id))
        .where(InboundMessage.triage_item_id.in_(ids))
        .group_by(InboundMessage.triage_item_id)
    )
    rows = session.execute(
        select(InboundMessage.triage_item_id, InboundMessage.body).where(InboundMessage.id.in_(latest))
    ).all()
    return {item_id: body or "" for item_id, body in rows if item_id is not None}


@dataclass(frozen=True)
class ItemMessage:
    """One message on an item: what was said (or chosen on a call), and the tasks it made."""

    id: int
    received_at: datetime
    channel: str
    body: str
    need: str | None
    voicemail: bool
    outcome: str | None
    task_ids: tuple[int, ...]


@dataclass(frozen=True)
class ItemDetail:
    """One item with its whole story. The number is in full: staff may need to call it back."""

    id: int
    phone: str
    phone_masked: str
    community: str | None
    status: str
    note: str
    resident_id: int | None
    resident: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    messages: tuple[ItemMessage, ...]
    # Residents in scope who gave this number as their emergency contact: often a relative texting for them.
    suggested: tuple[tuple[int, str], ...]

    @property
    def open(self) -> bool:
        return self.status == TriageStatus.OPEN

    def as_dict(self) -> dict[str, Any]:
        """As JSON values (times in ISO 8601)."""
        data = asdict(self)
        for key in ("created_at", "updated_at", "closed_at"):
            data[key] = data[key].isoformat() if data[key] else None
        for message in data["messages"]:
            message["received_at"] = message["received_at"].isoformat()
            message["task_ids"] = list(message["task_ids"])
        data["suggested"] = [{"id": rid, "name": name} for rid, name in self.suggested]
        return data


def item_detail(
    session: Session, item_id: int, where: ColumnElement[bool], resident_where: ColumnElement[bool]
) -> ItemDetail:
    """One item in `where`, its messages oldest first; `resident_where` (`household_scope`) bounds the suggestions.

    Raises:
        NotFound: no such item, or not in scope.
    """
    item = scoped_item(session, item_id, where)
    messages = item_messages(session, item.id)
    made: dict[int, list[int]] = {}
    for task_id, message_id in session.execute(
        select(Task.id, Task.source_message_id).where(Task.source_message_id.in_([m.id for m in messages]))
    ):
        if message_id is not None:
            made.setdefault(message_id, []).append(task_id)
    community = session.get(Community, item.community_id) if item.community_id else None
    resident = session.get(Resident, item.resident_id) if item.resident_id else None
    suggested = session.execute(
        select(Resident.id, Resident.name)
        .join(Household, Household.id == Resident.household_id)
        .where(Resident.emergency_contact_phone == item.phone, resident_where)
        .order_by(Resident.name, Resident.id)
        .limit(20)
    ).all()
    return ItemDetail(
        id=item.id,
        phone=item.phone,
        phone_masked=mask_phone(item.phone),
        community=community.name if community else None,
        status=str(item.status),
        note=item.note,
        resident_id=resident.id if resident else None,
        resident=resident.name if resident else None,
        created_at=item.created_at,
        updated_at=item.updated_at,
        closed_at=item.closed_at,
        closed_by=item.closed_by,
        messages=tuple(
            ItemMessage(
                id=m.id,
                received_at=m.received_at,
                channel=m.channel,
                body=m.body,
                need=m.need,
                voicemail=bool(m.recording_url),
                outcome=str(m.outcome) if m.outcome else None,
                task_ids=tuple(sorted(made.get(m.id, []))),
            )
            for m in messages
        ),
        suggested=tuple((rid, name) for rid, name in suggested),
    )
