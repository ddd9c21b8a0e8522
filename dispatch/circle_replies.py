"""A family member answers for a resident (家属代答): an SMS from a number in a care circle.

Intake (`dispatch.intake.decide`) sends here a message from a number that is no resident's and no liaison's but a
reachable contact's (consent recorded, not opted out). The words are read by the same reader as a resident's
(`dispatch.resident_replies.parse_reply`, with the family's own words: 妈妈, she), health first: the check-in counts
as fine only when the message is a statement that reads whole as fine, never a question (她没事吧？, is mum ok?);
a need is a task, and anything else (unwell, a question, words not read whole) is an urgent task for a person. The
answer names who gave it (a check-in event `family_answer`: relation and name).

Whose check-in: only a number in exactly one reachable circle answers for its resident (a worry about them is their
task even with no check-in waiting; "fine" with none waiting goes to staff). A number in several circles answers
for nobody: "fine" or a need goes to staff (the number's triage item) with one polite reply, and unwell or unclear
words are an urgent task with no household, straight to duty staff, as a liaison's sign of danger with no task is.
Nothing is guessed and nothing lost. 退订/STOP/TD opts the number out of every circle it is in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.checkins.answers import answer
from dispatch.context import DispatchContext
from dispatch.intake_facts import Facts, Pending
from dispatch.models import (
    CHECKIN_WAITING,
    CheckinEvent,
    CheckinStatus,
    CircleContact,
    InboundMessage,
    InboundOutcome,
    Task,
    TaskCategory,
    TaskPriority,
)
from dispatch.register import sole_community
from dispatch.resident_replies import NEEDS, normalise, parse_reply
from dispatch.tasks import escalation
from dispatch.tasks.lifecycle import create_task, event_row
from dispatch.triage.items import attach_to_item

EXTRA_STOP = frozenset({"TD"})  # 退订's usual short form on Chinese SMS, for family numbers
_WAITING = (*CHECKIN_WAITING, CheckinStatus.MISSED_QUIET)
_CLAUSES = re.compile(r"[,，.。!！;；:：、~～…]+")
_PARTICLES = ("吗", "吧", "么", "嘛", "呢")  # 她没事吧, 妈妈还好吗: a clause ending in one asks
_A_NOT_A = re.compile(r"(\w)[不没]\1")  # 好不好, 有没有, 是不是
_ASKING = re.compile(r"(?:is|are|was|were|did|does|do|has|have|can|could|will|would|how|what|why|where|who)\b")


def asks(text: str) -> bool:
    """True if the message is (or holds) a question: a question mark, a clause ending in 吗/吧/么/嘛/呢, 好不好,
    or one starting "is she", "how is"… A family member asking whether the resident is fine has not said so."""
    plain = normalise(text)  # NFKC: ？ is ?
    if "?" in plain:
        return True
    clauses = [c.strip() for c in _CLAUSES.split(plain) if c.strip()]
    return any(c.endswith(_PARTICLES) or _A_NOT_A.search(c) or _ASKING.match(c) for c in clauses)


@dataclass
class FamilyReply:
    """What a family member's message came to."""

    outcome: InboundOutcome = InboundOutcome.FROM_FAMILY
    tasks: list[Task] = field(default_factory=list)
    outbound_ids: list[int] = field(default_factory=list)


def from_family(
    session: Session, message: InboundMessage, facts: Facts, pending: Pending, context: DispatchContext, now: datetime
) -> FamilyReply:
    """Act on a message from a care-circle number: its reachable contacts (one per circle) are in `facts.family`,
    their residents' households locked and check-ins read (locked) by `Facts.read`, as a resident's are."""
    contacts = facts.family[message.from_phone]
    reading = parse_reply(message.body, context.replies, context.fever_threshold, family=True)
    if reading.opt_out or normalise(message.body).rstrip(" .。!！").upper() in EXTRA_STOP:
        return _opt_out(session, message, pending, context, now)
    asked = asks(message.body)
    worried = asked or not reading.fine  # a question, a need, unwell, or words not read whole: a person must look
    urgent = worried and (reading.urgent or not reading.needs)  # not only a need (买菜): unwell, unclear, a question
    if len(contacts) > 1:  # whose it is is not guessed
        if urgent:
            return _to_duty_staff(session, message, contacts, facts, pending, context, now)
        return _to_staff(session, message, contacts, facts, pending, context, now)
    contact = contacts[0]
    resident = contact.resident
    checkin = facts.checkins.get(resident.id)
    if not worried and (checkin is None or checkin.status not in _WAITING):
        return _to_staff(session, message, contacts, facts, pending, context, now)  # "fine", with nothing to answer
    message.resident_id = resident.id
    result = FamilyReply()
    who = f"{contact.relation} {contact.name}"
    if worried:
        needs = [n for n in reading.needs if n in NEEDS] or ["unwell"]
        urgent = reading.urgent or not reading.understood
        for need in needs:
            priority = TaskPriority.URGENT if urgent or need == "unwell" else TaskPriority.NORMAL
            task = _need(session, message, contact, TaskCategory(need), priority, facts, pending, context, now, result)
            result.tasks.append(task)
            facts.note_task(task)
        status = CheckinStatus.UNWELL if urgent or "unwell" in needs else CheckinStatus.NEEDS
        key = "circle_answer_task"
    else:
        status, key = CheckinStatus.FINE, "circle_answer_fine"
    if checkin is not None and answer(session, checkin, status, message.id, "family", now, pending.checkin_events):
        pending.checkin_events.append({"checkin_id": checkin.id, "kind": "family_answer", "at": now, "detail": who})
    _reply(
        facts,
        pending,
        context,
        {
            "dedupe_key": f"inbound:{message.id}:receipt",
            "to_phone": message.from_phone,
            "body": context.catalog.render(key, contact.language, resident_name=resident.name),
            "language": contact.language,
        },
    )
    return result


