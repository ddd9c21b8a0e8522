"""One SMS a member of staff writes to a resident, or to the resident's liaison, from the resident's page.

It goes out like every SMS: decided into the outbox in the caller's transaction, handed to the gateway after the
commit. It is recorded in the audit log (who, to whom, when: never the text or the number). Each member of staff
may send at most `per_hour` in any hour, so a stuck key or a copied script cannot flood people's phones. The form's
key is part of the outbox row's dedupe key: the same form sent twice sends once; the same key with other words or
another recipient is refused, never read as the first. Sends by one member of staff are serialised (SQLite's BEGIN
IMMEDIATE; a PostgreSQL advisory transaction lock), so two at once cannot both slip under the cap.

Quiet hours do not apply: they hold back automated contact, and notices by SMS are sent in them too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.exceptions import InvalidAction
from dispatch.models import AuditEntry, OutboundMessage, Resident, ResidentStatus
from dispatch.outbox import queue_sms
from dispatch.register.history import resident_in_scope
from dispatch.segments import count_segments
from dispatch.sms_templates import TemplateTable
from dispatch.staff_accounts import Principal

BODY_LIMIT = 300  # characters, as a notice: five SMS segments in Chinese
RECIPIENTS = ("resident", "liaison", "backup")  # the resident's first mobile, the household's primary or backup liaison
_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class StaffSmsRefused(InvalidAction):
    """Why the SMS was not sent: `code` names it (the console says it in words from its catalog), `values` fill the
    words in."""

    def __init__(self, code: str, message: str, **values: object) -> None:
        self.code = code
        self.values = values
        super().__init__(message)


@dataclass(frozen=True)
class Recipient:
    kind: str  # one of RECIPIENTS
    name: str
    phone: str
    liaison_id: int | None = None


@dataclass(frozen=True)
class StaffSms:
    """The SMS a request decided, or found decided by the same request (`created` False: nothing more to send)."""

    outbound_id: int
    created: bool
    recipient: Recipient
    outbound: list[int] = field(default_factory=list)  # to hand to the gateway after the commit


def recipients(resident: Resident) -> list[Recipient]:
    """Whom staff may text from the resident's page: the resident (their first number that is not a landline,
    unless they asked for no messages or moved away) and the household's active liaisons with a phone."""
    found = []
    mobile = next((p.phone for p in resident.phones if not p.landline), None)
    if mobile is not None and resident.status not in (ResidentStatus.OPTED_OUT, ResidentStatus.MOVED_AWAY):
        found.append(Recipient("resident", resident.name, mobile))
    household = resident.household
    for kind, liaison in (("liaison", household.primary_liaison), ("backup", household.backup_liaison)):
        if liaison is not None and liaison.active and liaison.phone:
            found.append(Recipient(kind, liaison.name, liaison.phone, liaison.id))
    return found


def send_staff_sms(
    session: Session,
    resident_id: int,
    to: str,
    body: str,
    *,
    request_key: str,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    per_hour: int,
    templates: TemplateTable | None = None,
) -> StaffSms:
    """Decide one SMS from staff to the resident or their liaison, in scope, capped and audited.

    Args:
        to: One of RECIPIENTS.
        body: The text, 1 to BODY_LIMIT characters once trimmed.
        request_key: The form's own key (8-64 of A-Z a-z 0-9 _ -): the same key and request send once.
        per_hour: The most SMS this member of staff may send in any hour.
        templates: When the gateway sends approved templates only (Tencent's): the text must fit the notice one.

    Raises:
        NotFound: the resident is not in scope.
        StaffSmsRefused: a bad key or recipient, an empty or too long text, the key used before for another SMS,
            the hourly cap reached, a text the gateway's templates cannot carry; nothing was decided.
    """
    if not _REQUEST_KEY.match(request_key):
        raise StaffSmsRefused("bad_key", "request key: 8-64 of A-Z, a-z, 0-9, '_', '-'")
    resident = resident_in_scope(session, resident_id, where)  # first: a key tells nothing outside the scope
    chosen = next((r for r in recipients(resident) if r.kind == to), None)
    if chosen is None:
        raise StaffSmsRefused("no_recipient", "choose whom to send it to: the resident, or a liaison with a mobile")
    body = body.strip()
    if not body or "\x00" in body:
        raise StaffSmsRefused("empty", "write the message")
    if len(body) > BODY_LIMIT:
        raise StaffSmsRefused(
            "too_long", f"the text has {len(body)} characters; at most {BODY_LIMIT}", length=len(body), limit=BODY_LIMIT
        )
    if templates is not None and templates.notice_problem(body) is not None:
        limit = templates.notice_longest
        raise StaffSmsRefused("template_unfit", f"at most {limit} characters and no link here", limit=limit)
    _serialise(session, actor)
    key = f"staff-sms:{actor.audit_ref}:{request_key}"
    earlier = session.execute(
        select(OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.body).where(
            OutboundMessage.dedupe_key == key
        )
    ).first()
    if earlier is not None:
        if (earlier.to_phone, earlier.body) != (chosen.phone, body):
            raise StaffSmsRefused("key_reused", "this form was sent before with another message; open the page again")
        return StaffSms(earlier.id, False, chosen)
    # Counted in the audit log, whose entry is written with each SMS (the log's index on time keeps it to the hour).
    sent = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.at > now - timedelta(hours=1),
            AuditEntry.actor == actor.audit_ref[:64],
            AuditEntry.action == "sms",
            AuditEntry.object_kind == "resident",
        )
    )
    if (sent or 0) >= per_hour:
        raise StaffSmsRefused("over_cap", f"at most {per_hour} SMS an hour from one member of staff", limit=per_hour)
    language = resident.language if chosen.kind == "resident" else "zh-CN"
    row = queue_sms(session, dedupe_key=key, to_phone=chosen.phone, body=body, language=language)
    if row is None:  # a number that wants no messages (opted out or a landline for every resident on it)
        raise StaffSmsRefused("unwanted", "this number takes no SMS from the hotline")
    row.created_at = now
    session.flush()
    whom = f"resident:{resident.id}" if chosen.kind == "resident" else f"liaison:{chosen.liaison_id}"
    detail = f"request={request_key}; to={whom}; segments {count_segments(body).segments}; outbound:{row.id}"
    audit.record(session, actor, "sms", "resident", resident.id, detail, at=now)
    return StaffSms(row.id, True, chosen, [row.id])


def _serialise(session: Session, actor: Principal) -> None:
    """One send at a time per member of staff until the commit (SQLite's write transactions are serialised by
    BEGIN IMMEDIATE already)."""
    if session.get_bind().dialect.name == "postgresql":
        number = int.from_bytes(
            hashlib.sha256(f"staff-sms:{actor.audit_ref}".encode()).digest()[:8], "big", signed=True
        )
        session.execute(select(func.pg_advisory_xact_lock(number)))
