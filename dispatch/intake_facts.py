"""What intake reads before it decides, and what it writes after: for one stored message or for many at once.

At 09:00 the check-in replies come back together. Intake's rules (`dispatch.intake.decide`) look at who sent each
message, the household's open tasks, the check-in it answers and how many automatic answers the number already
had; here those reads are made for a whole batch in a few set-based statements, locks taken in id order (`Facts`). The
rules then decide each message in turn against these facts, which they keep up to date (a second message of a
household finds the task the first one made). What needs the new tasks' ids (their offers, the receipts) is
written for the whole batch at once (`Pending`). One message is a batch of one: the same reads, rules and writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session, selectinload

from dispatch.care_circle import contacts_by_phone
from dispatch.checkins.answers import answered_by_many
from dispatch.context import DispatchContext
from dispatch.models import (
    Checkin,
    CheckinEvent,
    CircleContact,
    Community,
    Household,
    InboundMessage,
    Liaison,
    OutboundMessage,
    Resident,
    ResidentPhone,
    ResidentStatus,
    Task,
    TaskCategory,
    TaskStatus,
    TemperatureReading,
)
from dispatch.outbox import AUTO_REPLY_KEYS, queue_many
from dispatch.register import SenderMatch
from dispatch.tasks.lifecycle import LaterEvent, put_in_play_many, write_events

HOUR = timedelta(hours=1)


@dataclass
class Facts:
    """What intake's rules need to know about a batch of messages, read beforehand and kept up to date."""

    liaisons: dict[str, Liaison]  # by phone
    residents: dict[str, list[Resident]]  # by phone: every resident with the number, moved-away ones too
    open_tasks: dict[int, list[Task]]  # by household id: its tasks a new message of the same kind joins
    checkins: dict[int, Checkin]  # by resident id: the check-in a message from them answers
    replied: Counter[str]  # automatic answers each number had in the last hour
    unknown_replied: int | None = None  # replies to unknown numbers in the last hour (read when first needed)
    unknown_keys: set[str] = field(default_factory=set)  # today's replies to unknown numbers decided in the batch
    locked: set[int] = field(default_factory=set)  # open tasks locked by a join in this batch (`joinable`)
    family: dict[str, list[CircleContact]] = field(default_factory=dict)  # by phone: reachable care-circle contacts

    @classmethod
    def read(cls, session: Session, messages: Sequence[InboundMessage], now: datetime) -> Facts:
        """Read, for these messages (locked by the caller), everything the rules look at.

        Households are locked (FOR NO KEY UPDATE) in id order before their tasks are read: two batches holding
        messages of one household take turns, and the second finds the first's task. Then the check-ins, locked
        too (as `dispatch.checkins.answers.record_answer` locks one): household before check-in, always.
        """
        phones = sorted({m.from_phone for m in messages})
        found = session.scalars(select(Liaison).where(Liaison.phone.in_(phones)))
        liaisons = {row.phone: row for row in found if row.phone is not None}
        rows = session.execute(
            select(ResidentPhone.phone, Resident)
            .join(Resident, Resident.id == ResidentPhone.resident_id)
            .where(ResidentPhone.phone.in_(phones))
            .options(
                selectinload(Resident.phones),
                selectinload(Resident.household).selectinload(Household.primary_liaison),
            )
            .order_by(Resident.id)
        ).all()
        residents: dict[str, list[Resident]] = {}
        for phone, resident in rows:
            if resident not in residents.setdefault(phone, []):
                residents[phone].append(resident)
        # A care circle's number (no resident's, no liaison's): its residents' households and check-ins too.
        family = contacts_by_phone(session, [p for p in phones if p not in residents and p not in liaisons])
        theirs = [c.resident for found in family.values() for c in found]
        households = sorted({r.household_id for found in [*residents.values(), theirs] for r in found})
        open_tasks: dict[int, list[Task]] = {}
        if households:
            session.execute(
                select(Household.id)
                .where(Household.id.in_(households))
                .order_by(Household.id)
                .with_for_update(key_share=True)
            ).all()
            joinable = select(Task).where(Task.household_id.in_(households), Task.status.in_(TaskStatus.joinable()))
            for task in session.scalars(joinable.order_by(Task.id).execution_options(populate_existing=True)):
                open_tasks.setdefault(task.household_id, []).append(task)  # type: ignore[arg-type]
        resident_ids = sorted({r.id for found in [*residents.values(), theirs] for r in found})
        checkins = answered_by_many(session, resident_ids, now) if resident_ids else {}
        replied = _auto_replies(session, sorted({*residents, *family}), now)
        facts = cls(liaisons, residents, open_tasks, checkins, replied)
        facts.family = family
        return facts

    def match(self, phone: str) -> SenderMatch:
        """`dispatch.register.match_sender`: the residents a message from `phone` may be from; moved-away ones
        count only if no one else does."""
        found = sorted(self.residents.get(phone, []), key=lambda r: (r.status == ResidentStatus.MOVED_AWAY, r.id))
        current = [r for r in found if r.status != ResidentStatus.MOVED_AWAY]
        return SenderMatch(current or found)

    def open_task(self, household_id: int, category: TaskCategory, resident_id: int | None) -> Task | None:
        """The household's first open task of this kind, for this resident or for the whole household."""
        for task in self.open_tasks.get(household_id, []):
            if task.category == category and task.resident_id in (None, resident_id):
                return task
        return None

    def joinable(self, session: Session, task: Task) -> bool:
        """Whether a message may still join `task`, one of the household's open tasks read for the batch.

        A liaison or staff closing a task lock the task, not its household, so between the batch's read and now
        it may have been closed: the first join in a batch locks the task and reads it again (autoflushed first,
        so nothing this batch wrote is lost), and holds it to the commit. A task closed meanwhile leaves the facts.
        """
        if task.id is not None and task.id not in self.locked:
            session.get(Task, task.id, with_for_update=True, populate_existing=True)
            self.locked.add(task.id)
        if task.status in TaskStatus.joinable():
            return True
        self.note_task(task)
        return False

    def note_task(self, task: Task) -> None:
        """A task made or changed in this batch: joinable from now on, or no longer."""
        if task.household_id is None and task.household is None:
            return
        tasks = self.open_tasks.setdefault(task.household.id if task.household else task.household_id, [])  # type: ignore[arg-type]
        if task in tasks and task.status not in TaskStatus.joinable():
            tasks.remove(task)
        elif task not in tasks and task.status in TaskStatus.joinable():
            tasks.append(task)


