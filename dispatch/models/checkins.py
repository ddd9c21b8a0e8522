"""Check-ins (一次电话): each resident's plan, one row per scheduled contact, and the rungs it climbed."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models.base import Base, UTCDateTime, utcnow
from dispatch.models.register import Resident


class CheckinStatus(enum.StrEnum):
    """Where one check-in stands."""

    SCHEDULED = "scheduled"  # made from the plan; not yet due, or due and about to go
    SENT = "sent"  # the SMS went or the call was placed: waiting for an answer
    NO_PHONE = "no_phone"  # the resident has no number: only a visit can reach them
    FINE = "fine"  # answered: fine (a temperature below the fever threshold is fine)
    NEEDS = "needs"  # answered with a need: tasks were made
    UNWELL = "unwell"  # answered unwell or with a fever: an urgent task was made
    MISSED_QUIET = "missed_quiet"  # due while the hotline was down, and now it is quiet hours: staff must see it
    SKIPPED = "skipped"  # the resident was paused, opted out or moved away when it fell due


CHECKIN_WAITING = (CheckinStatus.SENT, CheckinStatus.NO_PHONE)  # due, contacted or not, and not answered


class CheckinRung(enum.IntEnum):
    """The ladder of a check-in nobody answered."""

    SENT = 0  # the check-in went
    REMINDED = 1  # after the window: a reminder, and a call
    VISIT = 2  # by the deadline: an urgent visit task for the liaison


class CheckinPlan(Base):
    """A resident's own check-in plan, set by staff. Without one, the plan comes from their categories."""

    __tablename__ = "checkin_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), unique=True)
    times: Mapped[list[str]] = mapped_column(JSON, default=list)  # local "HH:MM"; empty: no check-ins
    channel: Mapped[str | None] = mapped_column(String(8))  # sms or voice; None: the resident's channel
    starts_on: Mapped[date | None] = mapped_column(Date)  # None: from now on
    ends_on: Mapped[date | None] = mapped_column(Date)  # None: no end; after it, the category default again
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    resident: Mapped[Resident] = relationship()


class Checkin(Base):
    """One scheduled contact with one resident, and its outcome. Unique per resident, local day and slot, so
    however often or however many schedulers run, a slot is made, and sent, once."""

    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    local_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(16))  # "09:00", or "staff-14:32" for a call staff asked for
    channel: Mapped[str] = mapped_column(String(8))  # sms or voice
    phone: Mapped[str | None] = mapped_column(String(20))  # the number it goes to
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[CheckinStatus] = mapped_column(String(16), default=CheckinStatus.SCHEDULED)
    rung: Mapped[int] = mapped_column(Integer, default=CheckinRung.SENT)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the reminder rung is due
    visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the visit rung is due
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    calls_placed: Mapped[int] = mapped_column(Integer, default=0)
    calls_left: Mapped[int] = mapped_column(Integer, default=0)  # retries left in the current series of calls
    next_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_call_result: Mapped[str | None] = mapped_column(String(16))  # busy, no-answer, machine, failed, human
    visit_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    resident: Mapped[Resident] = relationship()
    events: Mapped[list[CheckinEvent]] = relationship(back_populates="checkin", order_by="CheckinEvent.id")

    __table_args__ = (
        UniqueConstraint("resident_id", "local_date", "slot"),
        Index("ix_checkins_status_due", "status", "due_at"),
        Index("ix_checkins_local_date", "local_date"),
        Index("ix_checkins_next_call", "next_call_at"),
    )


class CheckinEvent(Base):
    """One rung or answer of a check-in: sent, reminded, called, call result, visit, answered."""

    __tablename__ = "checkin_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkins.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str] = mapped_column(Text, default="")

    checkin: Mapped[Checkin] = relationship(back_populates="events")