def _need(
    session: Session,
    message: InboundMessage,
    contact: CircleContact,
    category: TaskCategory,
    priority: TaskPriority,
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
    result: FamilyReply,
) -> Task:
    """The household's open task of this kind (as intake finds a resident's), with the message added; or a new
    one."""
    resident = contact.resident
    household = resident.household
    actor, words = f"family:{contact.id}", f"{contact.relation} {contact.name}：{message.body}"
    same = facts.open_task(household.id, category, resident.id)
    while same is not None and not facts.joinable(session, same):  # closed meanwhile: it left the facts
        same = facts.open_task(household.id, category, resident.id)
    if same is not None:
        same.description = f"{same.description}；{words}".strip("；")
        same.updated_at = now
        pending.task_events.append((same, event_row("added", actor, "sms", now, f"message:{message.id}")))
        if priority == TaskPriority.URGENT and same.priority != priority:
            same.priority = priority
            pending.write_events(session)
            result.outbound_ids += escalation.became_urgent(session, same, now, context)
        return same
    task = create_task(
        session,
        household,
        resident,
        category,
        priority,
        description=words,
        actor=actor,
        channel="sms",
        now=now,
        source_message_id=message.id,
        flush=False,
        events=pending.task_events,
    )
    pending.tasks.append((task, household.community))
    return task


def _to_staff(
    session: Session,
    message: InboundMessage,
    contacts: list[CircleContact],
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
) -> FamilyReply:
    """A "fine" with nothing waiting for it, or a "fine" or a need from a number in several circles: staff read it (its
    triage item), and the family member hears that they will; the reply names no resident."""
    with session.no_autoflush:
        attach_to_item(session, message, now)
    _reply(
        facts,
        pending,
        context,
        {
            "dedupe_key": f"inbound:{message.id}:receipt",
            "to_phone": message.from_phone,
            "body": context.catalog.render("circle_to_staff", contacts[0].language),
            "language": contacts[0].language,
        },
    )
    return FamilyReply()


def _to_duty_staff(
    session: Session,
    message: InboundMessage,
    contacts: list[CircleContact],
    facts: Facts,
    pending: Pending,
    context: DispatchContext,
    now: datetime,
) -> FamilyReply:
    """Unwell or unclear words from a number in several circles: an urgent task with no household, straight to the
    duty phone (of the residents' community if they share one), naming the circles' residents; never only read
    later. The family member hears that someone will follow up."""
    with session.no_autoflush:
        communities = {c.resident.household.community_id for c in contacts}
        community = contacts[0].resident.household.community if len(communities) == 1 else sole_community(session)
    who = "、".join(f"{c.relation} {c.name}（{c.resident.name}）" for c in contacts)
    task = create_task(
        session,
        None,
        None,
        TaskCategory.UNWELL,
        TaskPriority.URGENT,
        description=f"{who}：{message.body}",
        actor=f"family:{contacts[0].id}",
        channel="sms",
        now=now,
        source_message_id=message.id,
        flush=False,
        events=pending.task_events,
    )
    pending.tasks.append((task, community))
    names = "、".join(c.resident.name for c in contacts)
    language = contacts[0].language
    _reply(
        facts,
        pending,
        context,
        {
            "dedupe_key": f"inbound:{message.id}:receipt",
            "to_phone": message.from_phone,
            "body": context.catalog.render("circle_answer_task", language, resident_name=names),
            "language": language,
        },
    )
    return FamilyReply(tasks=[task])


def _opt_out(
    session: Session, message: InboundMessage, pending: Pending, context: DispatchContext, now: datetime
) -> FamilyReply:
    """The number leaves every circle it is in (kept on record), and is told so once."""
    found = session.scalars(
        select(CircleContact).where(CircleContact.phone == message.from_phone, CircleContact.opted_out_at.is_(None))
    ).all()
    for contact in found:
        contact.opted_out_at, contact.updated_at = now, now
    language = found[0].language if found else "zh-CN"
    pending.sms.append(
        {
            "dedupe_key": f"circle:opted-out:{message.id}",
            "to_phone": message.from_phone,
            "body": context.catalog.render("circle_opted_out", language),
            "language": language,
        }
    )
    return FamilyReply()


def family_answers(session: Session, checkin_ids: list[int]) -> dict[int, str]:
    """Who in the family answered each of these check-ins ("女儿 王芳"), for the resident's page."""
    rows = session.execute(
        select(CheckinEvent.checkin_id, CheckinEvent.detail)
        .where(CheckinEvent.checkin_id.in_(checkin_ids), CheckinEvent.kind == "family_answer")
        .order_by(CheckinEvent.id)
    ).all()
    return {row.checkin_id: row.detail for row in rows}


def _reply(facts: Facts, pending: Pending, context: DispatchContext, sms: dict[str, object]) -> None:
    """An automatic answer to the family number, within the hourly few every number gets (never a reply loop)."""
    phone = str(sms["to_phone"])
    if facts.replied[phone] < context.auto_replies_per_number_per_hour:
        facts.replied[phone] += 1
        pending.sms.append(sms)
