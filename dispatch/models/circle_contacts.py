"""A resident's care circle (关怀圈): up to three family contacts, each with the resident's recorded consent and
the way they are told (SMS or a call)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models.base import Base, UTCDateTime, utcnow
from dispatch.models.register import Resident


class ConsentWay(enum.StrEnum):
    """How the resident gave their consent to telling this contact."""

    IN_PERSON = "in_person"  # 当面
    BY_PHONE = "by_phone"  # 电话


class TellBy(enum.StrEnum):
    """How a contact is told: an SMS, or an automated call that says the same news (for family who prefer to hear
    it, or who have no mobile)."""

    SMS = "sms"  # 短信
    CALL = "call"  # 电话


class CircleContact(Base):
    """One family contact of a resident. Messaged only with the resident's consent recorded (`consent_at`), and
    never after they opted out (`opted_out_at`). Removed contacts are kept (`removed_at`), for the record and so an
    opt-out is never forgotten."""

    __tablename__ = "circle_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(40))  # 女儿, 儿子, 侄女 …, as staff wrote it
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    tell_by: Mapped[TellBy] = mapped_column(String(8), default=TellBy.SMS, server_default=TellBy.SMS.value)
    consent_way: Mapped[ConsentWay | None] = mapped_column(String(16))  # None: not recorded yet, never messaged
    consent_by: Mapped[str | None] = mapped_column(String(100))  # the member of staff who recorded it, by name
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The form's or the API call's key: a repeated add (a double click, a retry) finds this contact.
    request_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    resident: Mapped[Resident] = relationship()

    @property
    def reachable(self) -> bool:
        """Consent recorded, not opted out, not removed: the only contacts ever messaged."""
        return self.consent_at is not None and self.opted_out_at is None and self.removed_at is None