def _auto_replies(session: Session, phones: list[str], now: datetime) -> Counter[str]:
    """How many automatic answers each number had in the last hour (`dispatch.outbox.auto_replies_since`)."""
    if not phones:
        return Counter()
    rows = session.execute(
        select(OutboundMessage.to_phone, func.count())
        .where(OutboundMessage.created_at >= now - HOUR, OutboundMessage.to_phone.in_(phones))
        .where(or_(*(OutboundMessage.dedupe_key.like(key) for key in AUTO_REPLY_KEYS)))
        .group_by(OutboundMessage.to_phone)
    ).all()
    return Counter({phone: count for phone, count in rows})


@dataclass
class Pending:
    """Writes decided for a batch that wait for one another: new tasks to put in play once they have their ids
    (one INSERT for all of them), automatic answers, queued together, and rows nothing reads back (the tasks'
    and check-ins' events, temperatures), each table's in one statement."""

    tasks: list[tuple[Task, Community | None]] = field(default_factory=list)
    sms: list[dict[str, object]] = field(default_factory=list)
    task_events: list[LaterEvent] = field(default_factory=list)
    checkin_events: list[dict[str, object]] = field(default_factory=list)
    readings: list[dict[str, object]] = field(default_factory=list)

    def offers_to(self, liaison: Liaison) -> bool:
        """True if a new task waiting here is to be offered to `liaison` (a new task is offered to its household's
        liaison alone: no one else can take it or be told of it before it is written)."""
        return any(task.assignee is liaison for task, _ in self.tasks)

    def write_events(self, session: Session) -> None:
        """Write the task events waiting, before something else writes one (the audit trail stays in order)."""
        write_events(session, self.task_events)

    def apply(self, session: Session, context: DispatchContext, now: datetime) -> list[int]:
        """Write them. Returns the outbound SMS decided, each task's offer and alerts before the answers."""
        if not (self.tasks or self.sms or self.task_events or self.checkin_events or self.readings):
            return []
        session.flush()  # the new tasks' ids
        write_events(session, self.task_events)  # before the ladder's, which follow them
        for model, rows in ((CheckinEvent, self.checkin_events), (TemperatureReading, self.readings)):
            if rows:
                session.execute(insert(model), rows)
                rows.clear()
        outbound = put_in_play_many(session, self.tasks, now, context)
        outbound += queue_many(session, self.sms)
        self.tasks, self.sms = [], []
        return outbound
