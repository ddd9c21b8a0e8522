"""What the SMS provider answers about our messages: delivery reports, error codes, and what they tell us about a
number (wrong, a landline, opted out), recorded in the register and told to staff.

A report never moves a message backwards, and an error code is acted on once per message.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.models import (
    Channel,
    Checkin,
    CheckinStatus,
    Liaison,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentPhone,
    ResidentStatus,
    utcnow,
)

# How far each status is along its way; a late callback never moves a message backwards.
STATUS_PROGRESS = {
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


def act_on_error(session: Session, row: OutboundMessage, code: int) -> None:
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
    if new is not None and STATUS_PROGRESS[new] > STATUS_PROGRESS[OutboundStatus(row.status)]:
        row.status = new
        row.status_at = utcnow()
    failed = row.status in (OutboundStatus.UNDELIVERED, OutboundStatus.FAILED)
    if error_code is not None and row.error_code != error_code and failed:
        row.error_code = error_code  # the row is locked: concurrent copies of this report act on it once
        act_on_error(session, row, error_code)
    return row
