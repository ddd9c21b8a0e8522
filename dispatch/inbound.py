"""Storing inbound SMS. Store first, before anything else: a message we acknowledged is never lost."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from dispatch.exceptions import InvalidInboundMessage, InvalidPhoneNumber
from dispatch.models import InboundMessage, InboundOutcome, WebhookReceipt, clock_span, utcnow
from dispatch.phones import normalize_phone

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}\Z")  # \Z, not $: "$" lets a trailing newline through
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
    gateway: str | None = None  # the gateway it came through: twilio, tencent, android, local

    @classmethod
    def parse(
        cls,
        *,
        message_sid: str,
        from_phone: str,
        to_phone: str,
        body: str,
        region: str,
        idempotency_token: str | None = None,
        gateway: str | None = None,
    ) -> InboundSms:
        """Check and normalize a message as the provider gave it.

        Args:
            message_sid: Twilio's MessageSid (SM… or MM…).
            from_phone: The sender's number as Twilio gives it.
            to_phone: Our number it was sent to.
            body: The text, possibly empty (a picture message); cut at Twilio's 1,600 characters.
            region: Region for reading national numbers.
            idempotency_token: Twilio's I-Twilio-Idempotency-Token header, if present.
            gateway: The gateway it came through.

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
            gateway=gateway,
        )


# A mainland number already in E.164, as providers send it: normalising it gives it back unchanged whether it is
# valid (E.164 in, E.164 out) or not (stored as given), so the parse is skipped on the busiest path. ASCII digits
# only: phonenumbers would turn full-width ones into ASCII.
_MAINLAND_E164 = re.compile(r"\+86[0-9]{11}\Z")


def phone_or_raw(raw: str, region: str) -> str:
    """The number in E.164, or as given (trimmed) if it cannot be read."""
    if _MAINLAND_E164.match(raw):
        return raw
    # A sender we cannot parse (a short code, an alphanumeric id) is still stored as given: never drop a message.
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return raw.strip()[:20]


def store_inbound_batch(session: Session, messages: Sequence[InboundSms]) -> list[StoredInbound]:
    """Store messages once each, keyed by MessageSid and by Twilio's idempotency token, in the caller's
    transaction: one insert for the batch.

    A message already stored (Twilio retried, or delivered the same webhook twice at once), or repeated within the
    batch, is not stored again: its result names the first row, with `created` False. A repeat is a message with
    the same SID, or with the same I-Twilio-Idempotency-Token (the same on every retry of one webhook) even if its
    SID field differs. The unique indexes on both decide it in the one INSERT … ON CONFLICT DO NOTHING, so the
    token costs no extra round trip.

    Returns:
        One result per message, in the order given.
    """
    fresh: dict[str, InboundSms] = {}
    for message in messages:
        fresh.setdefault(message.message_sid, message)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    # No conflict target: a clash on either unique index (SID or token) skips the row, also between two rows of
    # this one statement (three copies of one webhook in one batch, each under another SID).
    # On the table, not the mapped class: a Core insert, without the ORM's bulk-insert bookkeeping for each row.
    table = cast(Table, InboundMessage.__table__)
    statement = insert(table).on_conflict_do_nothing().returning(table.c.provider_sid, table.c.id)
    rows = [
        {
            "provider_sid": m.message_sid,
            "from_phone": m.from_phone,
            "to_phone": m.to_phone,
            "body": m.body,
            "idempotency_token": m.idempotency_token,
            "gateway": m.gateway,
            "received_at": utcnow(),
        }
        for m in fresh.values()
    ]
    created = {sid: message_id for sid, message_id in session.execute(statement, rows)} if rows else {}
    earlier = [m for sid, m in fresh.items() if sid not in created]
    known: dict[str, Any] = {}
    if earlier:
        sids, tokens = [m.message_sid for m in earlier], [m.idempotency_token for m in earlier if m.idempotency_token]
        query = select(
            InboundMessage.provider_sid,
            InboundMessage.idempotency_token,
            InboundMessage.id,
            InboundMessage.processed_at,
        ).where(or_(InboundMessage.provider_sid.in_(sids), InboundMessage.idempotency_token.in_(tokens)))
        stored = session.execute(query).all()
        by_sid = {row.provider_sid: row for row in stored}
        token_rows = {row.idempotency_token: row for row in stored if row.idempotency_token}
        known = {m.message_sid: by_sid.get(m.message_sid) or token_rows[m.idempotency_token] for m in earlier}
    results, seen = [], set()
    for message in messages:
        sid = message.message_sid
        if sid in created:
            results.append(StoredInbound(created[sid], created=sid not in seen, processed=False))
            seen.add(sid)
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


# ── Receipts of voice webhooks, by Twilio's idempotency token ──────────────────────────────────────────────────

RECEIPT_KEPT = timedelta(hours=1)  # Twilio retries a webhook within seconds; an hour is ample


def claim_webhook(session: Session, token: str, path: str) -> str | None:
    """Claim a webhook delivery by its I-Twilio-Idempotency-Token, in the transaction that will make its effects.

    Returns:
        None for a first delivery (claimed: answer it, then `remember_answer`); for a retry, what the first
        delivery answered ("" if nothing). A delivery arriving while the first is still being answered waits for
        it (the unique index holds it until that transaction ends) and gets its answer.
    """
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    claimed = session.execute(
        insert(WebhookReceipt)
        .values(token=token[:128], path=path[:64], created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(WebhookReceipt.id)
    ).first()
    if claimed is not None:
        return None
    first = session.execute(
        select(WebhookReceipt.path, WebhookReceipt.answer).where(WebhookReceipt.token == token[:128])
    ).one()
    if first.path != path[:64] or first.answer is None:
        return None  # not a retry (Twilio never sends one token to two URLs): natural keys keep this one safe
    return str(first.answer)


def remember_answer(session: Session, token: str, answer: str) -> None:
    """Keep what the first delivery of a webhook answered, for its retries."""
    session.execute(update(WebhookReceipt).where(WebhookReceipt.token == token[:128]).values(answer=answer))


def prune_receipts(session: Session, now: datetime) -> int:
    """Forget receipts older than `RECEIPT_KEPT`. Returns how many."""
    kept = now - clock_span(RECEIPT_KEPT)  # Twilio's retries come in real seconds, whatever the demo's clock says
    result = session.execute(delete(WebhookReceipt).where(WebhookReceipt.created_at < kept))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
