"""The outbox: every SMS is decided and stored here first, then handed to a gateway by a worker.

A decision carries a dedupe key naming its reason, so deciding twice sends once. Handing over is a claim
(pending → sending) committed before the gateway is called, so two workers never send the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.models import (
    Channel,
    Checkin,
    CheckinStatus,
    Liaison,
    LocalOutboxEntry,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentPhone,
    ResidentStatus,
    clock_span,
    utcnow,
)

# How far each status is along its way; a late callback never moves a message backwards.
_PROGRESS = {
    OutboundStatus.PENDING: 0,
    OutboundStatus.SENDING: 1,
    OutboundStatus.UNKNOWN: 1,
    OutboundStatus.SENT: 2,
    OutboundStatus.DELIVERED: 3,
    OutboundStatus.UNDELIVERED: 3,
    OutboundStatus.FAILED: 3,
    OutboundStatus.CANCELLED: 3,
}

OPTED_OUT_AT_PROVIDER = 21610  # Twilio: the recipient replied STOP; sending is refused until they reply START


@dataclass(frozen=True)
class ProviderError:
    """What one of Twilio's error codes means to us, whether it comes at send time or in a delivery report."""

    meaning: str  # for logs and the audit log: never a number
    temporary: bool = False  # throttled: at send time retried with backoff; in a report, sent again once, later
    check_number: bool = False  # the number is wrong: staff are told (an audit entry on whoever has it)
    no_sms: bool = False  # the number takes no SMS: marked a landline, never texted again
    opted_out: bool = False  # the person replied STOP at Twilio


# Twilio's error codes we act on. Any failure or undelivery also climbs a task offer's ladder at once and moves an
# unanswered check-in SMS on to its call (`tasks.escalation.after_delivery_failure`), unless the code is temporary.
PROVIDER_ERRORS = {
    20429: ProviderError("too many requests", temporary=True),
    21211: ProviderError("invalid 'To' number", check_number=True),
    OPTED_OUT_AT_PROVIDER: ProviderError("recipient opted out (STOP)", opted_out=True),
    30003: ProviderError("unreachable handset"),
    30004: ProviderError("message blocked"),
    30005: ProviderError("unknown or inactive number", check_number=True),
    30006: ProviderError("landline or unreachable carrier", no_sms=True),
    63018: ProviderError("rate limit exceeded for the channel", temporary=True),
}
_NO_MEANING = ProviderError("")


def provider_error(code: int | None) -> ProviderError:
    """What `code` means; a code not in the table means nothing beyond the failure itself."""
    return PROVIDER_ERRORS.get(code, _NO_MEANING) if code is not None else _NO_MEANING


# Twilio's MessageStatus values, as our statuses.
PROVIDER_STATUS = {
    "accepted": OutboundStatus.SENT,
    "scheduled": OutboundStatus.SENT,
    "queued": OutboundStatus.SENT,
    "sending": OutboundStatus.SENT,
    "sent": OutboundStatus.SENT,
    "delivered": OutboundStatus.DELIVERED,
    "read": OutboundStatus.DELIVERED,
    "undelivered": OutboundStatus.UNDELIVERED,
    "failed": OutboundStatus.FAILED,
    "canceled": OutboundStatus.FAILED,
}


@dataclass(frozen=True)
class SmsToSend:
    """A claimed outbound SMS or call, detached from the session, for the gateway."""

    outbound_id: int
    to_phone: str
    body: str
    kind: str = "sms"


