"""What the hotline knows of the phones that carry its SMS (SMS Gateway for Android): when each was last heard
from, and how many SMS it was given today, against its SIM's daily limit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class AndroidPhone(Base):
    """One phone of `ANDROID_PHONES`, by its name there. Made the first time it is given work or heard from."""

    __tablename__ = "android_phones"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    given_on: Mapped[date | None] = mapped_column(Date)  # the community's local day `given` counts
    given: Mapped[int] = mapped_column(Integer, default=0)  # SMS handed to the phone that day, accepted or not known
    last_heard_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its last signed webhook, of any kind
    last_event: Mapped[str | None] = mapped_column(String(32))  # that webhook's event, e.g. system:ping
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
