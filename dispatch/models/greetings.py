"""A liaison's recorded greeting: the voice their households hear at the start of a check-in call.

Every recording a liaison makes on the hotline is a row. `pending` while they hear it back; `current` once kept (at
most one per liaison); `replaced` when a later one is kept, `discarded` when they record again or keep the old one,
`removed` when staff take it away, `gone` when the provider no longer has the audio. The audio stays at the
provider, as a voicemail's does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow

GREETING_STATES = ("pending", "current", "replaced", "discarded", "removed", "gone")


class LiaisonGreeting(Base):
    """One recording of a liaison's check-in greeting."""

    __tablename__ = "liaison_greetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    liaison_id: Mapped[int] = mapped_column(ForeignKey("liaisons.id"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64))  # the call it was recorded on
    recording_url: Mapped[str] = mapped_column(String(1000))  # as the provider posted it; only the gateway opens it
    seconds: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # replaced, discarded or removed

    __table_args__ = (
        # The provider's callback, posted twice, stores one recording.
        UniqueConstraint("call_sid", "recording_url"),
        # One current greeting per liaison: two "keep"s racing cannot both win.
        Index(
            "uq_liaison_greetings_current",
            "liaison_id",
            unique=True,
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
    )
