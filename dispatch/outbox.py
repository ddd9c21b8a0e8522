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

from dispatch.db import insert_skipping_duplicates
from dispatch.models import (
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
from dispatch.provider_answers import STATUS_PROGRESS, act_on_error


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
    if decided(session, dedupe_key):
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


def decided(session: Session, dedupe_key: str) -> bool:
    """True if the message of this key was decided already (queued, sent or refused: any row holds the key)."""
    return session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedupe_key == dedupe_key)) is not None


def queue_many(session: Session, rows: list[dict[str, object]]) -> list[int]:
    """`queue_sms` for many SMS at once (each a dict of its keyword arguments): the numbers that want no automated
    message read in one or two statements, the rest inserted in one that skips the keys already decided. A key
    given twice is decided once.

    Returns:
        The new rows' ids, in the order given.
    """
    if not rows:
        return []
    unwanted = _unwanted_many(session, {(str(row["to_phone"]), str(row.get("kind", "sms"))) for row in rows})
    fresh: dict[str, dict[str, object]] = {}
    for row in rows:
        key = str(row["dedupe_key"])
        if key not in fresh and (row["to_phone"], row.get("kind", "sms")) not in unwanted:
            fresh[key] = {
                "task_id": None,
                "kind": "sms",
                "language": "zh-CN",
                "checkin_id": None,
                "notice_id": None,
                **row,
                "created_at": utcnow(),
            }
    if not fresh:
        return []
    # ON CONFLICT DO NOTHING: a key decided before, or by another transaction a moment ago, is skipped.
    statement = insert_skipping_duplicates(session, OutboundMessage).returning(
        OutboundMessage.id, OutboundMessage.dedupe_key
    )
    # render_nulls: a None (a task_id, checkin_id or notice_id, none with a default) is written as NULL rather than
    # left out, so rows with and without one are one INSERT, not one for each run of alike rows.
    rows = list(fresh.values())
    made = {key: id_ for id_, key in session.execute(statement, rows, execution_options={"render_nulls": True}).all()}
    return [made[key] for key in fresh if key in made]


def _unwanted_many(session: Session, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """`_unwanted` for many (phone, kind) pairs, in two statements."""
    phones = sorted({phone for phone, _ in wanted})
    found: dict[str, list[tuple[ResidentStatus, bool]]] = {}
    for phone, status, landline in session.execute(
        select(ResidentPhone.phone, Resident.status, ResidentPhone.landline)
        .join(Resident, Resident.id == ResidentPhone.resident_id)
        .where(ResidentPhone.phone.in_(phones))
    ):
        found.setdefault(phone, []).append((status, landline))
    maybe = set()
    for phone, kind in wanted:
        rows = found.get(phone, [])
        opted_out = bool(rows) and all(status == ResidentStatus.OPTED_OUT for status, _ in rows)
        landline = bool(rows) and kind == "sms" and all(line for _, line in rows)
        if opted_out or landline:
            maybe.add((phone, kind))
    if not maybe:
        return set()
    liaisons = set(session.scalars(select(Liaison.phone).where(Liaison.phone.in_(sorted({p for p, _ in maybe})))))
    return {(phone, kind) for phone, kind in maybe if phone not in liaisons}


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


def note_gateway(session: Session, outbound_id: int, gateway: str) -> None:
    """Record the gateway a claimed message is handed to (the channels page counts by it)."""
    session.execute(update(OutboundMessage).where(OutboundMessage.id == outbound_id).values(gateway=gateway))


def pending_kinds(session: Session, outbound_ids: list[int]) -> dict[int, str]:
    """Which of `outbound_ids` are pending (not yet claimed or sent), with their kind (sms, call, checkin)."""
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.kind).where(
            OutboundMessage.id.in_(outbound_ids), func.coalesce(OutboundMessage.status, "") == OutboundStatus.PENDING
        )
    )
    return {row.id: row.kind for row in rows}


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
    if STATUS_PROGRESS[OutboundStatus(row.status)] < STATUS_PROGRESS[OutboundStatus.SENT]:
        row.status, row.status_at = OutboundStatus.SENT, now


def mark_sent_many(session: Session, sent: list[tuple[int, str]], gateway: str) -> None:
    """A gateway accepted a batch: (outbound id, provider SID) each, in one statement. Rows a delivery report
    already moved on are left as they are (that report set the SID)."""
    table = OutboundMessage.__table__
    now = utcnow()
    session.connection().execute(
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("oid"), table.c.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.SENT, provider_sid=bindparam("sid"), sent_at=now, status_at=now, gateway=gateway),
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
    """The gateway refused the SMS for good; what its error code means is acted on (`PROVIDER_ERRORS`, in
    `provider_answers`)."""
    failed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.FAILED, error=error[:500], error_code=error_code, status_at=utcnow())
    )
    row = session.get(OutboundMessage, outbound_id) if failed.rowcount == 1 else None  # type: ignore[attr-defined]
    if row is not None and error_code is not None:
        act_on_error(session, row, error_code)


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
