"""Ring to check in (the Fukuoka model): a resident's ring mode, and each ring counted."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class RingMode(enum.StrEnum):
    """What a call to the hotline that is not answered means, for one resident."""

    OFF = "off"  # a call is a call: the menu (the default)
    FINE = "fine"  # a ring means "I am fine": today's check-in is answered
    CALLBACK = "callback"  # a ring means "please call me back": a call-back task for the liaison


class RingSetting(Base):
    """A resident's ring mode, set by staff. No row: off."""

    __tablename__ = "ring_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), unique=True)
    mode: Mapped[RingMode] = mapped_column(String(10), default=RingMode.OFF)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Ring(Base):
    """One ring counted: a call from a resident in a ring mode that the hotline rejected, or that ended before it
    was answered. Unique per CallSid, so a provider's retry or its later status report counts nothing twice."""

    __tablename__ = "rings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)
    mode: Mapped[RingMode] = mapped_column(String(10))
    how: Mapped[str] = mapped_column(String(12))  # rejected (we answered <Reject>) or unanswered (hung up first)
    outcome: Mapped[str] = mapped_column(String(16))  # fine, already, kept, no_checkin, task, joined
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))

    __table_args__ = (Index("ix_rings_resident_at", "resident_id", "at"),)