def queue_sms(
    session: Session,
    *,
    dedupe_key: str,
    to_phone: str,
    body: str,
    task_id: int | None = None,
    kind: str = "sms",
    language: str = "zh-CN",
    checkin_id: int | None = None,
    notice_id: int | None = None,
) -> OutboundMessage | None:
    """Decide to send an SMS (or, with kind "call", to place an automated call saying `body`), once per key.

    Returns:
        The new row, or None when this message was already decided (nothing more to do).
    """
    if session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedupe_key == dedupe_key)) is not None:
        return None
    if _unwanted(session, to_phone, kind):
        return None  # they asked for no automated messages (their liaison calls them instead), or a landline
    row = OutboundMessage(
        dedupe_key=dedupe_key,
        to_phone=to_phone,
        body=body,
        task_id=task_id,
        kind=kind,
        language=language,
        checkin_id=checkin_id,
        notice_id=notice_id,
    )
    try:
        # A savepoint: if another transaction decided the same message a moment ago, only this insert is undone.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _unwanted(session: Session, phone: str, kind: str) -> bool:
    """True if `phone` belongs to residents only, and to no liaison, and they all opted out or, for an SMS, it is
    a landline to each of them."""
    found = session.execute(
        select(Resident.status, ResidentPhone.landline).join(ResidentPhone).where(ResidentPhone.phone == phone)
    ).all()
    opted_out = bool(found) and all(row.status == ResidentStatus.OPTED_OUT for row in found)
    landline = bool(found) and kind == "sms" and all(row.landline for row in found)
    if not opted_out and not landline:
        return False
    return session.scalar(select(Liaison.id).where(Liaison.phone == phone)) is None


def claim_for_sending(session: Session, outbound_id: int) -> SmsToSend | None:
    """Claim a pending SMS for this worker. Returns None if it is not pending (sent, or claimed by another)."""
    now = utcnow()
    claimed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status == OutboundStatus.PENDING)
        .values(status=OutboundStatus.SENDING, claimed_at=now, attempts=OutboundMessage.attempts + 1)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = session.execute(
        select(OutboundMessage.to_phone, OutboundMessage.body, OutboundMessage.kind).where(
            OutboundMessage.id == outbound_id
        )
    ).one()
    return SmsToSend(outbound_id, row.to_phone, row.body, row.kind)


def claim_many(session: Session, outbound_ids: list[int]) -> list[SmsToSend]:
    """Claim every pending one of `outbound_ids` in one statement (a campaign batch); the others are skipped."""
    rows = session.execute(
        update(OutboundMessage)
        # coalesce() keeps SQLite from choosing the status index (all pending rows) over the primary key.
        .where(
            OutboundMessage.id.in_(outbound_ids), func.coalesce(OutboundMessage.status, "") == OutboundStatus.PENDING
        )
        .values(status=OutboundStatus.SENDING, claimed_at=utcnow(), attempts=OutboundMessage.attempts + 1)
        .returning(OutboundMessage.id, OutboundMessage.to_phone, OutboundMessage.body, OutboundMessage.kind)
    ).all()
    return sorted((SmsToSend(r.id, r.to_phone, r.body, r.kind) for r in rows), key=lambda s: s.outbound_id)


def mark_sent(session: Session, outbound_id: int, provider_sid: str) -> None:
    """The gateway accepted the SMS. A delivery report may already have arrived; it is not undone."""
    row = session.get(OutboundMessage, outbound_id, with_for_update=True)
    if row is None:
        return
    now = utcnow()
    row.provider_sid = row.provider_sid or provider_sid
    row.sent_at = row.sent_at or now
    row.error = None
    if _PROGRESS[OutboundStatus(row.status)] < _PROGRESS[OutboundStatus.SENT]:
        row.status, row.status_at = OutboundStatus.SENT, now


def mark_sent_many(session: Session, sent: list[tuple[int, str]]) -> None:
    """A gateway accepted a batch: (outbound id, provider SID) each, in one statement. Rows a delivery report
    already moved on are left as they are (that report set the SID)."""
    table = OutboundMessage.__table__
    now = utcnow()
    session.connection().execute(
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("oid"), table.c.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.SENT, provider_sid=bindparam("sid"), sent_at=now, status_at=now),
        [{"oid": outbound_id, "sid": sid} for outbound_id, sid in sent],
    )


