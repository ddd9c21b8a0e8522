"""A household's access notes: who holds a key, the door code, and a short note (a dog, a stiff lock).

They go on visit tasks only: the offer SMS to whoever the visit is offered to, and the liaison's confirmation when
they take it (`dispatch.tasks.task_texts`). The door code is a secret: it is kept in this table in plain text (the
hotline has no encryption at rest for values it must read back; passwords and API tokens are only hashes), and
never written to a log line, an audit entry, a task's history or the register's CSV.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class HouseholdAccess(Base):
    """One household's keyholder, door code and access note; a row only once staff have set something."""

    __tablename__ = "household_access"

    household_id: Mapped[int] = mapped_column(Integer, ForeignKey("households.id"), primary_key=True)
    key_holder_name: Mapped[str | None] = mapped_column(String(30))
    key_holder_relation: Mapped[str | None] = mapped_column(String(10))
    key_holder_phone: Mapped[str | None] = mapped_column(String(20))
    door_code: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def is_empty(self) -> bool:
        """True when nothing is set."""
        return not any(
            (self.key_holder_name, self.key_holder_relation, self.key_holder_phone, self.door_code, self.notes)
        )
