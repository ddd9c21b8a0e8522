"""Storing inbound SMS. Store first, before anything else: a message we acknowledged is never lost."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dispatch.exceptions import InvalidInboundMessage, InvalidPhoneNumber
from dispatch.models import InboundMessage, InboundOutcome
from dispatch.phones import normalize_phone

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
MAX_BODY = 1600  # Twilio's own limit for one message


@dataclass(frozen=True)
class StoredInbound:
    """The result of storing a message: its row id, and whether this call stored it (False: a retry)."""

    message_id: int
    created: bool
    processed: bool


def phone_or_raw(raw: str, region: str) -> str:
    """The number in E.164, or as given (trimmed) if it cannot be read."""
    # A sender we cannot parse (a short code, an alphanumeric id) is still stored as given: never drop a message.
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return raw.strip()[:20]


def store_inbound_sms(
    sessions: sessionmaker[Session],
    *,
    message_sid: str,
    from_phone: str,
    to_phone: str,
    body: str,
    region: str,
    idempotency_token: str | None = None,
) -> StoredInbound:
    """Store one inbound SMS once, keyed by its MessageSid, in its own committed transaction.

    Args:
        sessions: The session factory; this function commits on its own.
        message_sid: Twilio's MessageSid (SM… or MM…).
        from_phone: The sender's number as Twilio gives it.
        to_phone: Our number it was sent to.
        body: The text, possibly empty (a picture message).
        region: Region for reading national numbers.
        idempotency_token: Twilio's I-Twilio-Idempotency-Token header, if present.

    Returns:
        The stored row id and whether it was new.

    Raises:
        InvalidInboundMessage: the SID or sender is missing or malformed.
    """
    if not _SID.match(message_sid or ""):
        raise InvalidInboundMessage("MessageSid", "must be two letters and 32 hex digits")
    if not from_phone or not from_phone.strip():
        raise InvalidInboundMessage("From", "is missing")
    row = InboundMessage(
        provider_sid=message_sid,
        from_phone=phone_or_raw(from_phone, region),
        to_phone=phone_or_raw(to_phone or "", region),
        body=(body or "")[:MAX_BODY],
        idempotency_token=(idempotency_token or None) and idempotency_token[:128],
    )
    try:
        with sessions.begin() as session:
            session.add(row)
        return StoredInbound(row.id, created=True, processed=False)
    except IntegrityError:
        # Twilio retried, or delivered the same webhook twice at once: the first one is the record.
        with sessions() as session:
            existing = session.execute(
                select(InboundMessage.id, InboundMessage.processed_at).where(InboundMessage.provider_sid == message_sid)
            ).one()
        return StoredInbound(existing.id, created=False, processed=existing.processed_at is not None)


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
