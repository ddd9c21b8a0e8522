"""Reading tasks for staff: the filtered list, and one task's whole history (every event, offer, reply, delivery
status and call), within a staff member's scope."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from dispatch.models import (
    Call,
    Grid,
    Household,
    InboundMessage,
    Liaison,
    OutboundMessage,
    Resident,
    StaffUser,
    Task,
    TaskEventKind,
    TaskStatus,
)
from dispatch.tasks.event_reading import Actor, EventFacts, name_actors, name_phones, phone_words, read_detail
from dispatch.tasks.staff_actions import scoped_task
from dispatch.tasks.staff_owner import owned_by
from dispatch.tasks.task_texts import hide_door_code
from dispatch.voicemails import Voicemail, task_voicemails

TASK_PAGE = 100


@dataclass(frozen=True)
class TaskFilter:
    """What the task list shows. `status` is a TaskStatus value, or "open" for every open one."""

    status: str | None = None
    category: str | None = None
    grid_id: int | None = None
    liaison_id: int | None = None
    # The staff owner: "unassigned" (nobody follows it up), or a staff member's id ("mine" is the viewer's own).
    owner: int | str | None = None


@dataclass(frozen=True)
class TaskRow:
    """One task in the list."""

    id: int
    category: str
    priority: str
    status: str
    rung: int
    resident: str
    grid: str
    liaison: str
    created_at: datetime
    updated_at: datetime
    owner: str = "-"  # the staff member following it up, by name
    owner_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class HistoryItem:
    """One line of a task's history: an event, a message sent, or a call, in time order."""

    at: datetime
    kind: str  # event, outbound, inbound, call
    what: str  # the event kind, the message's status, the call's status
    who: str  # an actor ("liaison:3", "staff:1", "system") or a phone number (staff see numbers)
    channel: str
    detail: str
    # For words (the console): who, by role and name; what the event's detail says; a number in national format.
    actor: Actor = field(default_factory=lambda: Actor("someone"))
    facts: EventFacts = field(default_factory=EventFacts)
    phone: str = ""

    def as_dict(self) -> dict[str, Any]:
        fields = ("at", "kind", "what", "who", "channel", "detail")
        return {**{name: getattr(self, name) for name in fields}, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Note:
    """A note on a task, by staff or a liaison; `for_liaison`: the liaison holding the task may read it by SMS."""

    at: datetime
    by: str  # the API's name: "刘文员 (staff:2)"
    text: str
    for_liaison: bool
    actor: Actor = field(default_factory=lambda: Actor("someone"))  # who wrote it, for words (the console's)

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "by": self.by, "text": self.text, "for_liaison": self.for_liaison}


@dataclass(frozen=True)
class TaskDetail:
    """One task and everything that happened to it."""

    task: TaskRow
    description: str
    household_id: int | None
    resident_id: int | None
    assignee_id: int | None
    offer_deadline: datetime | None
    accepted_at: datetime | None
    history: list[HistoryItem] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)  # notes on it, oldest first
    voicemails: list[Voicemail] = field(default_factory=list)  # recordings callers left, for staff to hear

    @property
    def open(self) -> bool:
        return self.task.status in TaskStatus.open()

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.task.as_dict(),
            "description": self.description,
            "household_id": self.household_id,
            "resident_id": self.resident_id,
            "assignee_id": self.assignee_id,
            "offer_deadline": self.offer_deadline.isoformat() if self.offer_deadline else None,
            "accepted_at": self.accepted_at.isoformat() if self.accepted_at else None,
            "history": [item.as_dict() for item in self.history],
            "notes": [note.as_dict() for note in self.notes],
            "voicemails": [
                {"message_id": v.message_id, "received_at": v.received_at.isoformat()} for v in self.voicemails
            ],
        }


