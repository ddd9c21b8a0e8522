"""The console's message views: what came in (inbox), what went out (outbox) and what failed to be delivered, SMS
only, newest first, a page at a time, within a staff scope.

A message is in scope by what it is about, so a liaison who serves two communities never shows one community's
errands to the other's clerk:
- an outbound SMS of a task: the task's household is in scope;
- an inbound SMS of a resident: the resident's household is; of an unknown number: its triage item is;
- any other SMS: its person is, by number: a resident of a household in scope, a liaison who serves one or belongs
  to one of its grids, or (clerks and admins) an unknown number on a triage item of the community; and nobody of a
  household outside the scope has that number (a liaison who also serves elsewhere: admins only).
Each line names its person as the register does (resident, liaison, or a number not on the register).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, CompoundSelect, Select, and_, not_, or_, select, true
from sqlalchemy.orm import Session, aliased

from dispatch.models import (
    Community,
    Household,
    InboundMessage,
    InboundOutcome,
    Liaison,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentPhone,
    Task,
    TriageItem,
)
from dispatch.provider_answers import provider_error
from dispatch.tasks.task_texts import hide_door_code

MESSAGES_PAGE = 50
Box = Literal["in", "out", "failed"]
FAILED = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)


@dataclass(frozen=True)
class Person:
    """Who a number belongs to, as staff know them."""

    role: Literal["resident", "liaison", "unknown"]
    name: str = ""
    resident_id: int | None = None  # a resident's page to open
    triage_id: int | None = None  # an unknown number's triage item, for staff who triage
    liaison_id: int | None = None  # a liaison's details, for staff who manage them


@dataclass(frozen=True)
class MessageLine:
    id: int
    at: datetime
    phone: str  # E.164; the page masks it
    body: str
    person: Person
    status: str = ""  # an outbound SMS's status; "" for one that came in
    error_code: int | None = None
    task_id: int | None = None

    @property
    def why(self) -> str:
        """What the provider's error code says, as a word the console has text for ("" for nothing more)."""
        if self.error_code is None:
            return ""
        meaning = provider_error(self.error_code)
        if meaning.opted_out:
            return "opted_out"
        if meaning.no_sms:
            return "landline"
        if meaning.check_number:
            return "check_number"
        if meaning.temporary:
            return "temporary"
        return "unreachable" if self.error_code in (30003, 30004) else ""


@dataclass(frozen=True)
class MessagePage:
    lines: list[MessageLine]
    more: bool  # another page after this one


def communities_in_scope(session: Session, where: ColumnElement[bool]) -> list[tuple[int, str]]:
    """The communities a household in scope belongs to, by name: the choices of the community filter."""
    ids = select(Household.community_id).where(where, Household.community_id.is_not(None))
    rows = session.execute(select(Community.id, Community.name).where(Community.id.in_(ids)).order_by(Community.name))
    return [(row.id, row.name) for row in rows]


