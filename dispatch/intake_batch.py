"""Intake in batches: many stored inbound SMS turned into tasks, offers and receipts in one transaction.

At 09:00 the check-in replies come back together. Handling them one by one (`dispatch.intake`) costs a job, a
transaction and some forty statements each. Here one transaction reads, for a whole batch, who sent what (the
senders' residents, households and liaisons), the households' open tasks, the check-ins being answered and the
receipts already sent to each number, in a few statements; the common cases are then decided in Python and
written in bulk: a check-in reply that is fine, a temperature, a need of a household that has no open task of
that kind. Everything else takes the one-message path (`process_message`), in the same transaction: a liaison's
message, an unknown or shared number, a voice message, an opt-out, an urgent or unclear message, a second
message of one household in the batch, a household with an open task of that kind (the message joins it), a
household without an active liaison, a landline or voice-only resident. The outcome of each message is the same
either way, and running a batch twice changes nothing: a message already processed is skipped.

Order: a liaison's message may change a household's tasks, so it ends a segment. Each segment's common cases
are decided from reads made after the liaison messages before it; its other messages follow one by one, in the
order received. Messages of different households and numbers share nothing else, so their order is free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from dispatch.checkins.answers import _OPEN, _SEVERITY, ANSWER_WINDOW
from dispatch.context import DispatchContext
from dispatch.intake import HOUR, NEED_CATEGORY, process_message
from dispatch.models import (
    Channel,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Household,
    InboundMessage,
    InboundOutcome,
    Liaison,
    OutboundMessage,
    Resident,
    ResidentPhone,
    ResidentStatus,
    Task,
    TaskEvent,
    TaskOffer,
    TaskPriority,
    TaskStatus,
    TemperatureReading,
)
from dispatch.outbox import AUTO_REPLY_KEYS
from dispatch.register import SenderMatch
from dispatch.resident_replies import Reading, parse_reply
from dispatch.tasks import escalation
from dispatch.tasks.task_texts import task_text


@dataclass
class BatchResult:
    """What handling a batch did: each message's outcome (None: handled before), and the SMS decided now."""

    outcomes: dict[int, InboundOutcome | None] = field(default_factory=dict)
    outbound_ids: list[int] = field(default_factory=list)
    fast: int = 0  # messages decided in bulk
    one_by_one: int = 0  # messages that took the one-message path


@dataclass
class _Common:
    """A message the batch decides in bulk, with what was read for it."""

    message: InboundMessage
    match: SenderMatch
    reading: Reading
    tasks: list[Task] = field(default_factory=list)


def handle_inbound_batch(
    session: Session, message_ids: Sequence[int], context: DispatchContext, now: datetime
) -> BatchResult:
    """Turn stored inbound SMS into tasks and outbound SMS, each exactly once, in the caller's transaction.

    The caller commits, then hands `outbound_ids` to the gateway. Ids with no stored message are skipped.
    """
    result = BatchResult()
    # FOR UPDATE, in id order: two workers given overlapping batches take turns; the second finds them processed.
    messages = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.id.in_(sorted(set(message_ids))))
        .order_by(InboundMessage.id)
        .with_for_update()
    ).all()
    for message in messages:
        if message.processed_at is not None:
            result.outcomes[message.id] = None
    todo = [m for m in messages if m.processed_at is None]
    if not todo:
        return result
    phones = sorted({m.from_phone for m in todo})
    liaison_phones = set(session.scalars(select(Liaison.phone).where(Liaison.phone.in_(phones))))
    by_phone = _residents_by_phone(session, phones)
    segment: list[InboundMessage] = []
    for message in todo:
        if message.from_phone in liaison_phones:
            _segment(session, segment, by_phone, context, now, result)
            segment = []
            _one(session, message, context, now, result)
        else:
            segment.append(message)
    _segment(session, segment, by_phone, context, now, result)
    return result


def _one(session: Session, message: InboundMessage, context: DispatchContext, now: datetime, out: BatchResult) -> None:
    """The one-message path, as `dispatch.intake.handle_inbound_message` takes it."""
    done = process_message(session, message, context, now)
    message.processed_at = now
    out.outcomes[message.id] = done.outcome
    out.outbound_ids += done.outbound_ids
    out.one_by_one += 1


def _residents_by_phone(session: Session, phones: list[str]) -> dict[str, list[Resident]]:
    """Every resident with each number (moved-away ones too), households and liaisons loaded."""
    rows = session.execute(
        select(ResidentPhone.phone, Resident)
        .join(Resident, Resident.id == ResidentPhone.resident_id)
        .where(ResidentPhone.phone.in_(phones))
        .options(
            selectinload(Resident.phones),
            selectinload(Resident.household).selectinload(Household.primary_liaison),
        )
        .order_by(Resident.id)
    ).all()
    found: dict[str, list[Resident]] = {}
    for phone, resident in rows:
        if resident not in found.setdefault(phone, []):
            found[phone].append(resident)
    return found