def list_tasks(
    session: Session, where: ColumnElement[bool], filters: TaskFilter, *, limit: int = TASK_PAGE, offset: int = 0
) -> list[TaskRow]:
    """Tasks in scope matching `filters`, urgent and open first, newest first within that."""
    liaison = aliased(Liaison)
    query = (
        select(Task, Resident.name, Grid.name, liaison.name, StaffUser.display_name)
        .outerjoin(Household, Household.id == Task.household_id)
        .outerjoin(Resident, Resident.id == Task.resident_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(liaison, liaison.id == Task.assignee_liaison_id)
        .outerjoin(StaffUser, StaffUser.id == Task.owner_staff_id)
        .where(where)
    )
    if filters.status == "open":
        query = query.where(Task.status.in_(TaskStatus.open()))
    elif filters.status:
        query = query.where(Task.status == filters.status)
    if filters.category:
        query = query.where(Task.category == filters.category)
    if filters.grid_id is not None:
        query = query.where(Household.grid_id == filters.grid_id)
    if filters.liaison_id is not None:
        query = query.where(Task.assignee_liaison_id == filters.liaison_id)
    if filters.owner is not None:
        query = query.where(owned_by(None if filters.owner == "unassigned" else int(filters.owner)))
    query = query.order_by(
        Task.status.in_(TaskStatus.open()).desc(), (Task.priority == "urgent").desc(), Task.id.desc()
    )
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return [_row(task, resident, grid, name, owner) for task, resident, grid, name, owner in rows]


def _row(task: Task, resident: str | None, grid: str | None, liaison: str | None, owner: str | None) -> TaskRow:
    return TaskRow(
        id=task.id,
        category=task.category,
        priority=task.priority,
        status=task.status,
        rung=task.rung,
        resident=resident or "-",
        grid=grid or "-",
        liaison=liaison or "-",
        created_at=task.created_at,
        updated_at=task.updated_at,
        owner=owner or "-",
        owner_id=task.owner_staff_id,
    )


def task_detail(session: Session, task_id: int, where: ColumnElement[bool]) -> TaskDetail:
    """The task and its history, oldest first.

    Raises:
        NotFound: no such task, or not in scope.
    """
    task = scoped_task(session, task_id, where)
    history = [HistoryItem(e.at, "event", e.kind, e.actor, e.channel, e.detail) for e in task.events]
    for sms in session.scalars(select(OutboundMessage).where(OutboundMessage.task_id == task.id)):
        code = f" ({sms.error_code})" if sms.error_code else ""
        body = hide_door_code(sms.body)  # the door code stays on the resident's page
        history.append(HistoryItem(sms.created_at, "outbound", f"{sms.status}{code}", sms.to_phone, sms.kind, body))
    source = session.get(InboundMessage, task.source_message_id) if task.source_message_id else None
    if source is not None:
        history.append(
            HistoryItem(
                source.received_at,
                "inbound",
                str(source.outcome or "received"),
                source.from_phone,
                source.channel,
                source.body,
            )
        )
        if source.channel == "voice":
            call = session.scalar(select(Call).where(Call.call_sid == source.provider_sid.split(":", 1)[0]))
            if call is not None:
                detail = f"{call.duration_seconds or 0}s" + (", voicemail" if call.voicemail else "")
                history.append(
                    HistoryItem(call.started_at, "call", call.status or "in progress", call.from_phone, "voice", detail)
                )
    history.sort(key=lambda item: item.at)
    history = _in_words(session, history)
    note_events = [e for e in task.events if e.kind == TaskEventKind.NOTE]
    note_actors = name_actors(session, {e.actor for e in note_events})
    note_names = names_of(note_actors)
    notes = [
        Note(e.at, note_names.get(e.actor, e.actor), e.detail, e.for_liaison, note_actors[e.actor]) for e in note_events
    ]
    resident = task.resident.name if task.resident else None
    grid = task.household.grid.name if task.household and task.household.grid else None
    return TaskDetail(
        task=_row(
            task,
            resident,
            grid,
            task.assignee.name if task.assignee else None,
            task.owner.display_name if task.owner else None,
        ),
        description=task.description,
        household_id=task.household_id,
        resident_id=task.resident_id,
        assignee_id=task.assignee_liaison_id,
        offer_deadline=task.offer_deadline,
        accepted_at=task.accepted_at,
        history=history,
        notes=notes,
        voicemails=task_voicemails(session, task),
    )


def _in_words(session: Session, history: list[HistoryItem]) -> list[HistoryItem]:
    """Each item with its actor named (an event's by its reference, a message's or call's by its number), and an
    event's detail read into facts."""
    read = {id(item): read_detail(item.what, item.detail) for item in history if item.kind == "event"}
    refs = {item.who for item in history if item.kind == "event"} | {ref for _, ref in read.values() if ref}
    actors = name_actors(session, refs)
    numbers = name_phones(session, {item.who for item in history if item.kind != "event"})
    named = names_of(actors)
    words = []
    for item in history:
        if item.kind == "event":
            facts, ref = read[id(item)]
            facts = replace(facts, person=actors[ref]) if ref else facts
            words.append(replace(item, who=named.get(item.who, item.who), actor=actors[item.who], facts=facts))
        else:
            words.append(replace(item, actor=numbers[item.who], phone=phone_words(item.who)))
    return words


def names_of(actors: dict[str, Actor]) -> dict[str, str]:
    """The API's names for references: "张敏 (liaison:3)", as it has always given them."""
    return {ref: f"{actor.name} ({ref})" for ref, actor in actors.items() if actor.name}


def task_statuses() -> list[str]:
    """The statuses a filter may name: "open", then each status."""
    return ["open", *TaskStatus]
