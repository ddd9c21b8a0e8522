"""A resident's profile for hearing and memory: how the hotline's calls speak to them, set by staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class VoiceProfile(Base):
    """One resident's switches; no row means none is on. Each switch is independent of the others."""

    __tablename__ = "voice_profiles"

    resident_id: Mapped[int] = mapped_column(Integer, ForeignKey("residents.id"), primary_key=True)
    slower: Mapped[bool] = mapped_column(Boolean, default=False)  # speech at a slower rate (SSML prosody)
    louder: Mapped[bool] = mapped_column(Boolean, default=False)  # speech louder (SSML prosody)
    twice: Mapped[bool] = mapped_column(Boolean, default=False)  # every prompt said twice
    short_menus: Mapped[bool] = mapped_column(Boolean, default=False)  # at most three options at a time
    sms_copy: Mapped[bool] = mapped_column(Boolean, default=False)  # an SMS of what a call said
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
