"""A task's voicemails: the recordings callers left on the messages that made or joined the task; and those left by
callers not on the register, on their number's triage item.

A voicemail's audio stays at the provider; this module only says which messages of a task carry one and hands
their stored URL to the edge, within a staff member's scope. Fetching belongs to the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch.exceptions import NotFound
from dispatch.models import InboundMessage, Task, TaskEvent
from dispatch.tasks.staff_actions import scoped_task
from dispatch.triage.items import scoped_item

MESSAGE_PREFIX = "message:"  # a TaskEvent "added" names the message that joined the task so


@dataclass(frozen=True)
class Voicemail:
    """One recording on a task: the message that carries it, and when it was left."""

    message_id: int
    received_at: datetime


def _message_ids(session: Session, task: Task) -> list[int]:
    """The task's own message, then every message that joined it, oldest first."""
    ids = [task.source_message_id] if task.source_message_id is not None else []
    details = session.scalars(
        select(TaskEvent.detail).where(TaskEvent.task_id == task.id, TaskEvent.kind == "added").order_by(TaskEvent.id)
    )
    for detail in details:
        key = (detail or "").removeprefix(MESSAGE_PREFIX)
        if detail and detail.startswith(MESSAGE_PREFIX) and key.isascii() and key.isdigit():
            ids.append(int(key))
    return ids


def task_voicemails(session: Session, task: Task) -> list[Voicemail]:
    """The voicemails left on `task`, oldest first (the caller must have checked the scope)."""
    ids = _message_ids(session, task)
    if not ids:
        return []
    found = session.execute(
        select(InboundMessage.id, InboundMessage.received_at)
        .where(
            InboundMessage.id.in_(ids), InboundMessage.recording_url.is_not(None), InboundMessage.recording_url != ""
        )
        .order_by(InboundMessage.received_at, InboundMessage.id)
    )
    return [Voicemail(message_id, received_at) for message_id, received_at in found]


def voicemail_url(session: Session, task_id: int, message_id: int, where: ColumnElement[bool]) -> str:
    """The stored recording URL of one voicemail on a task in scope, for the gateway to open.

    Args:
        session: A database session.
        task_id: The task.
        message_id: The message on it that carries the recording.
        where: The staff member's or token's scope (`dispatch.staff_accounts.household_scope`).

    Returns:
        The URL as the provider posted it. Never show it to anyone: the gateway checks and fetches it.

    Raises:
        NotFound: No such task, not in scope, or no such voicemail on it (the same answer).
    """
    task = scoped_task(session, task_id, where)
    if message_id not in _message_ids(session, task):
        raise NotFound("voicemail", str(message_id))
    url = session.scalar(select(InboundMessage.recording_url).where(InboundMessage.id == message_id))
    if not url:
        raise NotFound("voicemail", str(message_id))
    return url


def triage_voicemail_url(session: Session, item_id: int, message_id: int, where: ColumnElement[bool]) -> str:
    """The stored recording URL of a voicemail on a triage item in scope (`triage_scope`), for the gateway to open:
    a clerk hears an unknown caller's message before anyone knows whose household it is.

    Raises:
        NotFound: No such item, not in scope, or no such voicemail on it (the same answer).
    """
    item = scoped_item(session, item_id, where)
    url = session.scalar(
        select(InboundMessage.recording_url).where(
            InboundMessage.id == message_id, InboundMessage.triage_item_id == item.id
        )
    )
    if not url:
        raise NotFound("voicemail", str(message_id))
    return url
