"""Handing a triage item's messages over to a resident, once staff have put the number on the register.

Kept apart from `dispatch.intake`, which it runs again, so that intake needs only `dispatch.triage.items`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.context import DispatchContext
from dispatch.exceptions import NotFound
from dispatch.intake import IntakeResult
from dispatch.intake_batch import process_message
from dispatch.models import InboundMessage, InboundOutcome, Task, TaskEvent, utcnow
from dispatch.register import SenderMatch, match_sender


def handle_as_registered(
    session: Session, message_id: int, context: DispatchContext, now: datetime | None = None
) -> IntakeResult:
    """Handle again, as its resident's, a message that came from a number not on the register, once staff have
    put the number on the register (a triage item linked or registered). Safe to run twice: a message no longer
    from an unknown sender, or whose number is still on no one's record, is left as it is.

    An SMS goes through intake as if it had just arrived: its needs become tasks for the household, offered to
    its liaison, and it answers their check-in if one was due when it arrived (never a later one: an old "fine"
    must not answer today's question). A call's needs were already tasks for duty staff: those tasks become the
    household's.

    Returns:
        What was done; `outcome` is None if nothing was.

    Raises:
        NotFound: no message has that id.
    """
    now = now or utcnow()
    message = session.get(InboundMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound("inbound message", str(message_id))
    if message.processed_at is None or message.outcome != InboundOutcome.UNKNOWN_SENDER:
        return IntakeResult(outcome=None)  # not yet handled once (the worker will), or handled as someone's
    match = match_sender(session, message.from_phone)
    if not match.residents:
        return IntakeResult(outcome=None)
    if message.channel == "voice":
        return _rehome_call_tasks(session, message, match, now)
    return process_message(session, message, context, now, late=True)


def _rehome_call_tasks(session: Session, message: InboundMessage, match: SenderMatch, now: datetime) -> IntakeResult:
    """A call from a number just put on the register: the tasks it made for duty staff become the household's."""
    made = session.scalars(select(Task).where(Task.source_message_id == message.id).order_by(Task.id)).all()
    for task in made:
        if task.household_id is None and match.household is not None:
            task.household, task.resident, task.updated_at = match.household, match.resident, now
            detail = f"resident:{match.resident.id}" if match.resident else f"household:{match.household.id}"
            session.add(TaskEvent(task=task, kind="linked", actor="system", channel="console", at=now, detail=detail))
    message.resident_id = match.resident.id if match.resident else None
    message.outcome = InboundOutcome.TASK_CREATED
    return IntakeResult(InboundOutcome.TASK_CREATED, task_ids=[task.id for task in made])
