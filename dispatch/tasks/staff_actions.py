"""What staff do to a task from the console or the API: assign or reassign it, add a note, close it, reopen it
when it was not done after all, cancel it, or triage an "other" task (分流) by choosing its category.

Each action locks the task, checks it is in the staff member's scope (`where`, from `household_scope`) and in a
state the action makes sense for, records a TaskEvent under the staff member's name and an audit entry, and
returns the outbound messages it decided; the caller hands those to the queue after the commit. Doing an action
twice is safe: the second finds the task already in the state the first left it in, and is refused with a
message saying so, sending nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.context import DispatchContext
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import Household, Liaison, Task, TaskCategory, TaskEvent, TaskPriority, TaskStatus
from dispatch.outbox import queue_sms
from dispatch.staff_accounts import Principal
from dispatch.tasks import escalation, lifecycle, medicine_refills, offers
from dispatch.tasks.task_texts import task_text

NOTE_LIMIT = 500
# Categories a clerk may give an "other" task; "other" itself is what triage ends.
TRIAGE_CATEGORIES = tuple(c for c in TaskCategory if c is not TaskCategory.OTHER)


def scoped_task(session: Session, task_id: int, where: ColumnElement[bool], *, lock: bool = False) -> Task:
    """The task, if it exists and is in scope; locked for update if `lock`.

    A task with no household (a number several households share) is only in an admin's scope.

    Raises:
        NotFound: no such task, or not in scope (the same answer, so ids outside the scope reveal nothing).
    """
    found = session.scalar(
        select(Task.id).outerjoin(Household, Household.id == Task.household_id).where(Task.id == task_id, where)
    )
    task = session.get(Task, task_id, with_for_update=lock, populate_existing=lock) if found is not None else None
    if task is None:
        raise NotFound("task", str(task_id))
    return task


def liaisons_in_scope(session: Session, where: ColumnElement[bool]) -> list[Liaison]:
    """Active liaisons with a phone who serve a household in scope, or belong to a grid that has one."""
    serving = select(Household.primary_liaison_id).where(where).union(select(Household.backup_liaison_id).where(where))
    grids = select(Household.grid_id).where(where, Household.grid_id.is_not(None))
    return list(
        session.scalars(
            select(Liaison)
            .where(Liaison.active, Liaison.phone.is_not(None), Liaison.id.in_(serving) | Liaison.grid_id.in_(grids))
            .order_by(Liaison.name, Liaison.id)
        )
    )


def _open(task: Task, action: str) -> None:
    if task.status not in TaskStatus.open():
        raise InvalidAction(
            f"task #{task.id} is {task.status}; it cannot be {action}",
            "task_closed",
            task_id=task.id,
            status=task.status,
        )


def _event(session: Session, task: Task, kind: str, actor: Principal, now: datetime, detail: str = "") -> TaskEvent:
    event = TaskEvent(task=task, kind=kind, actor=actor.audit_ref, channel="console", at=now, detail=detail)
    session.add(event)
    task.updated_at = now
    return event


def _holders(session: Session, task: Task) -> list[Liaison]:
    """Who to tell when staff take a task out of liaisons' hands: whoever took it; or, while nobody has, everyone
    it was offered to. Its circle is emptied: none of them may take it any more."""
    circle = offers.withdraw(session, task)
    if task.status not in TaskStatus.takeable():
        circle = []
    found = {li.id: li for li in (task.assignee, *circle) if li is not None}
    return list(found.values())


def _offer_again(
    session: Session,
    task: Task,
    liaison: Liaison,
    action: str,
    event: TaskEvent,
    now: datetime,
    context: DispatchContext,
) -> list[int]:
    """Staff put the task in `liaison`'s hands (`action` "assign" or "reopen", recorded as `event`): they join its
    circle at its rung and get the offer SMS, once per event."""
    assert liaison.phone is not None
    offers.widen(session, task, liaison.phone, task.rung, now, liaison)
    session.flush()  # the event's id, for the SMS's key
    sms = queue_sms(
        session,
        dedupe_key=f"task:{task.id}:{action}:{event.id}",
        to_phone=liaison.phone,
        body=task_text(session, task, "liaison_task_offer", context.catalog, context.staff_language),
        task_id=task.id,
    )
    return [sms.id] if sms else []


def _tell_liaison(
    session: Session, task: Task, liaison: Liaison | None, key: str, context: DispatchContext
) -> list[int]:
    """Tell the liaison who had the task that they need not do it any more (once per task, liaison and reason)."""
    if liaison is None or liaison.phone is None:
        return []
    body = context.catalog.render(
        key,
        context.staff_language,
        task_id=task.id,
        category=context.catalog.render(f"category_{task.category}", context.staff_language),
    )
    sms = queue_sms(
        session, dedupe_key=f"task:{task.id}:{key}:{liaison.id}", to_phone=liaison.phone, body=body, task_id=task.id
    )
    return [sms.id] if sms else []


def assign(
    session: Session,
    task_id: int,
    liaison_id: int,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> list[int]:
    """Offer the task to `liaison_id`, who takes it by reply as with any offer; the liaison who had it is told.

    The task keeps its rung: if the new liaison does not take it in time, it climbs on from where it was.

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the task is closed, the liaison is not an active liaison in scope, or already has it.
    """
    task = scoped_task(session, task_id, where, lock=True)
    _open(task, "assigned")
    liaison = next((li for li in liaisons_in_scope(session, where) if li.id == liaison_id), None)
    if liaison is None or liaison.phone is None:
        raise InvalidAction(
            f"liaison {liaison_id} is not an active liaison with a phone in your part of the register", "liaison"
        )
    if task.assignee_liaison_id == liaison.id:
        raise InvalidAction(f"task #{task.id} is already with {liaison.name}", "already_with", name=liaison.name)
    outbound = [
        sms
        for li in _holders(session, task)
        if li.id != liaison.id
        for sms in _tell_liaison(session, task, li, "liaison_task_reassigned", context)
    ]
    task.assignee, task.status, task.accepted_at = liaison, TaskStatus.OFFERED, None
    task.offer_deadline = escalation.deadline(task, now, context)
    event = _event(session, task, "assigned", actor, now, f"liaison:{liaison.id}")
    audit.record(session, actor, "assign", "task", task.id, f"liaison:{liaison.id}", at=now)
    return [*outbound, *_offer_again(session, task, liaison, "assign", event, now, context)]


def pass_on_from_stopped(
    session: Session, stopped: Liaison, *, actor: audit.Actor, now: datetime, context: DispatchContext
) -> tuple[list[Task], list[int]]:
    """A liaison was just stopped and their households passed on (`dispatch.register.coverage`): each open task
    offered to them or taken by them is offered again, as staff assigning it would, to its household's primary
    liaison now (their backup until the stop); with nobody there it climbs the ladder at once. Whoever held it
    is told they need not do it. Returns the tasks and the SMS decided, to hand over after the commit.
    """
    held = select(Task).where(
        Task.assignee_liaison_id == stopped.id, Task.status.in_((TaskStatus.OFFERED, TaskStatus.ACCEPTED))
    )
    tasks = list(session.scalars(held.order_by(Task.id).with_for_update()))
    outbound: list[int] = []
    for task in tasks:
        household = task.household
        primary = household.primary_liaison if household is not None else None
        if primary is not None and (not primary.active or primary.phone is None or primary.id == stopped.id):
            primary = None
        outbound += [
            sms
            for li in _holders(session, task)
            if primary is None or li.id != primary.id
            for sms in _tell_liaison(session, task, li, "liaison_task_reassigned", context)
        ]
        if primary is None:
            task.assignee, task.accepted_at = None, None
            outbound += escalation.climb(session, task, now, context, reason="no liaison")
            continue
        task.assignee, task.status, task.accepted_at = primary, TaskStatus.OFFERED, None
        task.offer_deadline = escalation.deadline(task, now, context)
        task.updated_at = now
        event = TaskEvent(
            task=task, kind="assigned", actor=actor.audit_ref, channel="console", at=now, detail=f"liaison:{primary.id}"
        )
        session.add(event)
        outbound += _offer_again(session, task, primary, "assign", event, now, context)
    return tasks, outbound


def add_note(
    session: Session,
    task_id: int,
    text: str,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    for_liaison: bool = False,
) -> None:
    """Add a note to the task's history (any state: a note after closing is still worth keeping). With
    `for_liaison`, the liaison holding the task may read it by SMS (备注12); otherwise it is for staff only.

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the note is empty or longer than NOTE_LIMIT characters.
    """
    text = text.strip()
    if not text or len(text) > NOTE_LIMIT:
        raise InvalidAction(f"a note needs 1 to {NOTE_LIMIT} characters", "note_length", limit=NOTE_LIMIT)
    task = scoped_task(session, task_id, where, lock=True)
    last = task.events[-1] if task.events else None
    if last is not None and (last.kind, last.actor, last.detail) == ("note", actor.audit_ref, text):
        return  # the same note again, nothing between: a double click or a retry
    _event(session, task, "note", actor, now, text).for_liaison = for_liaison
    audit.record(session, actor, "note", "task", task.id, "for the liaison" if for_liaison else "", at=now)


def close(
    session: Session,
    task_id: int,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
    note: str = "",
) -> list[int]:
    """Mark the task done. If a liaison had it, the resident is told it is done as if the liaison had replied.

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the task is already done or cancelled.
    """
    task = scoped_task(session, task_id, where, lock=True)
    _open(task, "closed")
    lifecycle.done(task)
    medicine_refills.refilled(session, task, now, context.timezone)  # a medicine task resets its count
    _event(session, task, "done", actor, now, note.strip()[:NOTE_LIMIT])
    audit.record(session, actor, "close", "task", task.id, at=now)
    return lifecycle.tell_resident(session, task, "done", task.assignee, context.catalog) if task.assignee else []


def reopen(
    session: Session,
    task_id: int,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
    reason: str = "",
) -> list[int]:
    """A done task that was not done after all (the resident calls back: the wrong medicine) is offered again from
    the first rung: to the liaison who did it if still active with a phone, else to the household's liaison, else
    up the ladder. An urgent one tells the duty staff again.

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the task is not done (an open task needs no reopening; a cancelled one, a new task).
    """
    task = scoped_task(session, task_id, where, lock=True)
    if task.status != TaskStatus.DONE:
        raise InvalidAction(
            f"task #{task.id} is {task.status}; only a done task can be reopened", "reopen", status=task.status
        )
    household = task.household
    primary = household.primary_liaison if household is not None else None
    liaison = next(
        (li for li in (task.assignee, primary) if li is not None and li.active and li.phone is not None), None
    )
    task.rung, task.accepted_at, task.flagged_at = escalation.PRIMARY, None, None
    task.assignee, task.status = liaison, TaskStatus.OFFERED if liaison else TaskStatus.NEW
    event = _event(session, task, "reopened", actor, now, reason.strip()[:NOTE_LIMIT])
    audit.record(session, actor, "reopen", "task", task.id, at=now)
    outbound = _offer_again(session, task, liaison, "reopen", event, now, context) if liaison else []
    return outbound + escalation.start(session, task, now, context)


def cancel(
    session: Session,
    task_id: int,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
    reason: str = "",
) -> list[int]:
    """Cancel the task: it needs nothing more. The liaison who had it is told not to do it.

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the task is already done or cancelled.
    """
    task = scoped_task(session, task_id, where, lock=True)
    _open(task, "cancelled")
    outbound = [
        sms
        for li in _holders(session, task)
        for sms in _tell_liaison(session, task, li, "liaison_task_cancelled", context)
    ]
    lifecycle.cancel(task)
    _event(session, task, "cancelled", actor, now, reason.strip()[:NOTE_LIMIT])
    audit.record(session, actor, "cancel", "task", task.id, at=now)
    return outbound


def triage(
    session: Session,
    task_id: int,
    category: str,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> list[int]:
    """分流: give an "other" task (one the parser did not understand) its real category. An "unwell" task becomes
    urgent, with the duty staff told at once and a shorter deadline, as if the resident's words had said so.

    Raises:
        NotFound: the task is not in scope.
        InvalidAction: the task is not an open "other" task, the category is unknown, or the same message already
            made a task of that category.
    """
    if category not in TRIAGE_CATEGORIES:
        raise InvalidAction(f"category must be one of: {', '.join(TRIAGE_CATEGORIES)}", "category")
    task = scoped_task(session, task_id, where, lock=True)
    _open(task, "triaged")
    if task.category != TaskCategory.OTHER:
        raise InvalidAction(f"task #{task.id} is already sorted as {task.category}", "sorted", category=task.category)
    if task.source_message_id is not None:
        twin = session.scalar(
            select(Task.id).where(Task.source_message_id == task.source_message_id, Task.category == category)
        )
        if twin is not None:
            raise InvalidAction(
                f"the same message already made {category} task #{twin}; cancel this one instead",
                "twin",
                category=category,
                twin=twin,
            )
    task.category = TaskCategory(category)
    _event(session, task, "triaged", actor, now, f"other→{category}")
    audit.record(session, actor, "triage", "task", task.id, f"other→{category}", at=now)
    if category == TaskCategory.UNWELL and task.priority != TaskPriority.URGENT:
        task.priority = TaskPriority.URGENT
        return escalation.became_urgent(session, task, now, context)
    return []
