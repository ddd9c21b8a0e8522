"""Medicines a resident takes regularly, and which medicine task covered which refill cycle."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models.base import Base, UTCDateTime, utcnow
from dispatch.models.register import Resident
from dispatch.models.tasks import Task


class Medicine(Base):
    """One medicine of one resident, as the resident or family name it (降压药 氨氯地平), with how long a refill lasts.

    It runs out `days_supply` days after its last refill (`runs_out_on`, kept with the two it is made of, so the
    scheduler's query is one comparison). Stopped medicines are kept for the record and make no tasks."""

    __tablename__ = "medicines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    dose: Mapped[str] = mapped_column(String(200), default="")  # a note: 每日一片
    days_supply: Mapped[int] = mapped_column(Integer)  # how many days one refill lasts (1–365)
    last_refill: Mapped[date | None] = mapped_column(Date)  # local date; None: not known yet (no task is made)
    runs_out_on: Mapped[date | None] = mapped_column(Date, index=True)  # last_refill + days_supply
    # How many days before it runs out its task is made; None: HOTLINE_MEDICINE_LEAD_DAYS.
    lead_days: Mapped[int | None] = mapped_column(Integer)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The add request's key (a hash of who sent it and their key): a double click or a retry adds it once.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    resident: Mapped[Resident] = relationship()


class MedicineTask(Base):
    """A medicine task covers this medicine for the cycle that runs out on `runs_out_on`: one row per medicine and
    cycle, whoever tries to make it (two scheduler runs make one). `refilled_on` is set once when the task is done."""

    __tablename__ = "medicine_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    medicine_id: Mapped[int] = mapped_column(ForeignKey("medicines.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    runs_out_on: Mapped[date] = mapped_column(Date)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refilled_on: Mapped[date | None] = mapped_column(Date)

    medicine: Mapped[Medicine] = relationship()
    task: Mapped[Task] = relationship()

    __table_args__ = (UniqueConstraint("medicine_id", "runs_out_on"),)
