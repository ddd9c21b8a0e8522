"""A resident's care circle (关怀圈): up to three family contacts staff add with the resident's consent, who are
told, by SMS or by an automated call as each prefers (`tell_by`), when the day's check-in is still unanswered at its
deadline and when someone is on their way, and who may answer the check-in for the resident by SMS
(`dispatch.circle_replies`).

A contact is messaged only when the resident's consent is recorded (who recorded it, when, how) and they have not
opted out (退订/STOP/TD, or staff on their word); removed contacts are kept, so an opt-out is never forgotten.
Every message names only the contact's own resident and goes through the outbox under a dedupe key, so a repeated
step sends nothing twice. A contact told by call hears the text's spoken sibling (`<key>_call`): no reply to make,
and to stop they ask the community (no 退订 by voice). Where the community's channels place no spoken calls it goes
as an SMS of the same words (`hotline.jobs.sends._route`). `tell_circle` is the one way other features tell a
circle something.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch.exceptions import InvalidAction, InvalidPhoneNumber
from dispatch.models import (
    Checkin,
    CircleContact,
    ConsentWay,
    Resident,
    Task,
    TaskCategory,
    TellBy,
)
from dispatch.outbox import queue_sms
from dispatch.phones import mask_phone, normalize_phone
from dispatch.texts import MessageCatalog

if TYPE_CHECKING:
    from dispatch.context import DispatchContext

MAX_CONTACTS = 3
LANGUAGES = ("zh-CN", "en")
NAME_LIMIT, RELATION_LIMIT = 100, 40


@dataclass(frozen=True)
class ContactFields:
    """What staff give for one contact; `consent_way` empty: the resident's consent is not recorded yet."""

    name: str
    relation: str
    phone: str
    language: str = "zh-CN"
    consent_way: str = ""
    tell_by: str = TellBy.SMS


def circle_of(session: Session, resident_id: int) -> list[CircleContact]:
    """The resident's contacts, removed ones left out, in the order added."""
    query = select(CircleContact).where(CircleContact.resident_id == resident_id, CircleContact.removed_at.is_(None))
    return list(session.scalars(query.order_by(CircleContact.id)))


def reachable_contacts(session: Session, resident_id: int) -> list[CircleContact]:
    """The contacts that may be messaged: consent recorded, not opted out, not removed."""
    return [c for c in circle_of(session, resident_id) if c.reachable]


def tell_circle(
    session: Session,
    resident: Resident,
    text_key: str,
    now: datetime,
    context: DispatchContext,
    dedupe: str,
    **params: object,
) -> int:
    """Queue one SMS (`text_key` of ivr_scripts/sms_texts.toml, in each contact's language, with `resident_name`,
    `contact_name`, `relation` and `params` filled in), or for a contact told by call one call saying `text_key`'s
    spoken sibling `<text_key>_call`, to each reachable contact of `resident`, once per `dedupe` and contact (key
    `circle:<dedupe>:<contact id>`). Returns how many were queued now (0 on a repeat)."""
    return len(queue_for_circle(session, resident, text_key, context.catalog, dedupe, **params))


def queue_for_circle(
    session: Session, resident: Resident, text_key: str, catalog: MessageCatalog, dedupe: str, **params: object
) -> list[int]:
    """`tell_circle`, returning the outbound ids queued now, for the caller to hand to the gateway."""
    outbound = []
    for sms in circle_sms(reachable_contacts(session, resident.id), resident, text_key, catalog, dedupe, **params):
        row = queue_sms(session, **sms)  # type: ignore[arg-type]
        outbound += [row.id] if row else []
    return outbound


def _message(
    contact: CircleContact,
    resident: Resident,
    text_key: str,
    catalog: MessageCatalog,
    dedupe_key: str,
    **params: object,
) -> dict[str, object]:
    """One message to `contact`, as they are told, as `queue_sms`'s arguments: an SMS of `text_key`, or a call
    saying `<text_key>_call`."""
    by_call = contact.tell_by == TellBy.CALL
    body = catalog.render(
        f"{text_key}_call" if by_call else text_key,
        contact.language,
        resident_name=resident.name,
        contact_name=contact.name,
        relation=contact.relation,
        **params,
    )
    return {
        "dedupe_key": dedupe_key,
        "to_phone": contact.phone,
        "body": body,
        "kind": "call" if by_call else "sms",
        "language": contact.language,
    }


def circle_sms(
    contacts: Sequence[CircleContact],
    resident: Resident,
    text_key: str,
    catalog: MessageCatalog,
    dedupe: str,
    **params: object,
) -> list[dict[str, object]]:
    """`queue_for_circle`'s messages (an SMS, or a call for a contact told by call) to these reachable contacts of
    `resident`, as `queue_sms`'s arguments."""
    return [
        _message(contact, resident, text_key, catalog, f"circle:{dedupe}:{contact.id}", **params)
        for contact in contacts
    ]


