"""A person's SMS thread, in and out, newest first: what they wrote to the hotline and what it sent them, with each
sent message's delivery status, for staff on the resident's page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import InboundMessage, OutboundMessage

THREAD_LIMIT = 60  # the newest this many: a page to read, not an archive


@dataclass(frozen=True)
class ThreadLine:
    at: datetime
    incoming: bool
    phone: str  # the resident's number it came from or went to
    body: str
    status: str  # an outbound message's status (pending, sent, delivered, failed, …); "" for incoming
    error_code: int | None = None


def sms_thread(session: Session, phones: list[str], since: datetime, limit: int = THREAD_LIMIT) -> list[ThreadLine]:
    """The SMS from and to `phones` since `since`, newest first, at most `limit` (calls are not SMS: left out)."""
    if not phones:
        return []
    incoming = session.execute(
        select(InboundMessage.received_at, InboundMessage.from_phone, InboundMessage.body)
        .where(
            InboundMessage.from_phone.in_(phones),
            InboundMessage.received_at >= since,
            InboundMessage.channel == "sms",
        )
        .order_by(InboundMessage.received_at.desc())
        .limit(limit)
    )
    outgoing = session.execute(
        select(
            OutboundMessage.created_at,
            OutboundMessage.to_phone,
            OutboundMessage.body,
            OutboundMessage.status,
            OutboundMessage.error_code,
        )
        .where(OutboundMessage.to_phone.in_(phones), OutboundMessage.created_at >= since, OutboundMessage.kind == "sms")
        .order_by(OutboundMessage.created_at.desc())
        .limit(limit)
    )
    lines = [ThreadLine(at, True, phone, body, "") for at, phone, body in incoming]
    lines += [ThreadLine(at, False, phone, body, str(status), code) for at, phone, body, status, code in outgoing]
    return sorted(lines, key=lambda line: line.at, reverse=True)[:limit]
