"""Messages: inbound SMS as stored, the outbox of SMS and calls, and the local gateway's record."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class InboundOutcome(enum.StrEnum):
    """What processing an inbound SMS came to."""

    # A task was made for the sender's resident record and offered to their liaison.
    TASK_CREATED = "task_created"
    # The sender is not in the register: one polite reply (an SMS), no task of its own; the message joins the
    # number's triage item for staff (a call's needs are also a task for duty staff).
    UNKNOWN_SENDER = "unknown_sender"
    # The sender is a registered resident with no active liaison: the task waits for staff.
    NO_LIAISON = "no_liaison"
    # The number is shared by residents of different households, so we cannot tell whose need it is:
    # a task for a clerk to sort out.
    AMBIGUOUS_SENDER = "ambiguous_sender"
    # A resident saying they are fine (and perhaps their temperature): nothing to do.
    FINE = "fine"
    # A resident sent a stop word: no more automated messages; their liaison is asked to call them.
    OPTED_OUT = "opted_out"
    # A resident sent a start word: automated messages resume.
    OPTED_IN = "opted_in"
    # The sender is a liaison: a command about their tasks (take, done, hand back, note, list), always answered.
    FROM_LIAISON = "from_liaison"
    # The sender is a resident's family contact (care circle): an answer for the resident, an opt-out, or for staff.
    FROM_FAMILY = "from_family"


class OutboundStatus(enum.StrEnum):
    """The life of one outbound SMS, from our decision to send it to the phone network's last word."""

    # Decided and stored; not yet handed to the gateway.
    PENDING = "pending"
    # A worker has claimed it and is handing it to the gateway now.
    SENDING = "sending"
    # The gateway accepted it (Twilio: queued/sent).
    SENT = "sent"
    # The phone network says it reached the handset.
    DELIVERED = "delivered"
    # The phone network could not deliver it.
    UNDELIVERED = "undelivered"
    # The gateway refused it for good (bad number, blocked); it will not be retried.
    FAILED = "failed"
    # Decided, but no longer wanted when its turn came (a check-in answered meanwhile, or quiet hours began).
    CANCELLED = "cancelled"
    # A worker died while handing it over, so we cannot know whether it went. Never resent automatically:
    # a duplicate errand SMS is worse than the ladder noticing nobody took the task.
    UNKNOWN = "unknown"


class InboundMessage(Base):
    """One SMS (or one choice made on a call) that reached the hotline, stored before anything else happens."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Twilio's MessageSid: a retried webhook carries the same one, so it is stored once.
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20))
    to_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    # Twilio's I-Twilio-Idempotency-Token: the same on every retry of one webhook. Unique, like the SID, so a retry
    # is stored once even if its MessageSid field differs (a unique index; NULLs never clash).
    idempotency_token: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[InboundOutcome | None] = mapped_column(String(32))
    # A choice made on a call is stored here too, keyed "<CallSid>:<what>", so intake treats it like an SMS.
    channel: Mapped[str] = mapped_column(String(8), default="sms")  # sms, or voice
    need: Mapped[str | None] = mapped_column(String(16))  # voice: the meaning chosen (groceries, callback, …)
    urgent: Mapped[bool] = mapped_column(default=False)  # voice: a voicemail call-back is urgent
    recording_url: Mapped[str | None] = mapped_column(Text)  # voice: a voicemail, for staff to hear
    # A message from a number not on the register: the triage item staff see it on.
    triage_item_id: Mapped[int | None] = mapped_column(ForeignKey("triage_items.id"), index=True)
    gateway: Mapped[str | None] = mapped_column(String(16))  # the gateway it came through: twilio, tencent, android

    __table_args__ = (
        Index("ix_inbound_messages_unprocessed", "processed_at", "received_at"),
        Index("ix_inbound_messages_idempotency_token", "idempotency_token", unique=True),
        Index("ix_inbound_messages_from_phone", "from_phone", "received_at"),  # a resident's SMS thread
    )


class OutboundMessage(Base):
    """An SMS or automated call the hotline decided to make. Stored first (the transactional outbox), then handed
    to the gateway. A call's body is what it says; the call fetches it from `/twilio/voice/message?o=<id>`."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Names the reason for the message, e.g. "task:7:offer:0". A second decision to send the same thing is a no-op.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    to_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="sms")  # sms, call (says body), or checkin (a check-in call)
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")  # what a call speaks
    status: Mapped[OutboundStatus] = mapped_column(String(16), default=OutboundStatus.PENDING)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id"))  # a check-in SMS, reminder or call
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), index=True)  # a copy of a notice
    call_result: Mapped[str | None] = mapped_column(String(16))  # a call: human, machine, busy, no-answer, failed
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)  # Twilio's ErrorCode, e.g. 30003 unreachable
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway: Mapped[str | None] = mapped_column(String(16))  # the gateway it was handed to, once claimed

    __table_args__ = (
        Index("ix_outbound_messages_status", "status", "created_at"),
        Index("ix_outbound_messages_to_phone", "to_phone", "created_at"),  # a resident's SMS thread
    )


class WebhookReceipt(Base):
    """A voice webhook already answered, by Twilio's I-Twilio-Idempotency-Token (the same on each retry of one
    webhook): a retry gets the first answer back and changes nothing. Claimed in the transaction of the webhook's
    effects, so a receipt exists exactly when they do. Kept an hour (Twilio retries within seconds)."""

    __tablename__ = "webhook_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(Text)  # the TwiML answered ("" for none); None while being answered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LocalOutboxEntry(Base):
    """What the local gateway was asked to send: the phone network of a laptop or a test."""

    __tablename__ = "local_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # sms or call
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    to_phone: Mapped[str] = mapped_column(String(20))
    from_ref: Mapped[str] = mapped_column(String(64))  # our number or messaging service
    body: Mapped[str] = mapped_column(Text)  # the SMS text, or the TwiML URL of a call
    status_callback: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