def reachable_of(session: Session, resident_ids: Sequence[int]) -> dict[int, list[CircleContact]]:
    """`reachable_contacts` of many residents in one statement: by resident, in the order added."""
    found: dict[int, list[CircleContact]] = {}
    if resident_ids:
        current = CircleContact.resident_id.in_(sorted(set(resident_ids))) & CircleContact.removed_at.is_(None)
        for contact in session.scalars(select(CircleContact).where(current).order_by(CircleContact.id)):
            if contact.reachable:
                found.setdefault(contact.resident_id, []).append(contact)
    return found


def no_answer_sms(
    checkin: Checkin, contacts: Sequence[CircleContact], catalog: MessageCatalog
) -> list[dict[str, object]]:
    """The check-in is still unanswered at its deadline (the ladder's visit rung): the SMS that tell the circle
    (its resident's reachable `contacts`), once (dedupe `circle:checkin:<id>:no-answer:<contact>`), as
    `queue_sms`'s arguments; the ladder queues a pass's together."""
    return circle_sms(contacts, checkin.resident, "circle_no_answer", catalog, f"checkin:{checkin.id}:no-answer")


def tell_on_the_way(session: Session, task: Task, liaison_name: str, catalog: MessageCatalog) -> list[int]:
    """A liaison took the visit task of an unanswered check-in: each of its residents' circles is told, once."""
    if task.category != TaskCategory.VISIT:
        return []
    checkins = session.scalars(select(Checkin).where(Checkin.visit_task_id == task.id).order_by(Checkin.id)).all()
    outbound: list[int] = []
    for checkin in checkins:
        dedupe = f"checkin:{checkin.id}:on-the-way"
        outbound += queue_for_circle(
            session, checkin.resident, "circle_on_the_way", catalog, dedupe, liaison_name=liaison_name
        )
    return outbound


# ── Staff keep the circle ───────────────────────────────────────────────────────────────────────────────────────