def release_for_retry(session: Session, outbound_id: int, error: str) -> None:
    """The gateway could not take the SMS for now (rate limit, outage); it goes back to pending."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.PENDING, error=error[:500], claimed_at=None)
    )


def mark_failed(session: Session, outbound_id: int, error: str, error_code: int | None = None) -> None:
    """The gateway refused the SMS for good; what its error code means is acted on (`PROVIDER_ERRORS`)."""
    failed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.FAILED, error=error[:500], error_code=error_code, status_at=utcnow())
    )
    row = session.get(OutboundMessage, outbound_id) if failed.rowcount == 1 else None  # type: ignore[attr-defined]
    if row is not None and error_code is not None:
        _act_on_error(session, row, error_code)


def _act_on_error(session: Session, row: OutboundMessage, code: int) -> None:
    """Once per message: what Twilio's error code says about the number, recorded in the register."""
    meaning = provider_error(code)
    if meaning.opted_out:
        opt_out_number(session, row.to_phone)
    if meaning.no_sms:
        mark_landline(session, row.to_phone)
    if meaning.check_number or meaning.no_sms or meaning.opted_out:
        _tell_staff(session, row, code, meaning)


def mark_landline(session: Session, phone: str) -> None:
    """`phone` takes no SMS: a landline in the register, and today's check-ins not yet sent to it go as calls."""
    owners = select(ResidentPhone.resident_id).where(ResidentPhone.phone == phone)
    session.execute(update(ResidentPhone).where(ResidentPhone.phone == phone).values(landline=True))
    session.execute(
        update(Checkin)
        .where(
            Checkin.status == CheckinStatus.SCHEDULED, Checkin.channel == Channel.SMS, Checkin.resident_id.in_(owners)
        )
        .values(channel=Channel.VOICE)
    )


class _Twilio:
    """The audit log's actor for what Twilio told us."""

    audit_ref, audit_name = "twilio", "Twilio"


def _tell_staff(session: Session, row: OutboundMessage, code: int, meaning: ProviderError) -> None:
    """An audit entry on each resident and liaison with the number, for staff to see. Never the number itself."""
    detail = f"Twilio {code}: {meaning.meaning} (outbound {row.id})"
    residents = set(session.scalars(select(ResidentPhone.resident_id).where(ResidentPhone.phone == row.to_phone)))
    liaisons = session.scalars(select(Liaison.id).where(Liaison.phone == row.to_phone))
    for kind, object_id in [*(("resident", i) for i in sorted(residents)), *(("liaison", i) for i in liaisons)]:
        audit.record(session, _Twilio(), "phone_problem", kind, object_id, detail)


def opt_out_number(session: Session, phone: str) -> None:
    """The person at `phone` does not want our messages: residents with it are opted out.

    A liaison who opted out is left as they are: staff must see that and reassign their households.
    """
    residents = session.scalars(
        select(Resident).where(Resident.id.in_(select(ResidentPhone.resident_id).where(ResidentPhone.phone == phone)))
    )
    for resident in residents:
        if resident.status == ResidentStatus.ACTIVE:
            resident.status = ResidentStatus.OPTED_OUT


def apply_provider_status(
    session: Session,
    provider_sid: str,
    provider_status: str,
    outbound_id: int | None = None,
    error_code: int | None = None,
) -> OutboundMessage | None:
    """Record a delivery report: never backwards, and only a message left failed has its error code acted on.

    Args:
        session: A session in a transaction.
        provider_sid: The report's MessageSid.
        provider_status: The report's MessageStatus.
        outbound_id: Our id, carried in the callback URL. It finds the row even when the report arrives before
            the worker has recorded the SID, or after the row was marked unknown.

    Returns:
        The message the report matched (whether or not its status changed), or None.
    """
    if outbound_id is not None:
        row = session.get(OutboundMessage, outbound_id, with_for_update=True)
        if row is not None and row.provider_sid not in (None, provider_sid):
            row = None  # the id and the SID disagree: not ours to trust
    else:
        found = select(OutboundMessage).where(OutboundMessage.provider_sid == provider_sid).with_for_update()
        row = session.scalar(found)
    if row is None:
        return None
    row.provider_sid = provider_sid
    new = PROVIDER_STATUS.get(provider_status.lower())
    if new is not None and _PROGRESS[new] > _PROGRESS[OutboundStatus(row.status)]:
        row.status = new
        row.status_at = utcnow()
    failed = row.status in (OutboundStatus.UNDELIVERED, OutboundStatus.FAILED)
    if error_code is not None and row.error_code != error_code and failed:
        row.error_code = error_code  # the row is locked: concurrent copies of this report act on it once
        _act_on_error(session, row, error_code)
    return row


