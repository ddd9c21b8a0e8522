"""Liaisons' replies by SMS: take a task, finish it, hand it back, add a note, list theirs. 接单—反馈.

The words are in `ivr_scripts/liaison_sms_commands.toml`: the commands (接12, 完12, 退12 …), and the natural
replies people send in a work chat (收到, 12接了, 送到了, 今天去不了), read by `dispatch/tasks/liaison_reading.py`.
Nothing changes state by guesswork: a task that is not theirs, or a reply that could be about several tasks, gets
a short answer and changes nothing; words about a task that cannot be read go to staff on that task.
Each inbound message gets at most one reply, and each task at most one "taken" and one "done" to its resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch.care_circle import tell_on_the_way
from dispatch.context import DispatchContext
from dispatch.models import InboundMessage, Liaison, Task, TaskCategory, TaskEvent, TaskPriority, TaskStatus
from dispatch.outbox import auto_replies_since, queue_sms
from dispatch.register import sole_community
from dispatch.tasks import escalation, lifecycle, medicine_refills, offers
from dispatch.tasks.liaison_reading import Action, Command, CommandTable
from dispatch.tasks.task_notes import notes_text
from dispatch.tasks.task_texts import access_words, doorstep_address, resident_names
from dispatch.texts import MessageCatalog

ASK_LISTS = 5  # a "which task?" question names at most this many


@dataclass
class LiaisonReplyResult:
    """What a liaison's message did."""

    changed_task_id: int | None
    outbound_ids: list[int]
    danger_without_task: bool = False  # a sign of danger, and no task to put it on: duty staff must hear of it


def handle_liaison_message(
    session: Session,
    message: InboundMessage,
    liaison: Liaison,
    table: CommandTable,
    catalog: MessageCatalog,
    language: str,
    now: datetime,
    reply_cap: int = 6,
) -> LiaisonReplyResult:
    """Carry out one liaison's reply and answer it (at most `reply_cap` answers an hour). Only ever acts on the
    liaison's own tasks."""
    command = table.read(message.body) if liaison.active else Command(None)  # a stopped liaison acts on nothing
    texts = _Texts(catalog, language)
    mine = list(session.scalars(select(Task).where(_theirs(liaison)).order_by(Task.id)))
    # Not a command: read it as a natural reply, against the tasks in play (收到 takes the one task waiting).
    read = table.understand(message.body, [(t.id, t.status) for t in mine]) if liaison.active else command
    command = _as_command(read, message.body)
    changed: int | None = None
    # The one task an answer is about (its notes, or what was done to it): the SMS shows in its history, and in the
    # console's lists to those who see the task (a liaison may serve households of several communities).
    about: int | None = None
    outbound: list[int] = []
    answer: str | None
    if isinstance(read, Action) and command.verb is None:
        changed, answer = _answer_natural(session, read, mine, liaison, texts, message.body, now)
        about = changed if read.kind == "refer" and len(read.task_ids) == 1 else None
    elif command.verb is None:
        answer = texts("liaison_help")
    elif command.verb == "list":
        answer = texts("liaison_list", tasks=_listing(mine, texts)) if mine else texts("liaison_list_empty")
    elif command.verb == "notes":
        task, answer = _pick(session, command, mine, liaison, texts)
        if task is not None:
            answer, about = _notes(session, task, texts)
    else:
        task, answer = _pick(session, command, mine, liaison, texts)
        if task is not None:
            answer, outbound = _apply(session, command, task, liaison, texts, catalog, now)
            changed = about = task.id
    danger = isinstance(read, Action) and read.kind == "urgent_no_task"
    if answer is None:  # thanks and greetings need no answer
        return LiaisonReplyResult(changed, outbound, danger)
    if auto_replies_since(session, now - timedelta(hours=1), phone=message.from_phone) >= reply_cap:
        return LiaisonReplyResult(changed, outbound, danger)  # the task still changed; only the answer is held back
    reply = queue_sms(
        session, dedupe_key=f"reply:{message.id}", to_phone=message.from_phone, body=answer, task_id=about
    )
    return LiaisonReplyResult(changed, [*outbound, *([reply.id] if reply else [])], danger)