def add_contact(
    session: Session,
    resident: Resident,
    fields: ContactFields,
    *,
    staff_name: str,
    region: str,
    now: datetime,
    catalog: MessageCatalog,
    request_key: str | None = None,
) -> tuple[CircleContact, list[int]]:
    """Add a contact to `resident`'s circle; with consent recorded, they get one welcome (SMS or call).

    A repeated request (the same `request_key`) finds the contact it made and changes nothing.

    Raises:
        InvalidAction: a field is missing or bad, the circle is full, the number is in it already, or it opted out
            of this circle before (its key names the console's sentence).
    """
    # The resident's row lock: two adds at the same moment run one after the other, so the second sees the first's
    # contact (its key, its number, the limit) before it checks.
    session.execute(select(Resident.id).where(Resident.id == resident.id).with_for_update())
    if request_key:
        made = session.scalar(select(CircleContact).where(CircleContact.request_key == request_key))
        if made is not None:
            if made.resident_id != resident.id:
                raise InvalidAction("that request key was used for another resident", "request_key")
            return made, []
    name, relation, phone, language, way, tell_by = _checked(fields, region)
    current = circle_of(session, resident.id)
    if len(current) >= MAX_CONTACTS:
        raise InvalidAction(f"a care circle has at most {MAX_CONTACTS} contacts", "circle_full", limit=MAX_CONTACTS)
    if any(c.phone == phone for c in current):
        raise InvalidAction("that number is in the circle already", "circle_same_phone")
    _refuse_opted_out(session, resident.id, phone)
    contact = CircleContact(
        resident_id=resident.id,
        resident=resident,
        name=name,
        relation=relation,
        phone=phone,
        language=language,
        tell_by=tell_by,
        request_key=request_key or None,
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    _consent(contact, way, staff_name, now)
    session.flush()
    return contact, welcome(session, contact, catalog)


def update_contact(
    session: Session,
    contact: CircleContact,
    fields: ContactFields,
    *,
    staff_name: str,
    region: str,
    now: datetime,
    catalog: MessageCatalog,
) -> list[int]:
    """Change a contact's name, relation, number, language, way of being told or consent. Consent recorded now
    (or, with consent, a new number or told by call for the first time) sends the welcome in the contact's way; the
    same form sent twice changes nothing more.

    Raises:
        InvalidAction: as `add_contact`, or the contact was removed.
    """
    if contact.removed_at is not None:
        raise InvalidAction("that contact was removed from the circle", "circle_removed")
    name, relation, phone, language, way, tell_by = _checked(fields, region)
    if phone != contact.phone:
        # The resident's row lock, as `add_contact` takes it: a new number and an add of the same number at the
        # same moment run one after the other, so the second sees the first's number before it checks.
        session.execute(select(Resident.id).where(Resident.id == contact.resident_id).with_for_update())
        if any(c.phone == phone for c in circle_of(session, contact.resident_id) if c.id != contact.id):
            raise InvalidAction("that number is in the circle already", "circle_same_phone")
        _refuse_opted_out(session, contact.resident_id, phone)
        if contact.opted_out_at is not None:
            raise InvalidAction("this contact opted out: add the new number as a new contact", "circle_opted_out")
    before = (contact.name, contact.relation, contact.phone, contact.language, contact.tell_by)
    changed = (name, relation, phone, language, tell_by) != before
    contact.name, contact.relation, contact.phone, contact.language = name, relation, phone, language
    contact.tell_by = tell_by
    if changed:
        contact.updated_at = now
    _consent(contact, way, staff_name, now)
    session.flush()
    return welcome(session, contact, catalog)


def opt_out(session: Session, contact: CircleContact, now: datetime) -> bool:
    """The contact wants no more messages (staff on their word). Returns False if they had opted out already."""
    if contact.opted_out_at is not None:
        return False
    contact.opted_out_at, contact.updated_at = now, now
    return True


def remove(session: Session, contact: CircleContact, now: datetime) -> bool:
    """Take the contact out of the circle (kept on record). Returns False if it was removed already."""
    if contact.removed_at is not None:
        return False
    contact.removed_at, contact.updated_at = now, now
    return True


def contact_of(session: Session, resident_id: int, contact_id: int) -> CircleContact | None:
    """The contact, if it is in this resident's circle (locked)."""
    contact = session.get(CircleContact, contact_id, with_for_update=True)
    return contact if contact is not None and contact.resident_id == resident_id else None


def welcome(session: Session, contact: CircleContact, catalog: MessageCatalog) -> list[int]:
    """The one welcome of a reachable contact at its number, in their way: whose circle, and how to opt out. A
    contact told by call is welcomed by call (they may be on a landline, and hear there how to stop), once per
    number; a contact whose way changes is welcomed once in the new way (each way has its own key)."""
    if not contact.reachable:
        return []
    way = ":call" if contact.tell_by == TellBy.CALL else ""  # SMS keys as they always were
    key = f"circle:welcome:{contact.id}:{contact.phone}{way}"
    row = queue_sms(session, **_message(contact, contact.resident, "circle_welcome", catalog, key))  # type: ignore[arg-type]
    return [row.id] if row else []


def _checked(fields: ContactFields, region: str) -> tuple[str, str, str, str, ConsentWay | None, TellBy]:
    name, relation = fields.name.strip(), fields.relation.strip()
    if not name or len(name) > NAME_LIMIT:
        raise InvalidAction(f"a contact needs a name of 1 to {NAME_LIMIT} characters", "circle_name", limit=NAME_LIMIT)
    if not relation or len(relation) > RELATION_LIMIT:
        raise InvalidAction(
            f"say how they are related (女儿, 儿子…), 1 to {RELATION_LIMIT} characters",
            "circle_relation",
            limit=RELATION_LIMIT,
        )
    try:
        phone = normalize_phone(fields.phone, region)
    except InvalidPhoneNumber as exc:
        raise InvalidAction("that phone number cannot be read", "circle_phone") from exc
    if fields.language not in LANGUAGES:
        raise InvalidAction("choose a language from the list", "circle_language")
    way = fields.consent_way.strip()
    if way and way not in set(ConsentWay):
        raise InvalidAction("choose how the resident gave consent from the list", "circle_consent")
    if fields.tell_by not in set(TellBy):
        raise InvalidAction("choose how the contact is told (sms or call) from the list", "circle_tell_by")
    return name, relation, phone, fields.language, ConsentWay(way) if way else None, TellBy(fields.tell_by)


def _consent(contact: CircleContact, way: ConsentWay | None, staff_name: str, now: datetime) -> None:
    """Record the resident's consent (once: a repeat keeps who recorded it first and when); none given keeps any
    recorded before."""
    if way is None or contact.consent_at is not None:
        return
    contact.consent_way, contact.consent_by, contact.consent_at = way, staff_name[:100], now


def _refuse_opted_out(session: Session, resident_id: int, phone: str) -> None:
    """A number that opted out of this circle stays out: never added back by staff."""
    out = session.scalar(
        select(CircleContact.opted_out_at).where(
            CircleContact.resident_id == resident_id,
            CircleContact.phone == phone,
            CircleContact.opted_out_at.is_not(None),
        )
    )
    if out is not None:
        raise InvalidAction(f"{mask_phone(phone)} opted out of this circle", "circle_was_opted_out")


def contacts_by_phone(session: Session, phones: Sequence[str]) -> dict[str, list[CircleContact]]:
    """Reachable contacts with these numbers, by number, their residents loaded (for intake)."""
    if not phones:
        return {}
    rows = session.scalars(
        select(CircleContact)
        .where(
            CircleContact.phone.in_(sorted(set(phones))),
            CircleContact.consent_at.is_not(None),
            CircleContact.opted_out_at.is_(None),
            CircleContact.removed_at.is_(None),
        )
        .order_by(CircleContact.resident_id, CircleContact.id)
        .options(selectinload(CircleContact.resident).selectinload(Resident.household))
    )
    found: dict[str, list[CircleContact]] = {}
    for contact in rows:
        found.setdefault(contact.phone, []).append(contact)
    return found