def _match(residents: list[Resident]) -> SenderMatch:
    """`dispatch.register.match_sender` on residents already read: moved-away ones only if no one else."""
    ordered = sorted(residents, key=lambda r: (r.status == ResidentStatus.MOVED_AWAY, r.id))
    current = [r for r in ordered if r.status != ResidentStatus.MOVED_AWAY]
    return SenderMatch(current or ordered)


def _common_case(message: InboundMessage, everyone: list[Resident], context: DispatchContext) -> _Common | None:
    """The message as a common case the batch decides in bulk, or None for the one-message path."""
    if message.channel != "sms" or not everyone:
        return None
    # Every resident with the number active, on SMS, and the number no landline: no opt-out, no call instead.
    for resident in everyone:
        if resident.status != ResidentStatus.ACTIVE or resident.channel != Channel.SMS:
            return None
        if any(p.landline for p in resident.phones if p.phone == message.from_phone):
            return None
    match = _match(everyone)
    household = match.household
    liaison = household.primary_liaison if household is not None else None
    if household is None or liaison is None or not liaison.active or liaison.phone is None:
        return None
    reading = parse_reply(message.body, context.replies, context.fever_threshold)
    if reading.opt_out or reading.opt_in or reading.urgent or not reading.understood:
        return None  # the rare and the serious: one by one, as always
    return _Common(message, match, reading)


def _segment(
    session: Session,
    messages: list[InboundMessage],
    by_phone: dict[str, list[Resident]],
    context: DispatchContext,
    now: datetime,
    out: BatchResult,
) -> None:
    """Messages with no liaison's among them: the common cases in bulk, then the others one by one."""
    if not messages:
        return
    common: list[_Common] = []
    rest: list[InboundMessage] = []
    candidates = {m.id: _common_case(m, by_phone.get(m.from_phone, []), context) for m in messages}
    # A household or number with two messages here (a number may be several residents'): all of them one by one,
    # in order (the second may join the first's task, or answer the same check-in).
    households = Counter(h for m in messages for h in {r.household_id for r in by_phone.get(m.from_phone, [])})
    numbers = Counter(m.from_phone for m in messages)
    for message in messages:
        case = candidates[message.id]
        if case is None or numbers[message.from_phone] > 1 or households[case.match.household.id] > 1:  # type: ignore[union-attr]
            rest.append(message)
        else:
            common.append(case)
    common, joining = _without_open_tasks(session, common)
    if common:
        _decide(session, common, context, now, out)
    for message in sorted(rest + joining, key=lambda m: m.id):
        _one(session, message, context, now, out)


def _without_open_tasks(session: Session, common: list[_Common]) -> tuple[list[_Common], list[InboundMessage]]:
    """Lock the households of the needs, then split off the messages that would join an open task of theirs."""
    needy = sorted({c.match.household.id for c in common if c.reading.needs})  # type: ignore[union-attr]
    if not needy:
        return common, []
    # As `dispatch.intake` locks one household (FOR NO KEY UPDATE), in id order: two batches cannot deadlock.
    session.execute(
        select(Household.id).where(Household.id.in_(needy)).order_by(Household.id).with_for_update(key_share=True)
    ).all()
    open_tasks = session.execute(
        select(Task.household_id, Task.category, Task.resident_id).where(
            Task.household_id.in_(needy), Task.status.in_(TaskStatus.joinable())
        )
    ).all()
    keep: list[_Common] = []
    joining: list[InboundMessage] = []
    for case in common:
        resident = case.match.resident
        wanted = {NEED_CATEGORY[n] for n in case.reading.needs}
        joins = any(
            row.household_id == case.match.household.id  # type: ignore[union-attr]
            and row.category in wanted
            and (row.resident_id is None or (resident is not None and row.resident_id == resident.id))
            for row in open_tasks
        )
        if joins:
            joining.append(case.message)
        else:
            keep.append(case)
    return keep, joining


