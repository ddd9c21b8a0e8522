"""Staff keep a resident's care circle, from the console or the API: within their scope (`resident_in_scope`: a
resident outside it is "not found"), each change in the audit log with the staff member's name as the consent's
recorder. The rules of the circle itself live in `dispatch.care_circle`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch import audit, care_circle
from dispatch.care_circle import ContactFields
from dispatch.exceptions import NotFound
from dispatch.models import CheckinEvent, CircleContact, Resident
from dispatch.phones import national_format
from dispatch.register.history import resident_in_scope
from dispatch.texts import MessageCatalog

FAMILY_ANSWERS_SHOWN = 5


@dataclass(frozen=True)
class ContactLine:
    """One contact as staff see it."""

    id: int
    name: str
    relation: str
    phone: str  # E.164
    phone_national: str
    language: str
    tell_by: str  # sms, call
    consent_way: str | None
    consent_by: str | None
    consent_at: datetime | None
    opted_out_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        """For the API."""
        return {
            "id": self.id,
            "name": self.name,
            "relation": self.relation,
            "phone": self.phone,
            "language": self.language,
            "tell_by": self.tell_by,
            "consent": {"way": self.consent_way, "recorded_by": self.consent_by, "at": _iso(self.consent_at)}
            if self.consent_at
            else None,
            "opted_out_at": _iso(self.opted_out_at),
            "messaged": self.consent_at is not None and self.opted_out_at is None,
        }


@dataclass(frozen=True)
class FamilyAnswer:
    """A check-in a family member answered for the resident."""

    at: datetime
    who: str  # relation and name: 女儿 王芳


@dataclass(frozen=True)
class CircleView:
    """A resident's circle: their contacts, room for more, the emergency contact not yet in it, recent family
    answers."""

    resident_id: int
    contacts: tuple[ContactLine, ...]
    room: bool
    emergency_name: str | None
    emergency_phone: str | None  # the register's emergency contact, when it is not in the circle yet
    answers: tuple[FamilyAnswer, ...]

    def as_dict(self) -> dict[str, object]:
        """For the API."""
        return {
            "resident_id": self.resident_id,
            "contacts": [c.as_dict() for c in self.contacts],
            "limit": care_circle.MAX_CONTACTS,
            "family_answers": [{"at": _iso(a.at), "who": a.who} for a in self.answers],
        }


def circle_view(session: Session, resident_id: int, where: ColumnElement[bool]) -> CircleView:
    """The circle of a resident in scope.

    Raises:
        NotFound: no such resident in scope.
    """
    resident = resident_in_scope(session, resident_id, where)
    contacts = care_circle.circle_of(session, resident.id)
    phones = {c.phone for c in contacts}
    emergency = resident.emergency_contact_phone
    answers = session.execute(
        select(CheckinEvent.at, CheckinEvent.detail)
        .join(CheckinEvent.checkin)
        .where(CheckinEvent.kind == "family_answer", CheckinEvent.checkin.has(resident_id=resident.id))
        .order_by(CheckinEvent.id.desc())
        .limit(FAMILY_ANSWERS_SHOWN)
    ).all()
    return CircleView(
        resident_id=resident.id,
        contacts=tuple(_line(c) for c in contacts),
        room=len(contacts) < care_circle.MAX_CONTACTS,
        emergency_name=resident.emergency_contact_name if emergency and emergency not in phones else None,
        emergency_phone=emergency if emergency and emergency not in phones else None,
        answers=tuple(FamilyAnswer(row.at, row.detail) for row in answers),
    )


def add(
    session: Session,
    resident_id: int,
    fields: ContactFields,
    *,
    actor: audit.Actor,
    where: ColumnElement[bool],
    now: datetime,
    catalog: MessageCatalog,
    region: str,
    request_key: str | None,
) -> tuple[ContactLine, list[int], bool]:
    """Add a contact to a resident in scope. Returns it, the SMS decided (the welcome), and whether it is new."""
    resident = resident_in_scope(session, resident_id, where)
    before = session.scalar(select(CircleContact.id).where(CircleContact.request_key == request_key))
    contact, outbound = care_circle.add_contact(
        session,
        resident,
        fields,
        staff_name=actor.audit_name,
        region=region,
        now=now,
        catalog=catalog,
        request_key=request_key,
    )
    if before is None:
        audit.record(session, actor, "circle_add", "resident", resident.id, _who(contact), at=now)
    return _line(contact), outbound, before is None


def update(
    session: Session,
    resident_id: int,
    contact_id: int,
    fields: ContactFields,
    *,
    actor: audit.Actor,
    where: ColumnElement[bool],
    now: datetime,
    catalog: MessageCatalog,
    region: str,
) -> tuple[ContactLine, list[int]]:
    """Change a contact of a resident in scope (its consent, name, relation, number, language, way of telling)."""
    contact = _contact(session, resident_id, contact_id, where)
    outbound = care_circle.update_contact(
        session, contact, fields, staff_name=actor.audit_name, region=region, now=now, catalog=catalog
    )
    audit.record(session, actor, "circle_edit", "resident", resident_id, _who(contact), at=now)
    return _line(contact), outbound


def opt_out(
    session: Session,
    resident_id: int,
    contact_id: int,
    *,
    actor: audit.Actor,
    where: ColumnElement[bool],
    now: datetime,
) -> ContactLine:
    """The contact asked staff for no more messages."""
    contact = _contact(session, resident_id, contact_id, where)
    if care_circle.opt_out(session, contact, now):
        audit.record(session, actor, "circle_opt_out", "resident", resident_id, _who(contact), at=now)
    return _line(contact)


def remove(
    session: Session,
    resident_id: int,
    contact_id: int,
    *,
    actor: audit.Actor,
    where: ColumnElement[bool],
    now: datetime,
) -> None:
    """Take a contact out of a resident's circle (kept on record)."""
    contact = _contact(session, resident_id, contact_id, where)
    if care_circle.remove(session, contact, now):
        audit.record(session, actor, "circle_remove", "resident", resident_id, _who(contact), at=now)


def _contact(session: Session, resident_id: int, contact_id: int, where: ColumnElement[bool]) -> CircleContact:
    resident: Resident = resident_in_scope(session, resident_id, where)
    contact = care_circle.contact_of(session, resident.id, contact_id)
    if contact is None or contact.removed_at is not None:
        raise NotFound("care circle contact", str(contact_id))
    return contact


def _line(contact: CircleContact) -> ContactLine:
    return ContactLine(
        contact.id,
        contact.name,
        contact.relation,
        contact.phone,
        national_format(contact.phone),
        contact.language,
        str(contact.tell_by),
        str(contact.consent_way) if contact.consent_way else None,
        contact.consent_by,
        contact.consent_at,
        contact.opted_out_at,
    )


def _who(contact: CircleContact) -> str:
    """The contact as an audit entry names them: relation and name, never the number."""
    return f"{contact.relation} {contact.name}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
