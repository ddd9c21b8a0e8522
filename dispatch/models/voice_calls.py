"""Calls: one row per phone call to the hotline, from the first webhook to Twilio's last status report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class Call(Base):
    """A call to the voice hotline: who called, what they chose, whether they reached a person, how it ended.

    A call from a registered resident that ends with no choice made, nobody reached and no message left becomes
    a call-back task: people who hang up fast are exactly the ones who need a call back.
    """

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)  # Twilio's CallSid
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    from_phone: Mapped[str] = mapped_column(String(20))
    to_phone: Mapped[str] = mapped_column(String(20))
    caller_kind: Mapped[str] = mapped_column(String(10))  # resident, liaison or unknown
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    liaison_id: Mapped[int | None] = mapped_column(ForeignKey("liaisons.id"))
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    chose: Mapped[bool] = mapped_column(default=False)  # made a menu choice (not just "repeat")
    task_made: Mapped[bool] = mapped_column(default=False)
    dial_attempts: Mapped[int] = mapped_column(Integer, default=0)
    connected: Mapped[bool] = mapped_column(default=False)  # a person answered a put-through
    voicemail: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str | None] = mapped_column(String(16))  # Twilio's last CallStatus
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_calls_started_at", "started_at"),)