def _decide(session: Session, common: list[_Common], context: DispatchContext, now: datetime, out: BatchResult) -> None:
    """The common cases, decided and written in bulk: temperatures, tasks with their events and first offers,
    receipts, check-in answers, and each message marked processed."""
    replied = _auto_replies(session, [c.message.from_phone for c in common if c.reading.needs], now)
    for case in common:
        message, match, reading = case.message, case.match, case.reading
        household = match.household
        assert household is not None and household.primary_liaison is not None
        if reading.temperature is not None:
            session.add(
                TemperatureReading(
                    resident_id=match.resident.id if match.resident else None,
                    household_id=household.id,
                    message_id=message.id,
                    celsius=reading.temperature,
                    at=now,
                )
            )
        for need in reading.needs:
            task = Task(
                household=household,
                resident=match.resident,
                category=NEED_CATEGORY[need],
                priority=TaskPriority.NORMAL,
                status=TaskStatus.OFFERED,
                description=message.body,
                assignee=household.primary_liaison,
                source_message_id=message.id,
                due_by=None,
                rung=0,
                created_at=now,
                updated_at=now,
            )
            session.add(task)
            case.tasks.append(task)
    session.flush()  # the tasks' ids, in one insert
    receipts: list[OutboundMessage] = []
    offers: list[OutboundMessage] = []
    for case in common:
        message, match = case.message, case.match
        household = match.household
        assert household is not None and household.primary_liaison is not None
        liaison = household.primary_liaison
        actor = f"resident:{match.resident.id}" if match.resident else f"household:{household.id}"
        for task in case.tasks:
            session.add(
                TaskEvent(task=task, kind="created", actor=actor, channel=message.channel, at=now, detail="normal")
            )
            session.add(
                TaskEvent(
                    task=task, kind="offered", actor="system", channel="sms", at=now, detail=f"liaison:{liaison.id}"
                )
            )
            session.add(TaskOffer(task_id=task.id, liaison_id=liaison.id, phone=liaison.phone, rung=0, offered_at=now))
            body = task_text(session, task, "liaison_task_offer", context.catalog, context.staff_language)
            offers.append(
                OutboundMessage(
                    dedupe_key=f"task:{task.id}:offer:0", to_phone=liaison.phone, body=body, task_id=task.id
                )
            )
            task.offer_deadline = escalation.deadline(task, now, context)
        if case.tasks and replied[message.from_phone] < context.auto_replies_per_number_per_hour:
            replied[message.from_phone] += 1
            names = "、".join(r.name for r in match.residents)
            body = context.catalog.render(
                "resident_receipt", match.residents[0].language, resident_name=names, liaison_name=liaison.name
            )
            receipts.append(
                OutboundMessage(dedupe_key=f"inbound:{message.id}:receipt", to_phone=message.from_phone, body=body)
            )
    # Offers before receipts within each message, as the one-message path decides them.
    session.add_all(offers + receipts)
    session.flush()
    out.outbound_ids += [row.id for row in offers + receipts]
    answers = {c.message.id: (CheckinStatus.NEEDS if c.tasks else CheckinStatus.FINE, c) for c in common}
    _answer_checkins(session, answers, now)
    for case in common:
        message = case.message
        message.resident_id = case.match.resident.id if case.match.resident else None
        message.outcome = InboundOutcome.TASK_CREATED if case.tasks else InboundOutcome.FINE
        message.processed_at = now
        out.outcomes[message.id] = message.outcome
    out.fast += len(common)


def _auto_replies(session: Session, phones: list[str], now: datetime) -> Counter[str]:
    """How many automatic answers each number was sent in the last hour (`dispatch.outbox.auto_replies_since`)."""
    if not phones:
        return Counter()
    rows = session.execute(
        select(OutboundMessage.to_phone, func.count())
        .where(OutboundMessage.created_at >= now - HOUR, OutboundMessage.to_phone.in_(sorted(set(phones))))
        .where(or_(*(OutboundMessage.dedupe_key.like(key) for key in AUTO_REPLY_KEYS)))
        .group_by(OutboundMessage.to_phone)
    ).all()
    return Counter({phone: count for phone, count in rows})


def _answer_checkins(session: Session, answers: dict[int, tuple[CheckinStatus, _Common]], now: datetime) -> None:
    """`dispatch.checkins.answers.record_answer` for many messages: each resident's latest check-in sent in the
    last day, answered (or kept, if more serious already)."""
    residents = {r.id: mid for mid, (_, case) in answers.items() for r in case.match.residents}
    if not residents:
        return
    found = session.scalars(
        select(Checkin)
        .where(
            Checkin.resident_id.in_(sorted(residents)),
            Checkin.status.in_(_OPEN),
            Checkin.sent_at.is_not(None) | (Checkin.status == CheckinStatus.MISSED_QUIET),
            Checkin.due_at > now - ANSWER_WINDOW,
            Checkin.due_at <= now,
        )
        .order_by(Checkin.resident_id, Checkin.due_at.desc(), Checkin.id.desc())
        .with_for_update()
    ).all()
    latest: dict[int, Checkin] = {}
    for row in found:
        latest.setdefault(row.resident_id, row)
    for resident_id, message_id in residents.items():
        checkin = latest.get(resident_id)
        status, case = answers[message_id]
        if checkin is None or _SEVERITY.get(checkin.status, 0) >= _SEVERITY[status]:
            continue
        late = " after the visit was asked for" if checkin.visit_task_id else ""
        checkin.status = status
        checkin.answered_at = checkin.answered_at or now
        checkin.answer_message_id = checkin.answer_message_id or message_id
        checkin.next_call_at = None
        channel = case.message.channel
        session.add(CheckinEvent(checkin=checkin, kind="answered", at=now, detail=f"{status} by {channel}{late}"))


__all__ = ["BatchResult", "handle_inbound_batch"]
