"""What staff do with a triage item, from the console or the API: link it to a resident, register a new resident
from it, or close it with a note.

Linking adds the number to the resident as an extra phone, through the register's own edit (with its checks:
a liaison's number, the same person twice, a number of another country); registering adds a resident with the
number. Either way the item's messages are then handled as that resident's (`handover`): their needs become tasks
for the household's liaison. Each action locks the item, checks its scope and that it is still open, and records
an audit entry, all in the caller's transaction. A second submit finds the item dealt with and is refused, saying
so: nothing is done twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.context import DispatchContext
from dispatch.exceptions import AlreadyRegistered, InvalidAction, InvalidPhoneNumber
from dispatch.models import Community, Resident, TriageItem, TriageStatus
from dispatch.phones import mask_phone
from dispatch.register import Address, add_resident, set_liaisons, update_resident
from dispatch.register.edit import MAX_NAME
from dispatch.register.history import resident_in_scope
from dispatch.staff_accounts import Principal
from dispatch.triage.handover import handle_as_registered
from dispatch.triage.items import ensure_open, finish, item_messages, scoped_item

NOTE_LIMIT = 500
ADDRESS_LIMIT = 40


@dataclass
class Handled:
    """What an action did: the resident the messages are now from, the tasks they made, the SMS decided."""

    item_id: int
    status: str
    resident_id: int | None = None
    phone_added: bool = False
    task_ids: list[int] = field(default_factory=list)
    outbound_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class LinkPreview:
    """What linking would do, for staff to confirm first."""

    item_id: int
    phone_masked: str
    resident_id: int
    resident: str
    address: str
    phones_now: tuple[str, ...]  # masked
    adds_phone: bool  # False: the resident already has the number
    messages: int


def link_preview(
    session: Session,
    item_id: int,
    resident_id: int,
    *,
    where: ColumnElement[bool],
    resident_where: ColumnElement[bool],
) -> LinkPreview:
    """What `link_resident` would do; changes nothing.

    Raises:
        NotFound: the item or the resident is not in scope.
        InvalidAction: the item is not open.
    """
    item = scoped_item(session, item_id, where)
    ensure_open(item, "linked")
    resident = resident_in_scope(session, resident_id, resident_where)
    household = resident.household
    community = household.community.name if household.community else None
    parts = (community, household.building, household.unit, household.room)
    return LinkPreview(
        item_id=item.id,
        phone_masked=mask_phone(item.phone),
        resident_id=resident.id,
        resident=resident.name,
        address=" ".join(p for p in parts if p) or f"#{household.id}",
        phones_now=tuple(mask_phone(p.phone) for p in resident.phones),
        adds_phone=item.phone not in {p.phone for p in resident.phones},
        messages=len(item_messages(session, item.id)),
    )


def link_resident(
    session: Session,
    item_id: int,
    resident_id: int,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    resident_where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> Handled:
    """Add the item's number to a resident as their last phone, then handle its messages as theirs.

    Args:
        session: A session inside the transaction the caller commits.
        item_id: The triage item.
        resident_id: The resident the number belongs to.
        actor: Who does it (a staff account or a token).
        where: The actor's triage scope (`triage_scope`).
        resident_where: The actor's register scope (`household_scope`).
        now: The current time.
        context: Words, texts and settings for intake.

    Returns:
        What was done; the caller hands `outbound_ids` to the gateway after the commit.

    Raises:
        NotFound: the item or the resident is not in scope.
        InvalidAction: the item is not open, or the register refuses the number (`EditRefused` names why).
    """
    item = scoped_item(session, item_id, where, lock=True)
    ensure_open(item, "linked")
    resident = resident_in_scope(session, resident_id, resident_where)
    numbers = [p.phone for p in resident.phones]
    added = item.phone not in numbers
    if added:
        update_resident(
            session,
            resident.id,
            {"phones": [*numbers, item.phone]},
            actor=actor,
            where=resident_where,
            region=context.region,
        )
    finish(item, TriageStatus.LINKED, actor, now)
    item.resident_id = resident.id
    audit.record(session, actor, "link", "triage", item.id, f"resident:{resident.id}", at=now)
    return _hand_over(session, item, Handled(item.id, str(item.status), resident.id, added), context, now)


def register_resident(
    session: Session,
    item_id: int,
    *,
    name: str,
    building: str = "",
    unit: str = "",
    room: str = "",
    liaison_id: int | None = None,
    community_id: int | None = None,
    actor: Principal,
    where: ColumnElement[bool],
    resident_where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> Handled:
    """Register a new resident with the item's number, in the item's community, then handle its messages as theirs.

    Args:
        name: The resident's name.
        building, unit, room: Their address in the community; a complete address already on the register joins
            that household.
        liaison_id: Their household's primary liaison, one the actor may assign; None: none yet.
        community_id: Only for an item with no community (admins): where they live.
        (The rest as for `link_resident`.)

    Raises:
        NotFound: the item is not in scope.
        InvalidAction: the item is not open, or a field is bad (the message names it).
    """
    item = scoped_item(session, item_id, where, lock=True)
    ensure_open(item, "registered")
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidAction(f"name: 1 to {MAX_NAME} characters")
    parts = [part.strip() for part in (building, unit, room)]
    if any(len(part) > ADDRESS_LIMIT for part in parts):
        raise InvalidAction(f"building, unit and room: at most {ADDRESS_LIMIT} characters each")
    community = session.get(Community, item.community_id or community_id or 0)
    if community is None:
        raise InvalidAction("community: this number's messages belong to no community; choose one")
    address = Address(community.name, *(part or None for part in parts))
    try:
        resident = add_resident(session, name=name, phones=[item.phone], region=context.region, address=address)
    except (AlreadyRegistered, InvalidPhoneNumber, ValueError) as exc:
        raise InvalidAction(f"the register refuses this resident: {exc}") from None
    resident_in_scope(session, resident.id, resident_where)  # an admin's choice of community aside, always true
    audit.record(session, actor, "add", "resident", resident.id, f"triage:{item.id}", at=now)
    if liaison_id is not None:
        set_liaisons(
            session,
            resident.id,
            primary_id=liaison_id,
            backup_id=resident.household.backup_liaison_id,
            actor=actor,
            where=resident_where,
        )
    finish(item, TriageStatus.REGISTERED, actor, now)
    item.resident_id = resident.id
    audit.record(session, actor, "register", "triage", item.id, f"resident:{resident.id}", at=now)
    return _hand_over(session, item, Handled(item.id, str(item.status), resident.id, True), context, now)


def close_item(
    session: Session, item_id: int, note: str, *, actor: Principal, where: ColumnElement[bool], now: datetime
) -> Handled:
    """Close the item with a note (a wrong number, a relative already helped): nothing else is done.

    Raises:
        NotFound: the item is not in scope.
        InvalidAction: the item is not open, or the note is empty or too long.
    """
    note = note.strip()
    if not note or len(note) > NOTE_LIMIT:
        raise InvalidAction(f"a note needs 1 to {NOTE_LIMIT} characters")
    item = scoped_item(session, item_id, where, lock=True)
    ensure_open(item, "closed")
    finish(item, TriageStatus.CLOSED, actor, now)
    item.note = note
    audit.record(session, actor, "close", "triage", item.id, at=now)
    return Handled(item.id, str(item.status))


def _hand_over(session: Session, item: TriageItem, done: Handled, context: DispatchContext, now: datetime) -> Handled:
    """Each of the item's messages, oldest first, handled as its resident's."""
    session.flush()  # the number is on the register now: intake must find it
    for message in item_messages(session, item.id):
        result = handle_as_registered(session, message.id, context, now)
        done.task_ids += [task_id for task_id in result.task_ids if task_id not in done.task_ids]
        done.outbound_ids += result.outbound_ids
    return done


def resident_name(session: Session, resident_id: int | None) -> str | None:
    """A resident's name, for a page that says what was done."""
    return session.scalar(select(Resident.name).where(Resident.id == resident_id)) if resident_id else None