def pending_ids(session: Session, *, older_than: datetime, limit: int = 1000) -> list[int]:
    """Pending SMS that no worker has picked up since `older_than`: work Redis may have lost."""
    return list(
        session.scalars(
            select(OutboundMessage.id)
            .where(OutboundMessage.status == OutboundStatus.PENDING, OutboundMessage.created_at < older_than)
            # Task and feedback SMS first: a throttled campaign's or notice's thousands of rows must not hide them.
            .order_by(
                OutboundMessage.checkin_id.is_not(None) | OutboundMessage.notice_id.is_not(None), OutboundMessage.id
            )
            .limit(limit)
        )
    )


def checkin_ids(session: Session, outbound_ids: list[int]) -> set[int]:
    """Those of `outbound_ids` that are bulk traffic: check-in SMS, reminders or calls, and copies of notices."""
    if not outbound_ids:
        return set()
    found = select(OutboundMessage.id).where(
        OutboundMessage.id.in_(outbound_ids),
        OutboundMessage.checkin_id.is_not(None) | OutboundMessage.notice_id.is_not(None),
    )
    return set(session.scalars(found))


def abandon_stale_claims(session: Session, *, lease: timedelta) -> list[int]:
    """Claims older than `lease` belong to a worker that died mid-send: mark them unknown, never resend.

    Returns:
        The ids marked unknown, for the caller to report.
    """
    cutoff = utcnow() - clock_span(lease)
    ids = list(
        session.scalars(
            select(OutboundMessage.id).where(
                OutboundMessage.status == OutboundStatus.SENDING, OutboundMessage.claimed_at < cutoff
            )
        )
    )
    if ids:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids), OutboundMessage.status == OutboundStatus.SENDING)
            .values(status=OutboundStatus.UNKNOWN, status_at=utcnow(), error="worker stopped while sending")
        )
    return ids


def mark_unknown(session: Session, outbound_id: int, error: str) -> None:
    """The gateway may or may not have taken the SMS; it is not resent automatically."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.UNKNOWN, error=error[:500], status_at=utcnow())
    )


def recent_local_outbox(session: Session, *, limit: int) -> list[LocalOutboxEntry]:
    """What the local gateway recorded, newest first."""
    return list(session.scalars(select(LocalOutboxEntry).order_by(LocalOutboxEntry.id.desc()).limit(limit)))


# Answers we send because someone wrote or called.
AUTO_REPLY_KEYS = ("reply:%", "unknown-sender:%", "inbound:%:receipt", "call:%:directory", "unknown-caller:%")


def auto_replies_since(session: Session, since: datetime, phone: str | None = None, prefix: str | None = None) -> int:
    """How many automatic answers went out since `since`, to `phone` (or to anyone), optionally of one kind."""
    query = select(func.count()).select_from(OutboundMessage).where(OutboundMessage.created_at >= since)
    if phone is not None:
        query = query.where(OutboundMessage.to_phone == phone)
    keys = [prefix] if prefix else AUTO_REPLY_KEYS
    query = query.where(or_(*(OutboundMessage.dedupe_key.like(key) for key in keys)))
    return int(session.scalar(query) or 0)
