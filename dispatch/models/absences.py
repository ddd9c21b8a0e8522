"""A resident away (in hospital, staying with family, travelling): their check-ins paused until a return date.

While an absence runs the resident's status is PAUSED, so no check-in is made, sent or climbed for them; their
own calls and SMS are still answered. On the return date the check-in tick ends it (status ACTIVE again) and
places one welcome-back check-in call (`dispatch.register.absences`). A pause without an absence (the status set
by hand) is open-ended: it has no reason or return date and lasts until staff change the status.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models.base import Base, UTCDateTime, utcnow
from dispatch.models.register import Resident


class AbsenceReason(enum.StrEnum):
    """Why a resident is away."""

    HOSPITAL = "hospital"  # 住院
    FAMILY = "family"  # 去子女/亲友家住
    TRAVEL = "travel"  # 外出旅行
    OTHER = "other"  # 其他（见备注）


class ReturnCall(enum.StrEnum):
    """Where an absence's welcome-back call stands."""

    WAITING = "waiting"  # the absence runs
    DUE = "due"  # back by the return date: the call goes at the first hour outside quiet hours
    PLACED = "placed"  # the welcome-back check-in call was placed
    VISIT = "visit"  # no phone to call: a visit task instead
    NONE = "none"  # ended early by staff or by a change of status: no welcome-back call


class AbsenceEnd(enum.StrEnum):
    """How an absence ended."""

    RETURNED = "returned"  # the return date came
    EARLY = "early"  # staff ended it before the return date (back early)
    STATUS = "status"  # staff changed the resident's status (opted out, moved away, active)


class Absence(Base):
    """One stay away of one resident. At most one runs (ended_at NULL) per resident."""

    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    reason: Mapped[AbsenceReason] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[date] = mapped_column(Date)  # the resident's local day it was set
    return_on: Mapped[date] = mapped_column(Date)  # check-ins resume on this local day
    tell_family: Mapped[bool] = mapped_column(Boolean, default=False)  # staff chose to tell the care circle
    set_by: Mapped[str] = mapped_column(String(64))  # audit reference of who set it
    set_by_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The request that set it (a digest of the sender and their key): the same request again finds it.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(100))  # a name, or "system" for the return date
    end_reason: Mapped[AbsenceEnd | None] = mapped_column(String(16))
    return_call: Mapped[ReturnCall] = mapped_column(String(16), default=ReturnCall.WAITING)
    return_checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id"))
    return_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))

    resident: Mapped[Resident] = relationship()

    __table_args__ = (
        Index("ix_absences_running", "ended_at", "return_on"),
        Index("ix_absences_return_call", "return_call"),
    )
