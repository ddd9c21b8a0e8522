"""The facts a step of a call is decided from, read from the database before deciding (`dispatch.ivr.decide`).

Only what the chosen option needs is read: the directory and the hour's automatic answers for "text me the
numbers", the earlier acceptance for "take the oldest".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.context import DispatchContext
from dispatch.ivr.call_plan import Accepted, CallStep, Listing, MenuFacts, Press, TaskFacts
from dispatch.ivr.calls import directory, waiting_tasks
from dispatch.ivr.decide import accept_key, choose
from dispatch.ivr.script import IvrScript
from dispatch.models import OutboundMessage, Task
from dispatch.outbox import auto_replies_since
from dispatch.tasks.task_texts import doorstep_address, resident_names

UNKNOWN_CALLER_KEYS = "unknown-caller:%"  # directory SMS to numbers not on the register


def menu_facts(
    session: Session, script: IvrScript, context: DispatchContext, call: CallStep, press: Press, now: datetime
) -> MenuFacts:
    """What the option a press chooses needs to be decided."""
    option = choose(script, call, press, context)
    if option is None:
        return MenuFacts()
    if option.do == "sms_directory":
        listed = directory_listing(session, call.caller.community_id)
        if not listed or not call.caller.can_sms:
            return MenuFacts(directory=listed)
        hour_ago = now - timedelta(hours=1)
        unknown = call.caller.kind == "unknown"
        return MenuFacts(
            directory=listed,
            replies_to_caller=auto_replies_since(session, hour_ago, phone=call.caller.phone),
            replies_to_unknown=auto_replies_since(session, hour_ago, prefix=UNKNOWN_CALLER_KEYS) if unknown else 0,
        )
    if option.do == "accept_oldest":
        return MenuFacts(accepted=earlier_acceptance(session, call.call_sid, call.step.actions))
    return MenuFacts()


def earlier_acceptance(session: Session, call_sid: str, actions: int) -> Accepted | None:
    """The "take the oldest" already done on this call at its `actions`th choice, if any: found by the details
    SMS it decided (keyed `<accept key>:<task id>`, with the task's id in its row)."""
    prefix = accept_key(call_sid, actions) + ":"
    done = session.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key.startswith(prefix)))
    if done is None:
        return None
    task = session.get(Task, done.task_id) if done.task_id else None
    return Accepted(task_facts(task) if task is not None else None)


def task_facts(task: Task) -> TaskFacts:
    """What a liaison hears about `task`."""
    return TaskFacts(resident_names(task), str(task.category), doorstep_address(task.household))


def directory_listing(session: Session, community_id: int | None) -> tuple[Listing, ...]:
    """The community's directory numbers, in the order staff entered them."""
    return tuple(Listing(e.name, e.phone) for e in directory(session, community_id))


def waiting_task_facts(session: Session, liaison_id: int) -> list[TaskFacts]:
    """The tasks waiting for this liaison to take them, oldest first, as they are read out."""
    return [task_facts(task) for task in waiting_tasks(session, liaison_id)]


def placed_call_words(session: Session, outbound_id: int) -> tuple[str, str] | None:
    """What an automated call the hotline placed says, and in which language: its outbox row's body. None if
    the row is not a call's."""
    row = session.get(OutboundMessage, outbound_id)
    return (row.body, row.language) if row is not None and row.kind == "call" else None