def act_on_liaison_message(
    session: Session, message: InboundMessage, liaison: Liaison, context: DispatchContext, now: datetime, reply_cap: int
) -> tuple[list[int], list[int]]:
    """A liaison's message, carried out and answered (`handle_liaison_message`), and what follows from it: a task
    handed back climbs the ladder at once; a sign of danger with no task to put it on becomes a task.

    Returns:
        The tasks changed or made, and the outbound SMS ids decided.
    """
    done = handle_liaison_message(
        session, message, liaison, context.commands, context.catalog, context.staff_language, now, reply_cap=reply_cap
    )
    task_ids = [done.changed_task_id] if done.changed_task_id else []
    outbound = list(done.outbound_ids)
    handed_back = session.get(Task, done.changed_task_id) if done.changed_task_id else None
    if handed_back is not None and handed_back.status == TaskStatus.DECLINED:
        outbound += escalation.climb(session, handed_back, now, context, reason="handed back")
    if handed_back is not None and handed_back.status == TaskStatus.DONE:
        medicine_refills.refilled(session, handed_back, now, context.timezone)  # a medicine task resets its count
    if done.danger_without_task:
        # 老人摔倒了, with no task to put it on: an urgent task with no household, straight to the duty phone
        # of the liaison's community, with the liaison's words. Health first: never only an answer.
        community = liaison.grid.community if liaison.grid is not None else sole_community(session)
        task = lifecycle.create_task(
            session,
            None,
            None,
            TaskCategory.UNWELL,
            TaskPriority.URGENT,
            description=message.body,
            actor="phone",
            channel=message.channel,
            now=now,
            source_message_id=message.id,
        )
        task_ids.append(task.id)
        outbound += lifecycle.put_in_play(session, task, now, context, community)
    return task_ids, outbound


def _theirs(liaison: Liaison) -> ColumnElement[bool]:
    """A filter on Task: the liaison's own open tasks, and the untaken ones offered to them (its circle)."""
    own = (Task.assignee_liaison_id == liaison.id) & Task.status.in_((*TaskStatus.waiting(), TaskStatus.ACCEPTED))
    return own | (Task.status.in_(TaskStatus.waiting()) & offers.in_circle(liaison.id))


class _Texts:
    def __init__(self, catalog: MessageCatalog, language: str) -> None:
        self.catalog, self.language = catalog, language

    def __call__(self, key: str, **fields: object) -> str:
        return self.catalog.render(key, self.language, **fields)


def _as_command(read: Command | Action, body: str) -> Command:
    """A natural reply that takes, finishes or hands back one task, as the command that does it (the whole reply
    goes into the task's history); anything else is no command."""
    if isinstance(read, Command):
        return read
    if read.kind in ("accept", "done", "decline"):
        return Command(read.kind, read.task_ids[0], body.strip()[:500])
    return Command(None)


def _listing(tasks: list[Task], texts: _Texts) -> str:
    """#12买菜(待接单) #13买药(已接单)"""
    return " ".join(f"#{t.id}{texts(f'category_{t.category}')}({texts(f'status_{t.status}')})" for t in tasks)


def _answer_natural(
    session: Session, action: Action, mine: list[Task], liaison: Liaison, texts: _Texts, body: str, now: datetime
) -> tuple[int | None, str | None]:
    """Carry out a natural reply that is not a take, finish or hand-back. Returns the task it changed (a referral
    is recorded on it) and the answer (None: no answer)."""
    if action.kind == "quiet":
        return None, None
    if action.kind == "ask":
        listing = _listing(mine[:ASK_LISTS], texts) + (" …" if len(mine) > ASK_LISTS else "")
        return None, texts("liaison_which_of", count=len(mine), tasks=listing, task_id=mine[0].id)
    if action.kind == "still":
        return None, texts("liaison_still_yours", task_id=action.task_ids[0])
    if action.kind == "refer":
        return _refer(session, action.task_ids, mine, liaison, texts, body, now)
    key = {"empty": "liaison_list_empty", "urgent_no_task": "liaison_urgent_no_task"}.get(action.kind)
    return None, texts(key or "liaison_help")


def _refer(
    session: Session,
    task_ids: tuple[int, ...],
    mine: list[Task],
    liaison: Liaison,
    texts: _Texts,
    body: str,
    now: datetime,
) -> tuple[int | None, str]:
    """Words about a task that could not be read: on each of the liaison's tasks named, a "flagged" event with
    the words (staff should look, as for a task not done in time) and the task marked flagged. Nothing else
    changes."""
    referred: list[Task] = []
    refused = ""
    for task_id in task_ids:
        task, answer = _pick(session, Command("note", task_id), mine, liaison, texts)
        if task is None:
            refused = refused or answer
            continue
        actor = f"liaison:{liaison.id}"
        session.add(TaskEvent(task=task, kind="flagged", actor=actor, channel="sms", at=now, detail=body.strip()[:500]))
        task.flagged_at = task.flagged_at or now
        task.updated_at = now
        referred.append(task)
    if not referred:
        return None, refused
    return referred[0].id, texts("liaison_referred", task_id="、".join(str(t.id) for t in referred))


def _notes(session: Session, task: Task, texts: _Texts) -> tuple[str, int | None]:
    """The notes staff left for the liaison on a task they hold (offered to them or taken), and the task the answer
    is about (so the SMS shows in its history); a task no longer theirs to do gets its state, and no notes."""
    if task.status not in (TaskStatus.ACCEPTED, *TaskStatus.waiting()):
        return texts("liaison_already", task_id=task.id, status=texts(f"status_{task.status}")), None
    return notes_text(session, task, texts.catalog, texts.language), task.id