def _resident_phones(where: ColumnElement[bool]) -> Select[str]:
    return (
        select(ResidentPhone.phone)
        .join(Resident, Resident.id == ResidentPhone.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .where(where)
    )


def _serving(where: ColumnElement[bool], household: type[Household] = Household) -> ColumnElement[bool]:
    """A filter on Liaison: those who serve (primary or backup) a household of `household` matching `where`."""
    primaries = select(household.primary_liaison_id).where(where, household.primary_liaison_id.is_not(None))
    backups = select(household.backup_liaison_id).where(where, household.backup_liaison_id.is_not(None))
    return or_(Liaison.id.in_(primaries), Liaison.id.in_(backups))


def _liaison_phones(where: ColumnElement[bool]) -> Select[str | None]:
    """Liaisons who serve a household in scope or belong to a grid that has one (as tasks can be assigned)."""
    grids = select(Household.grid_id).where(where, Household.grid_id.is_not(None))
    return select(Liaison.phone).where(Liaison.phone.is_not(None), _serving(where) | Liaison.grid_id.in_(grids))


def _phones_outside(where: ColumnElement[bool]) -> CompoundSelect[str]:
    """The numbers of people of a household outside the scope: its residents and the liaisons who serve it (as
    `managed_liaisons` reads a liaison who also serves elsewhere). Never NULL, so NOT IN reads them safely."""
    other = aliased(Household)
    outside = other.id.not_in(select(Household.id).where(where))
    residents = (
        select(ResidentPhone.phone)
        .join(Resident, Resident.id == ResidentPhone.resident_id)
        .join(other, other.id == Resident.household_id)
        .where(outside)
    )
    liaisons = select(Liaison.phone).where(Liaison.phone.is_not(None), _serving(outside, other))
    return residents.union(liaisons)


def _triage_phones(triage_where: ColumnElement[bool]) -> Select[str]:
    return select(TriageItem.phone).where(triage_where)


def scope_filters(
    where: ColumnElement[bool], triage_where: ColumnElement[bool], community_id: int | None = None
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The filters on InboundMessage and on OutboundMessage for staff with `where` (on Household) and
    `triage_where` (on TriageItem), narrowed to one community if `community_id`.

    An SMS that came in is in scope by its resident (the sender the intake matched), else by its triage item (an
    unknown number's), else (a liaison's, or one not read yet) by its number. One that went out is in scope by its
    task, else by its number. A number is in scope when someone in scope has it and nobody outside does: a liaison
    who also serves a household elsewhere texts about both, and nothing tells which, so only admins see it."""
    if community_id is not None:
        where = and_(where, Household.community_id == community_id)
        triage_where = and_(triage_where, TriageItem.community_id == community_id)
    phones = _resident_phones(where).union(_liaison_phones(where), _triage_phones(triage_where))
    by_phone = and_(InboundMessage.from_phone.in_(phones), InboundMessage.from_phone.not_in(_phones_outside(where)))
    to_phone = and_(OutboundMessage.to_phone.in_(phones), OutboundMessage.to_phone.not_in(_phones_outside(where)))
    residents = select(Resident.id).join(Household, Household.id == Resident.household_id).where(where)
    items = select(TriageItem.id).where(triage_where)
    as_liaison = InboundMessage.outcome == InboundOutcome.FROM_LIAISON  # a liaison who is also a resident
    of_resident = and_(InboundMessage.resident_id.is_not(None), or_(InboundMessage.outcome.is_(None), not_(as_liaison)))
    inbound = or_(
        and_(of_resident, InboundMessage.resident_id.in_(residents)),
        and_(not_(of_resident), InboundMessage.triage_item_id.in_(items)),
        and_(not_(of_resident), InboundMessage.triage_item_id.is_(None), by_phone),
    )
    tasks = select(Task.id).outerjoin(Household, Household.id == Task.household_id).where(where)
    outbound = or_(OutboundMessage.task_id.in_(tasks), and_(OutboundMessage.task_id.is_(None), to_phone))
    return inbound, outbound


def list_messages(
    session: Session,
    box: Box,
    where: ColumnElement[bool],
    triage_where: ColumnElement[bool],
    *,
    community_id: int | None = None,
    page: int = 1,
    size: int = MESSAGES_PAGE,
) -> MessagePage:
    """One page of a box, newest first: SMS that came in ("in"), that went out ("out"), or that went out and were
    not delivered ("failed"), within the scope (and the community, if given)."""
    inbound_scope, outbound_scope = scope_filters(where, triage_where, community_id)
    offset = (max(page, 1) - 1) * size
    lines: list[MessageLine]
    if box == "in":
        rows = session.execute(
            select(InboundMessage.id, InboundMessage.received_at, InboundMessage.from_phone, InboundMessage.body)
            .where(InboundMessage.channel == "sms", inbound_scope)
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(size + 1)
            .offset(offset)
        ).all()
        people = people_by_phone(session, [row.from_phone for row in rows], where, triage_where)
        lines = [MessageLine(r.id, r.received_at, r.from_phone, r.body, people[r.from_phone]) for r in rows]
    else:
        failed = OutboundMessage.status.in_(FAILED) if box == "failed" else true()
        found = session.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.created_at,
                OutboundMessage.to_phone,
                OutboundMessage.body,
                OutboundMessage.status,
                OutboundMessage.error_code,
                OutboundMessage.task_id,
            )
            .where(OutboundMessage.kind == "sms", outbound_scope, failed)
            .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
            .limit(size + 1)
            .offset(offset)
        ).all()
        people = people_by_phone(session, [row.to_phone for row in found], where, triage_where)
        lines = [
            MessageLine(
                r.id,
                r.created_at,
                r.to_phone,
                hide_door_code(r.body) if r.task_id else r.body,  # a visit's door code stays on the resident's page
                people[r.to_phone],
                str(r.status),
                r.error_code,
                r.task_id,
            )
            for r in found
        ]
    return MessagePage(lines[:size], len(lines) > size)


def people_by_phone(
    session: Session, phones: list[str], where: ColumnElement[bool], triage_where: ColumnElement[bool]
) -> dict[str, Person]:
    """Who each number is: a resident in scope (the first on the register, by id), else a liaison, else unknown
    (with its newest triage item in `triage_where`, if any)."""
    wanted = sorted(set(phones))
    found: dict[str, Person] = {}
    for phone, name, resident_id in session.execute(
        select(ResidentPhone.phone, Resident.name, Resident.id)
        .join(Resident, Resident.id == ResidentPhone.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .where(ResidentPhone.phone.in_(wanted), where)
        .order_by(Resident.id)
    ):
        found.setdefault(phone, Person("resident", name, resident_id))
    liaisons = select(Liaison.phone, Liaison.name, Liaison.id).where(Liaison.phone.in_(wanted)).order_by(Liaison.id)
    for liaison_phone, name, liaison_id in session.execute(liaisons):
        found.setdefault(str(liaison_phone), Person("liaison", name, liaison_id=liaison_id))
    unknown = [phone for phone in wanted if phone not in found]
    items = session.execute(
        select(TriageItem.phone, TriageItem.id)
        .where(TriageItem.phone.in_(unknown), triage_where)
        .order_by(TriageItem.id.desc())
    )
    for phone, item_id in items:
        found.setdefault(phone, Person("unknown", triage_id=item_id))
    return {phone: found.get(phone, Person("unknown")) for phone in wanted}
