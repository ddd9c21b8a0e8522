"""Intake: one stored inbound SMS becomes what it asks for. 收集—分流: collect, then triage.

The reply parser reads the words. Each need becomes a task for the sender's household, offered to its liaison
(a need the household already has open is added to that task instead). Unwell or a fever makes the task urgent.
A temperature is recorded. "Fine" needs nothing. A stop word opts the resident out and asks their liaison to
call. Anything not understood is a task for a clerk.

These rules live here only, for one message and for many alike: `dispatch.intake_batch` reads what they look at
for a batch beforehand (`dispatch.intake_facts.Facts`), runs `decide` on each message in turn, and writes what
waits for the new tasks' ids together (`Pending`); one message is a batch of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from dispatch.checkins.answers import answer, reply_deadline
from dispatch.circle_replies import FamilyReply, from_family
from dispatch.context import DispatchContext
from dispatch.intake_facts import HOUR, Facts, Pending
from dispatch.models import (
    Channel,
    CheckinStatus,
    Community,
    InboundMessage,
    InboundOutcome,
    ResidentStatus,
    Task,
    TaskCategory,
    TaskPriority,
)
from dispatch.outbox import auto_replies_since, decided
from dispatch.phones import is_home_mobile
from dispatch.register import SenderMatch, sole_community
from dispatch.resident_replies import Reading, parse_reply
from dispatch.tasks import escalation
from dispatch.tasks.liaison_replies import act_on_liaison_message
from dispatch.tasks.lifecycle import create_task, event_row
from dispatch.triage.items import attach_to_item

LIAISON_REPLY_FACTOR = 5  # liaisons get five times a resident's hourly automatic answers
NEED_CATEGORY = {
    "groceries": TaskCategory.GROCERIES,
    "medicine": TaskCategory.MEDICINE,
    "unwell": TaskCategory.UNWELL,
    "rubbish": TaskCategory.RUBBISH,
    "parcel": TaskCategory.PARCEL,
    "callback": TaskCategory.CALLBACK,
    "visit": TaskCategory.VISIT,
}


@dataclass
class IntakeResult:
    """What handling one message did."""

    outcome: InboundOutcome | None  # None: it had been handled before; nothing was done now
    task_ids: list[int] = field(default_factory=list)  # tasks made or added to
    outbound_ids: list[int] = field(default_factory=list)  # SMS decided now, to hand to the gateway
    tasks: list[Task] = field(default_factory=list)  # tasks made or added to (new ones get their ids on apply)


def decide(
    session: Session, message: InboundMessage, facts: Facts, pending: Pending, context: DispatchContext, now: datetime
) -> IntakeResult:
    """What one message says and who it is from, acted on: the rules, against what was read beforehand. New
    tasks and automatic answers wait in `pending`, to be written with the batch's."""
    match = facts.match(message.from_phone)
    family: FamilyReply | None = None
    liaison = facts.liaisons.get(message.from_phone)
    # A liaison who is also a resident: a command is a liaison's; anything else is the resident's message.
    if liaison is not None and match.residents and context.commands.read(message.body).verb is None:
        liaison = None
    if message.channel == "voice":
        result = _from_call(session, message, match, facts, pending, context, now)
    elif liaison is not None:
        # A liaison working through a morning's errands sends many commands; a loop would still hit this.
        cap = LIAISON_REPLY_FACTOR * context.auto_replies_per_number_per_hour
        task_ids, outbound_ids = act_on_liaison_message(session, message, liaison, context, now, reply_cap=cap)
        tasks = [task for task in (session.get(Task, i) for i in task_ids) if task is not None]
        for task in tasks:
            facts.note_task(task)
        result = IntakeResult(InboundOutcome.FROM_LIAISON, outbound_ids=outbound_ids, tasks=tasks)
    elif not match.residents and message.from_phone in facts.family:  # a care circle's: for its resident
        family = from_family(session, message, facts, pending, context, now)
        result = IntakeResult(family.outcome, outbound_ids=family.outbound_ids, tasks=family.tasks)
    elif not match.residents:
        with session.no_autoflush:  # it reads replies to unknown numbers, which only `pending` writes, not yet due
            result = _reply_to_unknown_sender(session, message, facts, pending, context, now)
    else:
        reading = parse_reply(message.body, context.replies, context.fever_threshold)
        result = _from_resident(session, message, match, reading, facts, pending, context, now)
    answered = _checkin_answer(result)
    if answered is not None and match.household is not None and liaison is None:
        # Any message from a household answers its residents' latest check-in, whatever it says.
        for resident in match.residents:
            if (checkin := facts.checkins.get(resident.id)) is not None:
                answer(session, checkin, answered, message.id, message.channel, now, pending.checkin_events)
    message.resident_id = match.resident.id if match.resident else message.resident_id if family else None
    message.outcome = result.outcome
    if result.outcome == InboundOutcome.UNKNOWN_SENDER:
        # Staff see it on their board, to link, register or close. No flush is due: it reads the communities, which
        # a batch never writes, and the number's item, read afresh and locked (an earlier message of the number in
        # the batch only set the item's time, which is set again).
        with session.no_autoflush:
            attach_to_item(session, message, now)
    return result