def _pick(
    session: Session, command: Command, mine: list[Task], liaison: Liaison, texts: _Texts
) -> tuple[Task | None, str]:
    """The task a command is about, or None and the answer saying why not."""
    task_id = command.task_id
    if task_id is None:
        if command.verb == "notes":
            candidates = [t for t in mine if t.assignee_liaison_id == liaison.id]
        else:
            candidates = [t for t in mine if (t.status == TaskStatus.ACCEPTED) == (command.verb in ("done", "note"))]
        if not candidates:
            return None, texts("liaison_list_empty")
        if len(candidates) > 1:
            return None, texts("liaison_which_task", task_id=candidates[0].id)
        task_id = candidates[0].id
    # Lock and read it afresh: another in its circle may have taken it since the list above was read. The lock
    # makes the first to take it the only one: a second reply waits here, then finds it taken.
    task = session.get(Task, task_id, with_for_update=True, populate_existing=True)
    if task is None:
        return None, texts("liaison_not_yours", task_id=task_id)
    if task.assignee_liaison_id == liaison.id or (command.verb == "accept" and offers.may_take(session, task, liaison)):
        return task, ""
    if command.verb == "accept" and task.assignee is not None and offers.offered_to(session, task, liaison):
        return None, texts(
            "task_taken_by_other",
            task_id=task.id,
            category=texts(f"category_{task.category}"),
            liaison_name=task.assignee.name,
        )
    return None, texts("liaison_not_yours", task_id=task_id)


def _apply(
    session: Session,
    command: Command,
    task: Task,
    liaison: Liaison,
    texts: _Texts,
    catalog: MessageCatalog,
    now: datetime,
    channel: str = "sms",
) -> tuple[str, list[int]]:
    allowed = {
        "accept": TaskStatus.waiting(),
        "done": (TaskStatus.ACCEPTED, *TaskStatus.waiting()),  # finishing without a separate "take" is fine
        "decline": (TaskStatus.ACCEPTED, *TaskStatus.waiting()),
        "note": (TaskStatus.ACCEPTED, *TaskStatus.waiting()),
    }[str(command.verb)]
    if task.status not in allowed:
        return texts("liaison_already", task_id=task.id, status=texts(f"status_{task.status}")), []
    actor = f"liaison:{liaison.id}"
    event = {"accept": "accepted", "done": "done", "decline": "declined", "note": "note"}[str(command.verb)]
    session.add(TaskEvent(task=task, kind=event, actor=actor, channel=channel, at=now, detail=command.text[:500]))
    task.updated_at = now
    feedback: list[int] = []
    if command.verb == "note":
        return texts("liaison_noted", task_id=task.id), []
    if command.verb == "decline":  # the caller climbs the ladder at once
        lifecycle.decline(task)
        return texts("liaison_declined", task_id=task.id), []
    if command.verb == "accept":
        lifecycle.accept(task, liaison, now)
        feedback = lifecycle.tell_resident(session, task, "accepted", liaison, catalog)
        feedback += offers.tell_taken(session, task, liaison, catalog, texts.language)
        feedback += tell_on_the_way(session, task, liaison.name, catalog)  # a visit's care circles, once
        address = doorstep_address(task.household)
        return texts(
            "liaison_accepted",
            task_id=task.id,
            category=texts(f"category_{task.category}"),
            resident_name=resident_names(task),
            address=address,
            access=access_words(session, task, catalog, texts.language),
        ), feedback
    lifecycle.done(task)
    feedback = lifecycle.tell_resident(session, task, "done", liaison, catalog)
    return texts("liaison_done", task_id=task.id), feedback


def accept_oldest(
    session: Session, liaison: Liaison, catalog: MessageCatalog, language: str, now: datetime, dedupe_key: str
) -> tuple[Task | None, list[int]]:
    """Take the oldest task waiting for `liaison`, as "take" by SMS would, for a liaison on the phone. The
    details (address, phone) follow by SMS, keyed `<dedupe_key>:<task id>`.

    Returns:
        The task taken, or None if none was waiting; and outbound message ids decided now.
    """
    if not liaison.active:
        return None, []
    waiting = session.scalars(
        select(Task.id).where(_theirs(liaison), Task.status.in_(TaskStatus.waiting())).order_by(Task.id)
    ).all()
    texts = _Texts(catalog, language)
    for task_id in waiting:
        task = session.get(Task, task_id, with_for_update=True, populate_existing=True)
        if task is None or task.status not in TaskStatus.waiting() or not offers.may_take(session, task, liaison):
            continue  # taken by another since the list was read
        answer, outbound = _apply(
            session, Command("accept", task.id, "phone"), task, liaison, texts, catalog, now, channel="voice"
        )
        details = queue_sms(
            session, dedupe_key=f"{dedupe_key}:{task.id}", to_phone=str(liaison.phone), body=answer, task_id=task.id
        )
        return task, [*outbound, *([details.id] if details else [])]
    return None, []
