"""A task's life: made for one need of a household, offered to its liaison, taken, done, handed back or cancelled;
and its resident told when it is taken and when it is done.

Intake (a resident's message or call), the check-in ladder (a visit nobody answered for) and a liaison's sign of
danger make tasks with `create_task`, and put them in play with `put_in_play`: the first offer, then the ladder
(`dispatch.tasks.escalation`), which moves a task nobody takes. A liaison's reply (`dispatch.tasks.liaison_replies`)
or staff (`dispatch.tasks.staff_actions`) take, finish, hand back or cancel it; the caller records the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dispatch.context import DispatchContext
from dispatch.models import (
    Channel,
    Community,
    Household,
    InboundMessage,
    Liaison,
    Resident,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
    VoiceProfile,
)
from dispatch.outbox import queue_many, queue_sms
from dispatch.tasks import escalation, offers
from dispatch.tasks.task_texts import AccessRows, resident_names, task_text
from dispatch.texts import MessageCatalog

LaterEvent = tuple[Task, dict[str, object]]  # an event of a task, to be written once the task has its id


def create_task(
    session: Session,
    household: Household | None,
    resident: Resident | None,
    category: TaskCategory,
    priority: TaskPriority,
    *,
    description: str,
    actor: str,
    channel: str,
    now: datetime,
    source_message_id: int | None = None,
    due_by: datetime | None = None,
    why: str = "",
    flush: bool = True,
    events: list[LaterEvent] | None = None,
) -> Task:
    """A new task for `household` (None: for staff, a number several households share), assigned to its active
    primary liaison (status offered) or to nobody (status new); its "created" event, by `actor` through `channel`
    (the priority, then `why`), and its "offered" one. The caller puts it in play (`put_in_play`).

    Args:
        source_message_id: The message it was made from, if any: one message makes one task of each category.
        due_by: By when someone must have taken it (the ladder reaches duty staff by then).
        flush: False: the caller flushes (many new tasks get their ids in one INSERT); till then it has no id.
        events: Where its events wait to be written with others' (`write_events`); None: added to the session.
    """
    liaison = household.primary_liaison if household else None
    liaison = liaison if liaison is not None and liaison.active else None
    task = Task(
        household=household,
        resident=resident,
        category=category,
        priority=priority,
        status=TaskStatus.OFFERED if liaison else TaskStatus.NEW,
        description=description,
        assignee=liaison,
        source_message_id=source_message_id,
        due_by=due_by,
        rung=0,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    if flush:
        session.flush()
    detail = f"{priority}; {why}" if why else str(priority)
    later = [(task, event_row("created", actor, channel, now, detail))]
    if liaison is not None:
        later.append((task, event_row("offered", "system", "sms", now, f"liaison:{liaison.id}")))
    if events is None:
        session.add_all(TaskEvent(task=task, **row) for _, row in later)
    else:
        events += later
    return task


def event_row(kind: str, actor: str, channel: str, at: datetime, detail: str) -> dict[str, object]:
    """A task event's columns, but for its task's id (a `LaterEvent`'s second half)."""
    return {"kind": kind, "actor": actor, "channel": channel, "at": at, "detail": detail}


def write_events(session: Session, events: list[LaterEvent]) -> None:
    """Write these events in one statement, in order (their tasks flushed first, for their ids), and empty the
    list. The audit trail keeps its order as long as nothing else writes an event of these tasks meanwhile."""
    if not events:
        return
    session.flush()
    session.execute(insert(TaskEvent), [{"task_id": task.id, **row} for task, row in events])
    events.clear()


def put_in_play(
    session: Session, task: Task, now: datetime, context: DispatchContext, community: Community | None
) -> list[int]:
    """A new task's first offer, if it has a liaison, and its start on the ladder (`community`: whose duty staff
    hear of a task with no household). Returns the outbound SMS ids decided."""
    return put_in_play_many(session, [(task, community)], now, context)


def put_in_play_many(
    session: Session, tasks: list[tuple[Task, Community | None]], now: datetime, context: DispatchContext
) -> list[int]:
    """`put_in_play` for many new tasks (with their ids): the first offers queued together, then each task's
    start on the ladder. Returns the outbound SMS ids decided, the offers first."""
    if not tasks:
        return []
    for task, _ in tasks:
        task.offer_deadline = escalation.first_deadline(task, now, context)
    session.flush()  # the tasks have their ids
    offered = [task for task, _ in tasks if task.assignee is not None]
    outbound = queue_many(session, [offer_sms(session, task, context) for task in offered])
    offers.widen_many(
        session,
        [(t, t.assignee.phone, escalation.PRIMARY, t.created_at, t.assignee) for t in offered],  # type: ignore[union-attr, misc]
    )
    for task, community in tasks:
        outbound += escalation.start(session, task, now, context, community=community)
    return outbound


def offer(session: Session, task: Task, context: DispatchContext) -> list[int]:
    """The first offer SMS, to the household's liaison (rung 0 of the ladder, the first of its circle)."""
    assert task.assignee is not None and task.assignee.phone is not None
    offers.widen(session, task, task.assignee.phone, escalation.PRIMARY, task.created_at, task.assignee)
    offer = queue_sms(session, **offer_sms(session, task, context))  # type: ignore[arg-type]
    return [offer.id] if offer else []


def offer_sms(
    session: Session, task: Task, context: DispatchContext, access_rows: AccessRows | None = None
) -> dict[str, object]:
    """The first offer SMS of a task with a liaison, as `queue_sms`'s arguments (`access_rows`: households' access
    notes read ahead, `task_texts.read_access`)."""
    assert task.assignee is not None and task.assignee.phone is not None
    return {
        "dedupe_key": f"task:{task.id}:offer:0",
        "to_phone": task.assignee.phone,
        "body": task_text(
            session, task, "liaison_task_offer", context.catalog, context.staff_language, access_rows=access_rows
        ),
        "task_id": task.id,
    }


def accept(task: Task, liaison: Liaison, now: datetime) -> None:
    """`liaison` takes the task: the first of its circle to do so, whichever rung it had climbed to."""
    task.status, task.offer_deadline, task.accepted_at = TaskStatus.ACCEPTED, None, now
    task.assignee = liaison


def done(task: Task) -> None:
    """The task is finished."""
    task.status, task.offer_deadline = TaskStatus.DONE, None


def decline(task: Task) -> None:
    """The liaison hands the task back; the ladder climbs at once (the caller, or the next sweep)."""
    task.status, task.assignee, task.offer_deadline = TaskStatus.DECLINED, None, None


def cancel(task: Task) -> None:
    """Staff cancel the task: it needs nothing more."""
    task.status, task.offer_deadline = TaskStatus.CANCELLED, None


def tell_resident(session: Session, task: Task, stage: str, liaison: Liaison, catalog: MessageCatalog) -> list[int]:
    """Feedback in the resident's language, to the number the need came from; once per task and stage.

    Residents on voice, and landlines, get an automated call that says it instead of an SMS.
    """
    source = session.get(InboundMessage, task.source_message_id) if task.source_message_id else None
    people = [task.resident] if task.resident else list(task.household.residents) if task.household else []
    if source is None or not people:
        return []
    phones = {p.phone: p for person in people if person for p in person.phones}
    landline = source.from_phone in phones and phones[source.from_phone].landline
    by_voice = landline or all(person.channel == Channel.VOICE for person in people)
    language = people[0].language if people[0] else "zh-CN"
    body = catalog.render(
        f"resident_task_{stage}",
        language,
        resident_name=resident_names(task),
        category=catalog.render(f"category_{task.category}", language),
        liaison_name=liaison.name,
    )
    sms = queue_sms(
        session,
        dedupe_key=f"task:{task.id}:feedback:{stage}",
        to_phone=source.from_phone,
        body=body,
        task_id=task.id,
        kind="call" if by_voice else "sms",
        language=language,
    )
    copy = None
    if by_voice and not landline and source.from_phone in phones and _wants_copy(session, people):
        # A resident on voice whose profile asks for an SMS copy of what a call said: the same words, once.
        copy = queue_sms(
            session,
            dedupe_key=f"task:{task.id}:feedback:{stage}:copy",
            to_phone=source.from_phone,
            body=body,
            task_id=task.id,
            language=language,
        )
    return [row.id for row in (sms, copy) if row]


def _wants_copy(session: Session, people: Sequence[Resident | None]) -> bool:
    """True if a resident's profile for hearing and memory asks for an SMS copy of the calls to them."""
    ids = [person.id for person in people if person]
    wanted = select(VoiceProfile.resident_id).where(VoiceProfile.resident_id.in_(ids), VoiceProfile.sms_copy)
    return session.scalar(wanted.limit(1)) is not None