def _checkin_answer(result: IntakeResult) -> CheckinStatus | None:
    """What a resident's message says for the check-in: fine, a need, or unwell (an urgent task)."""
    if result.outcome == InboundOutcome.FINE:
        return CheckinStatus.FINE
    if result.outcome not in (InboundOutcome.TASK_CREATED, InboundOutcome.NO_LIAISON, InboundOutcome.OPTED_OUT):
        return None
    urgent = any(task.priority == TaskPriority.URGENT for task in result.tasks)
    return CheckinStatus.UNWELL if urgent else CheckinStatus.NEEDS


def _from_call(
    session: Session,
    message: InboundMessage,
    match: SenderMatch,
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
) -> IntakeResult:
    """A need chosen on a call (a key, spoken words, a voicemail, a call that ended with nothing chosen). The
    caller has already heard what happens next, so no SMS receipt. A caller not on the register gets a task for
    staff: they may be someone who needs to be registered."""
    if message.need == "fine":
        reading = Reading(fine=True)
    else:
        reading = Reading(needs=(message.need,)) if message.need else parse_reply(message.body, context.replies)
    if not reading.understood or reading.needs or not match.residents:
        needs = [NEED_CATEGORY[n] for n in reading.needs] or [TaskCategory.CALLBACK]
        urgent = message.urgent or reading.urgent
        priority = TaskPriority.URGENT if urgent else TaskPriority.NORMAL
        outcome = InboundOutcome.TASK_CREATED if match.residents else InboundOutcome.UNKNOWN_SENDER
        result = IntakeResult(outcome)
        community = match.community if match.residents else sole_community(session)
        for category in needs:
            _record_need(session, message, match, category, priority, facts, pending, context, now, result, community)
        return result
    return IntakeResult(InboundOutcome.FINE)


def _reply_to_unknown_sender(
    session: Session, message: InboundMessage, facts: Facts, pending: Pending, context: DispatchContext, now: datetime
) -> IntakeResult:
    # One polite reply a day per number: enough to be kind, never a loop with an auto-responder. And few in all:
    # someone pumping SMS through us with made-up senders gets silence once the hourly cap is reached.
    day = now.astimezone(context.timezone).date().isoformat()
    if not is_home_mobile(message.from_phone, context.region):
        return IntakeResult(InboundOutcome.UNKNOWN_SENDER)  # never text a foreign or premium number: SMS pumping
    key = f"unknown-sender:{message.from_phone}:{day}"
    if key in facts.unknown_keys or decided(session, key):
        return IntakeResult(InboundOutcome.UNKNOWN_SENDER)  # answered today already: its repeats spend no reply
    if facts.unknown_replied is None:
        facts.unknown_replied = auto_replies_since(session, now - HOUR, prefix="unknown-sender:%")
    if facts.unknown_replied >= context.unknown_replies_per_hour:
        return IntakeResult(InboundOutcome.UNKNOWN_SENDER)
    facts.unknown_replied += 1
    facts.unknown_keys.add(key)
    pending.sms.append(
        {
            "dedupe_key": key,
            "to_phone": message.from_phone,
            "body": context.catalog.render("unknown_sender_reply", "zh-CN"),
        }
    )
    return IntakeResult(InboundOutcome.UNKNOWN_SENDER)


def _from_resident(
    session: Session,
    message: InboundMessage,
    match: SenderMatch,
    reading: Reading,
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
) -> IntakeResult:
    household = match.household
    if reading.opt_out or reading.opt_in:
        return _opt(session, message, match, reading, facts, pending, context, now)
    if reading.temperature is not None:
        pending.readings.append(
            {
                "resident_id": match.resident.id if match.resident else None,
                "household_id": household.id if household else None,
                "message_id": message.id,
                "celsius": reading.temperature,
                "at": now,
            }
        )
    if reading.understood and not reading.needs:
        return IntakeResult(InboundOutcome.FINE)

    needs = [NEED_CATEGORY[need] for need in reading.needs] or [TaskCategory.OTHER]
    priority = TaskPriority.URGENT if reading.urgent else TaskPriority.NORMAL
    result = IntakeResult(InboundOutcome.TASK_CREATED)
    # Words not understood, in reply to a check-in: someone must have read them by the check-in's deadline.
    due_by = None
    if not reading.needs:
        deadlines = [reply_deadline(facts.checkins.get(r.id), now, context.checkin) for r in match.residents]
        due_by = min((d for d in deadlines if d is not None), default=None)
    for category in needs:
        _record_need(session, message, match, category, priority, facts, pending, context, now, result, due_by=due_by)
    if household is None:
        result.outcome = InboundOutcome.AMBIGUOUS_SENDER
        receipt_key, fields = "shared_number_receipt", {}
    elif household.primary_liaison is None or not household.primary_liaison.active:
        result.outcome = InboundOutcome.NO_LIAISON
        receipt_key, fields = "resident_receipt_no_liaison", {"resident_name": _names(match)}
    else:
        receipt_key = "resident_receipt"
        fields = {"resident_name": _names(match), "liaison_name": household.primary_liaison.name}
    if not _is_landline(match, message.from_phone) and _may_auto_reply(message.from_phone, facts, context):
        facts.replied[message.from_phone] += 1
        pending.sms.append(
            {
                "dedupe_key": f"inbound:{message.id}:receipt",
                "to_phone": message.from_phone,
                "body": context.catalog.render(receipt_key, match.residents[0].language, **fields),
            }
        )
    return result


