"""Intake in batches: many stored inbound messages, or one, turned into tasks, offers and receipts in the caller's
transaction. 收集—分流: collect, then triage.

What the rules (`dispatch.intake.decide`) look at is read for all the messages at once (`Facts`); each message is
then decided in the order received, against those facts, which the rules keep up to date (a second message of a
household finds the task the first one made); what needs the new tasks' ids is written together (`Pending`). One
message is a batch of one: the same reads, the same rules, the same writes. A liaison's message may act on tasks
the batch made for them: those are written and offered before it. Running a batch twice changes nothing: a
processed message is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.context import DispatchContext
from dispatch.exceptions import NotFound
from dispatch.intake import IntakeResult, decide
from dispatch.intake_facts import Facts, Pending
from dispatch.models import InboundMessage, InboundOutcome, utcnow


@dataclass
class BatchResult:
    """What handling a batch did: each message's outcome (None: handled before), and the SMS decided now."""

    outcomes: dict[int, InboundOutcome | None] = field(default_factory=dict)
    outbound_ids: list[int] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)


def handle_inbound_message(
    session: Session, message_id: int, context: DispatchContext, now: datetime | None = None
) -> IntakeResult:
    """Turn one stored inbound SMS into tasks and outbound SMS, exactly once: a batch of one.

    The caller owns the transaction and commits it; the outbound SMS are handed to the gateway after that.

    Args:
        session: A session inside a transaction.
        message_id: The stored message.
        context: Words, texts and settings.
        now: The current time, for tests.

    Returns:
        What was done; `outcome` is None if the message had already been handled.

    Raises:
        NotFound: no message has that id.
    """
    done = handle_inbound_batch(session, [message_id], context, now or utcnow())
    if message_id not in done.outcomes:
        raise NotFound("inbound message", str(message_id))
    return IntakeResult(done.outcomes[message_id], task_ids=done.task_ids, outbound_ids=done.outbound_ids)


def handle_inbound_batch(
    session: Session, message_ids: Sequence[int], context: DispatchContext, now: datetime
) -> BatchResult:
    """Turn stored inbound SMS into tasks and outbound SMS, each exactly once, in the caller's transaction: what
    the rules look at read for all of them at once (`Facts`), each decided in the order received, and what needs
    the new tasks' ids written together (`Pending`). Ids with no stored message are left out of `outcomes`.

    The caller commits, then hands `outbound_ids` to the gateway.
    """
    result = BatchResult()
    # FOR UPDATE, in id order: two workers given overlapping batches take turns; the second finds them processed.
    messages = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.id.in_(sorted(set(message_ids))))
        .order_by(InboundMessage.id)
        .with_for_update()
    ).all()
    result.outcomes = {m.id: None for m in messages if m.processed_at is not None}
    todo = [m for m in messages if m.processed_at is None]
    if not todo:
        return result
    facts = Facts.read(session, todo, now)
    pending = Pending()
    done: list[tuple[InboundMessage, IntakeResult]] = []
    for message in todo:
        liaison = facts.liaisons.get(message.from_phone) if message.channel != "voice" else None
        if liaison is not None and pending.offers_to(liaison):
            result.outbound_ids += pending.apply(session, context, now)  # the liaison's reply may be about them
        elif liaison is not None:
            pending.write_events(session)  # the events of tasks it may change, before its own
        one = decide(session, message, facts, pending, context, now)
        message.processed_at = now
        done.append((message, one))
    result.outbound_ids += pending.apply(session, context, now)
    for message, one in done:
        result.outcomes[message.id] = one.outcome
        result.outbound_ids += one.outbound_ids
        result.task_ids += [task.id for task in one.tasks]
    return result


def process_message(
    session: Session, message: InboundMessage, context: DispatchContext, now: datetime, *, late: bool = False
) -> IntakeResult:
    """One message, acted on as a batch of one (without marking it processed): `dispatch.triage.handover` runs it
    again, `late`, for a number staff have just registered. A `late` message answers only a check-in that was
    already due when it arrived, never one sent after it."""
    facts = Facts.read(session, [message], message.received_at if late else now)
    pending = Pending()
    result = decide(session, message, facts, pending, context, now)
    result.outbound_ids = pending.apply(session, context, now) + result.outbound_ids
    result.task_ids = [task.id for task in result.tasks]
    return result
