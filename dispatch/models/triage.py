"""Triage items: messages from numbers not on the register, gathered per number for staff to act on."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class TriageStatus(enum.StrEnum):
    """Where an unknown number's item is. Only an open item takes new messages."""

    # Waiting for staff: messages from the number join it.
    OPEN = "open"
    # Staff added the number to an existing resident; the messages were then handled as theirs.
    LINKED = "linked"
    # Staff registered a new resident with the number; the messages were then handled as theirs.
    REGISTERED = "registered"
    # Staff closed it with a note (a wrong number, a relative already helped); nothing else was done.
    CLOSED = "closed"


class TriageItem(Base):
    """The messages (SMS and calls) from one number not on the register, on the board of its community."""

    __tablename__ = "triage_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # as stored on the messages: E.164 where readable
    # The number while the item is open, else None: unique, so a number has at most one open item, also when two
    # workers handle two of its messages at once (NULLs never clash).
    open_phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    # Whose board: the community whose number was texted, else the hotline's only one; None: admins only.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    status: Mapped[TriageStatus] = mapped_column(String(16), default=TriageStatus.OPEN)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))  # linked or registered: whom
    note: Mapped[str] = mapped_column(Text, default="")  # staff's note on closing
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # the last message or action
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))  # who dealt with it, by name as they were then
