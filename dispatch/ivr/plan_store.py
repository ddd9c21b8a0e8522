"""Carrying out a call step's plan (`dispatch.ivr.call_plan.Plan`) in the step's transaction.

Needs are stored as voice inbound messages and SMS decided in the outbox, each once by its key, so a retried
webhook stores nothing twice; the ids come back to be queued after the commit. "Take the oldest" runs here, under
the same row lock as a liaison's SMS reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from dispatch.checkins.answers import record_answer, residents_of
from dispatch.context import DispatchContext
from dispatch.ivr.call_facts import task_facts
from dispatch.ivr.call_plan import Plan
from dispatch.ivr.calls import Caller, liaison_of, store_call_need
from dispatch.ivr.decide import accepted_words
from dispatch.ivr.script import IvrScript
from dispatch.models import Call, CheckinStatus, InboundMessage
from dispatch.outbox import queue_sms
from dispatch.tasks.liaison_replies import accept_oldest


@dataclass
class Stored:
    """What carrying out a plan left: the words to say (the plan's, then what a take took), and the ids of the
    inbound and outbound messages to queue once the transaction has committed (inbound messages not yet written:
    in `unflushed`, their ids known once the batch has written them, `dispatch.ivr.batch_writes`)."""

    said: tuple[str, ...] = ()
    inbound: list[int] = field(default_factory=list)
    outbound: list[int] = field(default_factory=list)
    unflushed: list[InboundMessage] = field(default_factory=list)


def store_plan(
    session: Session,
    call: Call,
    caller: Caller,
    plan: Plan,
    *,
    script: IvrScript,
    context: DispatchContext,
    now: datetime,
    clock: Callable[[], datetime],
    stored_needs: set[str] | None = None,
) -> Stored:
    """Apply `plan` to the call's record and store what it decided.

    Args:
        session: The step's session (one transaction).
        call: The call's row.
        caller: Who is on the line.
        plan: What `dispatch.ivr.decide` decided.
        script: The voice script, for the words of a take.
        context: Catalog and staff language.
        now: When the step happens (the records' time).
        clock: The service clock, for a check-in answer.
        stored_needs: The needs stored for a set of calls that includes this one, read earlier in this
            transaction (`dispatch.ivr.batch_reads.needs_of_calls`), if they were; then new needs are not flushed
            one by one but left in `Stored.unflushed`, for the batch's INSERT (`dispatch.ivr.batch_writes`).
    """
    call.chose = call.chose or plan.chose
    call.dial_attempts = max(call.dial_attempts, plan.dialled)
    call.connected = call.connected or plan.connected
    call.voicemail = call.voicemail or plan.voicemail
    stored = Stored(said=plan.say)
    if plan.checkin_needs:
        record_answer(session, residents_of(session, caller), CheckinStatus.NEEDS, None, "voice", clock())
    for need in plan.needs:
        message_id = store_call_need(
            session,
            call,
            need.what,
            need=need.need,
            body=need.body,
            urgent=need.urgent,
            recording_url=need.recording_url,
            now=now,
            stored=stored_needs,
            unflushed=stored.unflushed if stored_needs is not None else None,
        )
        stored.inbound += [message_id] if message_id else []
    for sms in plan.sms:
        row = queue_sms(session, dedupe_key=sms.dedupe_key, to_phone=sms.to_phone, body=sms.body, language=sms.language)
        stored.outbound += [row.id] if row else []
    if plan.take is not None:
        liaison = liaison_of(session, plan.take.liaison_id)
        task = None
        if liaison is not None:
            catalog, staff = context.catalog, context.staff_language
            task, ids = accept_oldest(session, liaison, catalog, staff, now, dedupe_key=plan.take.dedupe_key)
            stored.outbound += ids
        facts = task_facts(task) if task is not None else None
        stored.said += (accepted_words(script, context.catalog, caller.language, facts),)
    return stored
