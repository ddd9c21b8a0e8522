"""Storing inbound SMS. Store first, before anything else: a message we acknowledged is never lost."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from dispatch.exceptions import InvalidInboundMessage, InvalidPhoneNumber
from dispatch.models import InboundMessage, InboundOutcome, utcnow
from dispatch.phones import normalize_phone

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
MAX_BODY = 1600  # Twilio's own limit for one message


@dataclass(frozen=True)
class StoredInbound:
    """The result of storing a message: its row id, and whether this call stored it (False: a retry)."""

    message_id: int
    created: bool
    processed: bool


@dataclass(frozen=True)
class InboundSms:
    """One inbound SMS as it will be stored: checked, numbers in E.164 where they can be read."""

    message_sid: str
    from_phone: str
    to_phone: str
    body: str
    idempotency_token: str | None

    @classmethod
    def parse(
        cls, *, message_sid: str, from_phone: str, to_phone: str, body: str, region: str,
        idempotency_token: str | None = None,
    ) -> InboundSms:  # fmt: skip
        """Check and normalize a message as the provider gave it.

        Args:
            message_sid: Twilio's MessageSid (SM… or MM…).
            from_phone: The sender's number as Twilio gives it.
            to_phone: Our number it was sent to.
            body: The text, possibly empty (a picture message); cut at Twilio's 1,600 characters.
            region: Region for reading national numbers.
            idempotency_token: Twilio's I-Twilio-Idempotency-Token header, if present.

        Raises:
            InvalidInboundMessage: the SID or sender is missing or malformed.
        """
        if not _SID.match(message_sid or ""):
            raise InvalidInboundMessage("MessageSid", "must be two letters and 32 hex digits")
        if not from_phone or not from_phone.strip():
            raise InvalidInboundMessage("From", "is missing")
        # A NUL cannot be stored in PostgreSQL text, and means nothing in an SMS: dropped.
        return cls(
            message_sid=message_sid,
            from_phone=phone_or_raw(from_phone.replace("\x00", ""), region),
            to_phone=phone_or_raw((to_phone or "").replace("\x00", ""), region),
            body=(body or "").replace("\x00", "")[:MAX_BODY],
            idempotency_token=(idempotency_token or None) and idempotency_token[:128],
        )


def phone_or_raw(raw: str, region: str) -> str:
    """The number in E.164, or as given (trimmed) if it cannot be read."""
    # A sender we cannot parse (a short code, an alphanumeric id) is still stored as given: never drop a message.
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return raw.strip()[:20]


def store_inbound_batch(session: Session, messages: Sequence[InboundSms]) -> list[StoredInbound]:
    """Store messages once each, keyed by MessageSid, in the caller's transaction: one insert for the batch.

    A SID already stored (Twilio retried, or delivered the same webhook twice at once), or repeated within the
    batch, is not stored again: its result names the first row, with `created` False.

    Returns:
        One result per message, in the order given.
    """
    fresh: dict[str, InboundSms] = {}
    for message in messages:
        fresh.setdefault(message.message_sid, message)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    statement = (
        insert(InboundMessage)
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(InboundMessage.provider_sid, InboundMessage.id)
    )
    rows = [
        {"provider_sid": m.message_sid, "from_phone": m.from_phone, "to_phone": m.to_phone, "body": m.body,
         "idempotency_token": m.idempotency_token, "received_at": utcnow()}
        for m in fresh.values()
    ]  # fmt: skip
    created = {sid: message_id for sid, message_id in session.execute(statement, rows)} if rows else {}
    earlier = [sid for sid in fresh if sid not in created]
    known = {}
    if earlier:
        query = select(InboundMessage.provider_sid, InboundMessage.id, InboundMessage.processed_at)
        known = {
            row.provider_sid: row for row in session.execute(query.where(InboundMessage.provider_sid.in_(earlier)))
        }
    results, first = [], set()
    for message in messages:
        sid = message.message_sid
        if sid in created and sid not in first:
            first.add(sid)
            results.append(StoredInbound(created[sid], created=True, processed=False))
        elif sid in created:
            results.append(StoredInbound(created[sid], created=False, processed=False))
        else:
            row = known[sid]
            results.append(StoredInbound(row.id, created=False, processed=row.processed_at is not None))
    return results


def store_inbound_sms(sessions: sessionmaker[Session], message: InboundSms) -> StoredInbound:
    """Store one inbound SMS once, keyed by its MessageSid, in its own committed transaction."""
    with sessions.begin() as session:
        return store_inbound_batch(session, [message])[0]


def unprocessed_ids(session: Session, *, older_than: datetime, limit: int = 1000) -> list[int]:
    """Stored messages not yet turned into tasks since `older_than`: work Redis may have lost."""
    return list(
        session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.processed_at.is_(None), InboundMessage.received_at < older_than)
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


def recent_inbound(session: Session, *, limit: int, outcome: InboundOutcome | None = None) -> list[InboundMessage]:
    """Stored messages, newest first, optionally only those with one outcome."""
    query = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit)
    if outcome is not None:
        query = query.where(InboundMessage.outcome == outcome)
    return list(session.scalars(query))
