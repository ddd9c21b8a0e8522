"""Triage items: where messages from a number not on the register wait for staff.

A message from an unknown number (an SMS, or a call's choice or voicemail) joins that number's open item, or opens
one. The item is on the board of the community whose number was texted or called (its duty phone), else of the
hotline's only community; with several communities and none of their numbers, only admins see it. A clerk sees
their community's items; a grid leader none (a number with no address belongs to no grid).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import Community, InboundMessage, StaffRole, TriageItem, TriageStatus
from dispatch.register import sole_community
from dispatch.staff_accounts import Principal


def community_for(session: Session, to_phone: str) -> Community | None:
    """Whose board a message to `to_phone` goes on: the community with that duty phone, else the only one."""
    found = session.scalars(select(Community).where(Community.duty_phone == to_phone).limit(2)).all()
    return found[0] if len(found) == 1 else sole_community(session)


def attach_to_item(session: Session, message: InboundMessage, now: datetime) -> TriageItem:
    """Put a message from an unknown number on its number's open item, opening one if there is none.

    Two messages of one number handled at once find one item: the unique `open_phone` decides, in one
    INSERT … ON CONFLICT DO NOTHING, and the item is then read locked."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    community = community_for(session, message.to_phone)
    for _ in range(2):  # a second round only if staff closed the item between the insert and the read
        session.execute(
            insert(TriageItem)
            .values(
                phone=message.from_phone,
                open_phone=message.from_phone,
                status=TriageStatus.OPEN,
                note="",
                community_id=community.id if community else None,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        item = session.scalar(
            select(TriageItem)
            .where(TriageItem.open_phone == message.from_phone)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if item is not None:
            item.updated_at = max(item.updated_at, now)
            message.triage_item_id = item.id
            return item
    raise RuntimeError("no open triage item could be made or found")  # the unique index makes this unreachable


def triage_scope(principal: Principal) -> ColumnElement[bool]:
    """A filter on TriageItem: the items this account or token may see and act on."""
    if principal.role == StaffRole.ADMIN:
        return true()
    if principal.role == StaffRole.CLERK and principal.community_id is not None:
        return TriageItem.community_id == principal.community_id
    return false()


def scoped_item(session: Session, item_id: int, where: ColumnElement[bool], *, lock: bool = False) -> TriageItem:
    """The item, if it exists and is in scope; locked for update if `lock`.

    Raises:
        NotFound: no such item, or not in scope (the same answer).
    """
    found = session.scalar(select(TriageItem.id).where(TriageItem.id == item_id, where))
    item = session.get(TriageItem, item_id, with_for_update=lock, populate_existing=lock) if found else None
    if item is None:
        raise NotFound("triage item", str(item_id))
    return item


def ensure_open(item: TriageItem, action: str) -> None:
    """Refuse to act on an item staff have already dealt with: a second submit changes nothing.

    Raises:
        InvalidAction: the item is linked, registered or closed.
    """
    if item.status != TriageStatus.OPEN:
        raise InvalidAction(
            f"triage item #{item.id} is {item.status} already; it cannot be {action}",
            "triage_closed",
            triage_status=item.status,
        )


def finish(item: TriageItem, status: TriageStatus, actor: Principal, now: datetime) -> None:
    """Mark the item dealt with; a later message from the number opens a new one."""
    item.status, item.open_phone = status, None
    item.closed_at, item.closed_by, item.updated_at = now, actor.audit_name[:64], now


def item_messages(session: Session, item_id: int) -> list[InboundMessage]:
    """The item's messages, oldest first."""
    query = select(InboundMessage).where(InboundMessage.triage_item_id == item_id).order_by(InboundMessage.id)
    return list(session.scalars(query))