def _record_need(
    session: Session,
    message: InboundMessage,
    match: SenderMatch,
    category: TaskCategory,
    priority: TaskPriority,
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
    result: IntakeResult,
    community: Community | None = None,
    due_by: datetime | None = None,
) -> None:
    """One need: added to the household's open task, or a new task, to be offered and put on the escalation
    with the batch's (`pending`).

    `community`: whose duty staff a task with no household goes to, if not the sender's. `due_by`: a new task's
    ladder is planned to reach duty staff by then."""
    task, created, made_urgent = _open_task(session, message, match, category, priority, facts, pending, now)
    task.due_by = due_by if created else task.due_by
    result.tasks.append(task)
    if made_urgent:
        pending.write_events(session)  # flushed: the task's id, for the alert
        result.outbound_ids += escalation.became_urgent(session, task, now, context)
    if created:
        pending.tasks.append((task, community or match.community))
        facts.note_task(task)


def _open_task(
    session: Session,
    message: InboundMessage,
    match: SenderMatch,
    category: TaskCategory,
    priority: TaskPriority,
    facts: Facts,
    pending: Pending,
    now: datetime,
) -> tuple[Task, bool, bool]:
    """The household's open task of this kind, with this message added; or a new task (no id yet).

    The household was locked before its open tasks were read (`Facts.read`): two messages handled at once find
    each other's task, not make two.

    Returns:
        The task; True if it is new; True if this message made an open task urgent."""
    household = match.household
    resident = match.resident
    actor = f"resident:{resident.id}" if resident else f"household:{household.id}" if household else "phone"
    if household is not None and category != TaskCategory.OTHER:
        made_urgent = False
        same = facts.open_task(household.id, category, resident.id if resident else None)
        while same is not None and not facts.joinable(session, same):  # closed meanwhile: it left the facts
            same = facts.open_task(household.id, category, resident.id if resident else None)
        if same is not None:
            same.description = f"{same.description}；{message.body}".strip("；")
            if priority == TaskPriority.URGENT and same.priority != priority:
                same.priority = priority
                made_urgent = True
            same.updated_at = now
            pending.task_events.append((same, event_row("added", actor, message.channel, now, f"message:{message.id}")))
            return same, False, made_urgent
    task = create_task(
        session,
        household,
        resident,
        category,
        priority,
        description=message.body,
        actor=actor,
        channel=message.channel,
        now=now,
        source_message_id=message.id,
        flush=False,
        events=pending.task_events,
    )
    return task, True, False


def _opt(
    session: Session,
    message: InboundMessage,
    match: SenderMatch,
    reading: Reading,
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
) -> IntakeResult:
    """STOP and its kin opt out, and ask the liaison to call (these are vulnerable people); START undoes it."""
    for resident in match.residents:
        if reading.opt_out and resident.status != ResidentStatus.MOVED_AWAY:
            resident.status = ResidentStatus.OPTED_OUT
        elif reading.opt_in and resident.status == ResidentStatus.OPTED_OUT:
            resident.status = ResidentStatus.ACTIVE
    if reading.opt_in:
        return IntakeResult(InboundOutcome.OPTED_IN)
    result = IntakeResult(InboundOutcome.OPTED_OUT)
    callback, normal = TaskCategory.CALLBACK, TaskPriority.NORMAL
    _record_need(session, message, match, callback, normal, facts, pending, context, now, result)
    return result  # no reply to the resident: Twilio confirms a STOP itself, and we must not text them now


def _may_auto_reply(phone: str, facts: Facts, context: DispatchContext) -> bool:
    """At most a few automatic answers per number per hour, whatever the number sends."""
    return facts.replied[phone] < context.auto_replies_per_number_per_hour


def _names(match: SenderMatch) -> str:
    return "、".join(r.name for r in match.residents)


def _is_landline(match: SenderMatch, phone: str) -> bool:
    """True if the number cannot take an SMS receipt: a landline, or residents who cannot read SMS (voice).
    They hear back by automated call when their task is taken and done."""
    if all(r.channel == Channel.VOICE for r in match.residents):
        return True
    return any(p.landline for r in match.residents for p in r.phones if p.phone == phone)
