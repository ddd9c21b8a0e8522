"""Tasks: one need of one household, its audit trail of events, and temperature readings."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models.base import Base, UTCDateTime, utcnow
from dispatch.models.register import Household, Liaison, Resident
from dispatch.models.staff_users import StaffUser


class TaskCategory(enum.StrEnum):
    """What a resident needs. `other` is for a clerk to triage."""

    GROCERIES = "groceries"
    MEDICINE = "medicine"
    RUBBISH = "rubbish"
    PARCEL = "parcel"
    UNWELL = "unwell"
    VISIT = "visit"
    CALLBACK = "callback"
    OTHER = "other"


class TaskStatus(enum.StrEnum):
    """Where a task is in the loop 收集—分流—接单—反馈."""

    # Made from a resident's message; nobody has been asked to take it yet.
    NEW = "new"
    # Sent to a liaison, who has not yet replied.
    OFFERED = "offered"
    # A liaison has taken it and is on it.
    ACCEPTED = "accepted"
    # Finished; the resident has been told.
    DONE = "done"
    # The liaison handed it back.
    DECLINED = "declined"
    # Nobody took it in time; it climbed the ladder.
    ESCALATED = "escalated"
    # Staff cancelled it; it needs nothing more.
    CANCELLED = "cancelled"

    # The sets of statuses, in the order above. Tuples, so that a query's IN list is always written the same way.

    @classmethod
    def open(cls) -> tuple[TaskStatus, ...]:
        """Not finished: neither done nor cancelled. What the board, the task list and staff actions work on."""
        return (cls.NEW, cls.OFFERED, cls.ACCEPTED, cls.DECLINED, cls.ESCALATED)

    @classmethod
    def joinable(cls) -> tuple[TaskStatus, ...]:
        """Open and not handed back: a household's task of one kind that a new message (or a check-in nobody
        answered) of the same kind is added to, rather than making another."""
        return (cls.NEW, cls.OFFERED, cls.ACCEPTED, cls.ESCALATED)

    @classmethod
    def climbable(cls) -> tuple[TaskStatus, ...]:
        """Nobody has taken it: it may still climb the ladder (an offer SMS about it still matters)."""
        return (cls.NEW, cls.OFFERED, cls.DECLINED, cls.ESCALATED)

    @classmethod
    def takeable(cls) -> tuple[TaskStatus, ...]:
        """Untaken and not just handed back: a liaison in its circle may take it now."""
        return (cls.NEW, cls.OFFERED, cls.ESCALATED)

    @classmethod
    def waiting(cls) -> tuple[TaskStatus, ...]:
        """Waiting for a liaison's answer to an offer: what "take" by SMS or on the phone acts on."""
        return (cls.OFFERED, cls.ESCALATED)


class TaskPriority(enum.StrEnum):
    """How soon a task must be taken."""

    # Unwell, a fever, or no answer to a check-in: shorter deadline, and duty staff hear at once.
    URGENT = "urgent"
    NORMAL = "normal"


class TaskEventKind(enum.StrEnum):
    """What happened to a task: the `kind` of each of its events (the column stays a string)."""

    CREATED = "created"  # made: from a message, a call, a check-in nobody answered, or by staff
    ADDED = "added"  # another message or missed check-in of the household joined it
    OFFERED = "offered"  # sent to the household's liaison
    ACCEPTED = "accepted"  # a liaison took it
    DONE = "done"  # finished, by a liaison or staff
    DECLINED = "declined"  # a liaison handed it back
    NOTE = "note"  # a note, by a liaison or staff
    ESCALATED = "escalated"  # climbed a rung of the ladder
    FLAGGED = "flagged"  # for staff to look at: words a liaison's reply left unclear, or not done in time
    ASSIGNED = "assigned"  # staff put it in a liaison's hands
    CANCELLED = "cancelled"  # staff cancelled it
    REOPENED = "reopened"  # staff opened a done task again
    TRIAGED = "triaged"  # staff gave an "other" task its category
    LINKED = "linked"  # a call's task became a household's once its number was put on the register
    OWNER_TAKEN = "owner_taken"  # a member of staff took it to follow up
    OWNER_GIVEN = "owner_given"  # staff gave it to a member of staff to follow up
    OWNER_RELEASED = "owner_released"  # nobody on the staff follows it up any more


class Task(Base):
    """One need of one resident."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    # None: the need came from a number several residents share, so it is the household's (see README).
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    category: Mapped[TaskCategory] = mapped_column(String(20))
    priority: Mapped[TaskPriority] = mapped_column(String(8), default=TaskPriority.NORMAL)
    status: Mapped[TaskStatus] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_liaison_id: Mapped[int | None] = mapped_column(ForeignKey("liaisons.id"))
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    # The ladder: 0 primary liaison, 1 backup liaison, 2 grid leader, 3 duty staff (the last rung).
    rung: Mapped[int] = mapped_column(Integer, default=0)
    # When the current offer lapses if nobody has taken it; None once taken, or on the last rung.
    offer_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # By when someone must have taken it (the day's check-in deadline, for a visit or an unclear reply to a
    # check-in): each rung's window is shortened so that the ladder reaches duty staff by then. None: no limit.
    due_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once when a taken task is still not done by the day's done-by time: staff should look.
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A task staff made: the key of the form or API request that made it (a hash of who sent it and their key), so
    # the same request twice (a double click, a client's retry) makes it once; and a hash of what that request
    # asked, so the same key with another request is refused. None for tasks made from a message or a call.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The staff member following it up ("I'll follow this up"), whoever the liaison is: what a clerk's "mine" and
    # "unassigned" lists read. None: nobody yet.
    owner_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)

    household: Mapped[Household | None] = relationship()
    resident: Mapped[Resident | None] = relationship()
    assignee: Mapped[Liaison | None] = relationship()
    owner: Mapped[StaffUser | None] = relationship()
    events: Mapped[list[TaskEvent]] = relationship(back_populates="task", order_by="TaskEvent.id")

    # One message makes at most one task of each kind, however often it is processed.
    __table_args__ = (UniqueConstraint("source_message_id", "category"),)


class TaskEvent(Base):
    """One change to a task: who, when, through which channel. This is the audit trail."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # a TaskEventKind
    actor: Mapped[str] = mapped_column(String(64))  # "resident:12", "liaison:3", "system"
    channel: Mapped[str] = mapped_column(String(16))  # sms, voice, console, system
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str] = mapped_column(Text, default="")
    # A staff note the liaison holding the task may read (they ask by SMS: 备注12). Staff notes are for staff
    # unless the writer says so: they may hold what a volunteer should not read (a diagnosis, a family quarrel).
    for_liaison: Mapped[bool] = mapped_column(default=False, server_default=false())

    task: Mapped[Task] = relationship(back_populates="events")


class TaskOffer(Base):
    """One phone a task was offered to (a liaison) or alerted about (staff): the circle. Climbing a rung widens
    it; while the task is untaken any liaison in it may take it, and the others are told who did."""

    __tablename__ = "task_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    # None: staff (a grid leader who is not a liaison, the duty phone), told but not able to take it by reply.
    liaison_id: Mapped[int | None] = mapped_column(ForeignKey("liaisons.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    rung: Mapped[int] = mapped_column(Integer)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    liaison: Mapped[Liaison | None] = relationship()

    # Each phone is in a task's circle once, however often the offer is repeated.
    __table_args__ = (UniqueConstraint("task_id", "phone"),)


class TemperatureReading(Base):
    """A body temperature a resident reported, in °C."""

    __tablename__ = "temperature_readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    # One reading per message: a retried job records it once.
    message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), unique=True)
    celsius: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
