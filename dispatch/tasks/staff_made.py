"""A task staff make for a resident: a neighbour phones the office, or a clerk logs a call.

It goes the way a resident's own request goes: offered to the household's liaison by SMS, on the ladder if nobody
takes it. Health first: an "unwell" task is urgent whatever the form said. The request that made it carries a key
(the form's, or the API's Idempotency-Key), the sender's own: the same key with the same request finds the task it
made and sends nothing; the same key with another request (a form brought back by the browser's Back button and
filled in again) is refused, never read as the first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.context import DispatchContext
from dispatch.exceptions import InvalidAction
from dispatch.models import Task, TaskCategory, TaskPriority
from dispatch.register.history import resident_in_scope
from dispatch.staff_accounts import Principal
from dispatch.tasks import lifecycle

WORDS_LIMIT = 1000
KEY_LIMIT = 64


@dataclass(frozen=True)
class Made:
    """The task a request made, or found already made by the same request (`created` False, nothing sent)."""

    task_id: int
    created: bool
    outbound: list[int]


class RequestKeyReused(InvalidAction):
    """The key was sent before with another request: the earlier request's task stands, this one is not made."""

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        super().__init__(f"this request key already made task #{task_id} with another request; use a new key")


def make_task(
    session: Session,
    resident_id: int,
    category: str,
    words: str,
    *,
    urgent: bool,
    request_key: str,
    actor: Principal,
    channel: str,
    where: ColumnElement[bool],
    now: datetime,
    context: DispatchContext,
) -> Made:
    """Make a task for the resident, in scope, offered to their liaison; recorded in the audit log.

    Args:
        category: One of TaskCategory.
        words: What is needed, as the caller said it (1 to WORDS_LIMIT characters).
        urgent: Staff judge it urgent; an "unwell" task is urgent anyway.
        request_key: The request's own key (1 to KEY_LIMIT characters), the sender's own: the same key with the same
            request makes one task.
        channel: Where staff made it: "console" or "api".

    Raises:
        NotFound: the resident is not in scope.
        RequestKeyReused: the sender used this key before for another request.
        InvalidAction: an unknown category, no words or too many, or a bad key.
    """
    key = request_key.strip()
    if not key or len(key) > KEY_LIMIT:
        raise InvalidAction(f"a request key needs 1 to {KEY_LIMIT} characters", "request_key")
    resident = resident_in_scope(session, resident_id, where)  # first: a key tells nothing outside the scope
    if category not in tuple(TaskCategory):
        raise InvalidAction(f"category must be one of: {', '.join(TaskCategory)}", "category")
    words = words.strip()
    if not words or len(words) > WORDS_LIMIT or "\x00" in words:
        raise InvalidAction(f"say what is needed, in 1 to {WORDS_LIMIT} characters", "words_length", limit=WORDS_LIMIT)
    urgent = urgent or category == TaskCategory.UNWELL
    stored_key = _digest(actor.audit_ref, key)
    fingerprint = _digest(str(resident.id), category, words, str(urgent))
    made = _made_by(session, stored_key, fingerprint)
    if made is not None:
        return made
    household = resident.household
    try:
        with session.begin_nested():
            task = lifecycle.create_task(
                session,
                household,
                resident,
                TaskCategory(category),
                TaskPriority.URGENT if urgent else TaskPriority.NORMAL,
                description=words,
                actor=actor.audit_ref,
                channel=channel,
                now=now,
                why="made by staff",
            )
            task.request_key, task.request_fingerprint = stored_key, fingerprint
            session.flush()
    except IntegrityError:  # the same key, sent at the same moment to another process: its task stands
        made = _made_by(session, stored_key, fingerprint)
        assert made is not None
        return made
    outbound = lifecycle.put_in_play(session, task, now, context, household.community if household else None)
    audit.record(session, actor, "create", "task", task.id, f"{category}; resident:{resident.id}", at=now)
    return Made(task.id, True, outbound)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _made_by(session: Session, stored_key: str, fingerprint: str) -> Made | None:
    """The task an earlier request with this key made, if it asked the same; refused if it asked something else."""
    found = session.execute(select(Task.id, Task.request_fingerprint).where(Task.request_key == stored_key)).first()
    if found is None:
        return None
    if found.request_fingerprint != fingerprint:
        raise RequestKeyReused(found.id)
    return Made(found.id, False, [])
