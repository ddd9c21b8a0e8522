"""Intake: one stored inbound SMS becomes a task for the sender's resident record, offered to their liaison.

This is the first turn of the loop 收集—分流—接单—反馈. Understanding the words (categories, temperatures,
several needs in one message) comes with the reply parser; for now every message is one task for a person
to read. Running `handle_inbound_message` twice on one message changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.exceptions import NotFound
from dispatch.models import (
    InboundMessage,
    InboundOutcome,
    Task,
    TaskCategory,
    TaskEvent,
    TaskStatus,
    utcnow,
)
from dispatch.outbox import queue_sms
from dispatch.phones import national_format
from dispatch.register import SenderMatch, find_liaison_by_phone, match_sender
from dispatch.texts import MessageCatalog


@dataclass
class IntakeResult:
    """What handling one message did."""

    outcome: InboundOutcome | None  # None: it had been handled before; nothing was done now
    task_ids: list[int] = field(default_factory=list)
    outbound_ids: list[int] = field(default_factory=list)  # SMS decided now, to hand to the gateway


def handle_inbound_message(
    session: Session,
    message_id: int,
    *,
    catalog: MessageCatalog,
    staff_language: str,
    timezone: ZoneInfo,
    now: datetime | None = None,
) -> IntakeResult:
    """Turn one stored inbound SMS into tasks and outbound SMS, exactly once.

    The caller owns the transaction and commits it; the outbound SMS are handed to the gateway after that.

    Args:
        session: A session inside a transaction.
        message_id: The stored message.
        catalog: The SMS texts.
        staff_language: Language of texts to liaisons (HOTLINE_LANGUAGE).
        timezone: The community's timezone, for "once a day" limits.
        now: The current time, for tests.

    Returns:
        What was done; `outcome` is None if the message had already been handled.

    Raises:
        NotFound: no message has that id.
    """
    now = now or utcnow()
    # FOR UPDATE serialises two workers on one message on PostgreSQL; SQLite's BEGIN IMMEDIATE already has.
    message = session.get(InboundMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound("inbound message", str(message_id))
    if message.processed_at is not None:
        return IntakeResult(outcome=None)

    match = match_sender(session, message.from_phone)
    if not match.residents and find_liaison_by_phone(session, message.from_phone) is not None:
        result = IntakeResult(InboundOutcome.FROM_LIAISON)
    elif not match.residents:
        result = _reply_to_unknown_sender(session, message, catalog, timezone, now)
    else:
        result = _make_task(session, message, match, catalog, staff_language, now)
    message.resident_id = match.resident.id if match.resident else None
    message.processed_at = now
    message.outcome = result.outcome
    return result


def _reply_to_unknown_sender(
    session: Session, message: InboundMessage, catalog: MessageCatalog, timezone: ZoneInfo, now: datetime
) -> IntakeResult:
    # One polite reply a day per number: enough to be kind, never a loop with an auto-responder.
    day = now.astimezone(timezone).date().isoformat()
    reply = queue_sms(
        session,
        dedupe_key=f"unknown-sender:{message.from_phone}:{day}",
        to_phone=message.from_phone,
        body=catalog.render("unknown_sender_reply", "zh-CN"),
    )
    return IntakeResult(InboundOutcome.UNKNOWN_SENDER, outbound_ids=[reply.id] if reply else [])


def _make_task(
    session: Session,
    message: InboundMessage,
    match: SenderMatch,
    catalog: MessageCatalog,
    staff_language: str,
    now: datetime,
) -> IntakeResult:
    """One task for the sender. A number shared within one household makes a task for the household; one
    shared across households makes a task for a clerk (see README, "A number shared by several residents")."""
    existing = session.scalar(select(Task).where(Task.source_message_id == message.id))
    if existing is not None:  # a half-finished earlier run cannot commit, so this is only a safety net
        return IntakeResult(outcome=None)

    household = match.household
    resident = match.resident
    primary = household.primary_liaison if household else None
    liaison = primary if primary is not None and primary.active else None
    task = Task(
        household=household,
        resident=resident,
        category=TaskCategory.OTHER,
        status=TaskStatus.OFFERED if liaison else TaskStatus.NEW,
        description=message.body,
        assignee=liaison,
        source_message_id=message.id,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    actor = f"resident:{resident.id}" if resident else f"household:{household.id}" if household else "phone"
    session.add(TaskEvent(task=task, kind="created", actor=actor, channel="sms", at=now, detail=""))

    names = "、".join(r.name for r in match.residents)
    language = match.residents[0].language
    outbound = []
    if household is None:
        outcome, receipt_key, fields = InboundOutcome.AMBIGUOUS_SENDER, "shared_number_receipt", {}
    elif liaison is not None:
        session.add(
            TaskEvent(task=task, kind="offered", actor="system", channel="sms", at=now, detail=f"liaison:{liaison.id}")
        )
        offer = queue_sms(
            session,
            dedupe_key=f"task:{task.id}:offer:0",
            to_phone=str(liaison.phone),
            body=catalog.render(
                "liaison_task_offer",
                staff_language,
                task_id=task.id,
                resident_name=names,
                resident_phone=national_format(message.from_phone),
                body=message.body.strip() or "-",
            ),
            task_id=task.id,
        )
        outbound.append(offer)
        outcome, receipt_key = InboundOutcome.TASK_CREATED, "resident_receipt"
        fields = {"resident_name": names, "liaison_name": liaison.name}
    else:
        outcome, receipt_key, fields = (
            InboundOutcome.NO_LIAISON,
            "resident_receipt_no_liaison",
            {"resident_name": names},
        )

    if not _is_landline(match, message.from_phone):  # a landline cannot receive the receipt
        receipt = queue_sms(
            session,
            dedupe_key=f"inbound:{message.id}:receipt",
            to_phone=message.from_phone,
            body=catalog.render(receipt_key, language, **fields),
            task_id=task.id,
        )
        outbound.append(receipt)
    return IntakeResult(outcome, task_ids=[task.id], outbound_ids=[row.id for row in outbound if row is not None])


def _is_landline(match: SenderMatch, phone: str) -> bool:
    return any(p.landline for r in match.residents for p in r.phones if p.phone == phone)
