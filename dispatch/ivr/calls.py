"""Who is calling, and the record of each call.

A choice that asks for help (a need, a voicemail, a call that ended with nothing chosen) is stored as an inbound
message with channel "voice", keyed `<CallSid>:<what>`, and goes through intake like an SMS: one task, offered
to the household's liaison, on the ladder. Storing twice is a no-op, so Twilio's retries change nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.ivr.batch_reads import Numbers, look_up_numbers
from dispatch.ivr.batch_writes import keep_for_batch
from dispatch.ivr.hearing import NO_PROFILE, Profile
from dispatch.ivr.register_rows import CommunityRow, ResidentOfNumber
from dispatch.models import (
    Call,
    Channel,
    Community,
    DirectoryEntry,
    InboundMessage,
    Liaison,
    ResidentStatus,
    Task,
    TaskStatus,
)
from dispatch.phones import is_home_mobile
from dispatch.register import sole_community

# Whether a number can take an SMS, read once per process for each number: phonenumbers' parsing is the cost.
_can_take_sms = lru_cache(maxsize=4096)(is_home_mobile)
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


@dataclass(frozen=True)
class Person:
    """Someone a caller can be put through to."""

    role: str  # liaison, backup or duty
    name: str
    phone: str


@dataclass(frozen=True)
class Caller:
    """Who is on the line, as far as the register knows."""

    kind: str  # resident, liaison or unknown
    phone: str
    language: str
    name: str = ""
    liaison_name: str | None = None  # a resident's liaison
    resident_id: int | None = None  # when the number is one resident's alone
    household_id: int | None = None
    liaison_id: int | None = None  # when the caller is a liaison
    community_id: int | None = None
    is_resident: bool = False  # a liaison who is also on the register
    can_sms: bool = False
    people: tuple[Person, ...] = ()  # whom to put the caller through to, in order
    takes_sms: bool = False  # a resident's number can take an SMS (a mobile), even if they are on voice
    profile: Profile = NO_PROFILE  # a resident's profile for hearing and memory (`dispatch.hearing_profiles`)


def identify_caller(
    session: Session,
    phone: str,
    *,
    region: str,
    language: str,
    duty_phone: str | None,
    numbers: Numbers | None = None,
) -> Caller:
    """Look the number up in the register.

    Args:
        session: A session.
        phone: The caller's number, E.164 if it could be read.
        region: HOTLINE_REGION.
        language: The hotline's language, for callers not on the register.
        duty_phone: HOTLINE_DUTY_PHONE: the last resort for anyone.
        numbers: The register's answer for a set of numbers, read earlier in this transaction
            (`look_up_numbers`); read now if it does not hold `phone`.
    """
    if numbers is None or phone not in numbers.phones:
        numbers = look_up_numbers(session, [phone])
    matched = _current_first(numbers.residents.get(phone, []))
    residents = [r for r in matched if r.status != ResidentStatus.MOVED_AWAY]
    liaison = numbers.liaisons.get(phone)
    liaison = liaison if liaison is not None and liaison.active else None
    landline = any(r.landline for r in residents)
    can_sms = not landline and _can_take_sms(phone, region)
    if liaison is not None:
        community = liaison.grid.community if liaison.grid else sole_community(session)
        return Caller(
            kind="liaison",
            phone=phone,
            language=language,
            name=liaison.name,
            liaison_id=liaison.id,
            community_id=community.id if community else None,
            is_resident=bool(residents),
            can_sms=can_sms,
            people=_chain([_duty(community, duty_phone)], phone),
        )
    if not residents:
        community = sole_community(session)
        return Caller(
            kind="unknown",
            phone=phone,
            language=language,
            community_id=community.id if community else None,
            can_sms=can_sms,
            people=_chain([_duty(community, duty_phone)], phone),
        )
    # As `dispatch.register.SenderMatch`: the one household (and community) all matching residents live in.
    household = matched[0].household if len({r.household.id for r in matched}) == 1 else None
    home = matched[0].household.community if len({r.household.community_id for r in matched}) == 1 else None
    primary = household.primary_liaison if household else None
    primary = primary if primary is not None and primary.active else None
    backup = household.backup_liaison if household else None
    backup = backup if backup is not None and backup.active and backup is not primary else None
    people = [
        Person("liaison", primary.name, primary.phone) if primary and primary.phone else None,
        Person("backup", backup.name, backup.phone) if backup and backup.phone else None,
        _duty(home, duty_phone),
    ]
    return Caller(
        kind="resident",
        phone=phone,
        language=residents[0].language,
        name="、".join(r.name for r in residents),
        liaison_name=primary.name if primary else None,
        resident_id=residents[0].id if len(residents) == 1 else None,
        household_id=household.id if household else None,
        community_id=home.id if home else None,
        is_resident=True,
        can_sms=can_sms and not all(r.channel == Channel.VOICE for r in residents),
        takes_sms=can_sms,
        people=_chain(people, phone),
    )


def _current_first(residents: list[ResidentOfNumber]) -> list[ResidentOfNumber]:
    """As `match_sender`: moved-away residents count only if no one else does."""
    current = [r for r in residents if r.status != ResidentStatus.MOVED_AWAY]
    return current or residents


def _duty(community: Community | CommunityRow | None, duty_phone: str | None) -> Person | None:
    phone = (community.duty_phone if community else None) or duty_phone
    return Person("duty", community.clerk_name or "" if community else "", phone) if phone else None


def _chain(people: list[Person | None], caller_phone: str) -> tuple[Person, ...]:
    """The people in order, each number once, never the caller themself."""
    seen, chain = {caller_phone}, []
    for person in people:
        if person is not None and person.phone not in seen:
            seen.add(person.phone)
            chain.append(person)
    return tuple(chain)


def directory(session: Session, community_id: int | None) -> list[DirectoryEntry]:
    """The community's hospital, health-centre and pharmacy numbers, in the order staff entered them."""
    if community_id is None:
        return []
    return list(
        session.scalars(
            select(DirectoryEntry).where(DirectoryEntry.community_id == community_id).order_by(DirectoryEntry.id)
        )
    )


def waiting_tasks(session: Session, liaison_id: int, limit: int = 5) -> list[Task]:
    """Tasks offered to this liaison and not yet taken, oldest first."""
    return list(
        session.scalars(
            select(Task)
            .where(Task.assignee_liaison_id == liaison_id, Task.status.in_(TaskStatus.waiting()))
            .order_by(Task.id)
            .limit(limit)
        )
    )


def count_waiting(session: Session, liaison_id: int) -> int:
    """How many tasks wait for this liaison to take them."""
    count = session.scalar(
        select(func.count()).where(Task.assignee_liaison_id == liaison_id, Task.status.in_(TaskStatus.waiting()))
    )
    return int(count or 0)


def start_call(
    session: Session,
    call_sid: str,
    caller: Caller,
    to_phone: str,
    now: datetime,
    known: dict[str, Call] | None = None,
) -> Call:
    """The call's row, made on its first webhook and found (locked for update where the database can) by every
    later one; a retried webhook finds the same row.

    `known`: the rows of a set of calls that includes this one, read earlier in this transaction by
    `calls_by_sid`; a row made here is added to it.
    """
    if known is not None:
        if call_sid in known:
            return known[call_sid]
    else:
        found = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
        if found is not None:
            return found
    call = Call(
        call_sid=call_sid,
        from_phone=caller.phone,
        to_phone=to_phone,
        caller_kind=caller.kind,
        resident_id=caller.resident_id,
        household_id=caller.household_id,
        liaison_id=caller.liaison_id,
        language=caller.language,
        started_at=now,
        chose=False,
        task_made=False,
        dial_attempts=0,
        connected=False,
        voicemail=False,
    )
    if known is not None:
        # Read ahead in this transaction: inserted with the batch's other new calls (`batch_writes`). A row made
        # since by another is a duplicate key then, which rolls the batch back (the group commit then runs the
        # steps again, and they find that row).
        keep_for_batch(session, call)
        known[call_sid] = call
        return call
    try:
        with session.begin_nested():
            session.add(call)
    except IntegrityError:  # the same webhook, twice at once: the first row is the record
        return session.execute(select(Call).where(Call.call_sid == call_sid)).scalar_one()
    return call


def store_call_need(
    session: Session,
    call: Call,
    what: str,
    *,
    need: str,
    body: str,
    urgent: bool = False,
    recording_url: str | None = None,
    now: datetime,
    stored: set[str] | None = None,
    unflushed: list[InboundMessage] | None = None,
) -> int | None:
    """Store a need made on a call as a voice inbound message, once per call and `what`.

    `stored`: the keys of the needs stored for a set of calls that includes this one, read earlier in this
    transaction by `needs_of_calls`; a need stored here is added to it.
    `unflushed` (with `stored`): the new message is not added to the session but kept for the batch's INSERT
    (`batch_writes.write_batch`) and added to this list; its id is set when the batch writes it.

    Returns:
        The new message's id, to queue for intake after the commit; None if it was stored before, or left in
        `unflushed`.
    """
    key = f"{call.call_sid}:{what}"
    if len(key) > 64:  # long node names: a digest, so two needs never share a cut-off key
        key = f"{call.call_sid}:{hashlib.sha256(what.encode()).hexdigest()[:24]}"
    if stored is not None:
        if key in stored:
            return None
    elif session.scalar(select(InboundMessage.id).where(InboundMessage.provider_sid == key)) is not None:
        return None
    message = InboundMessage(
        provider_sid=key,
        from_phone=call.from_phone,
        to_phone=call.to_phone,
        body=body,
        channel="voice",
        need=need,
        urgent=urgent,
        recording_url=recording_url,
        received_at=now,
        resident_id=call.resident_id,
    )
    if stored is not None:  # read ahead: as in `start_call`, a duplicate made since fails the batch's INSERT
        if unflushed is None:
            session.add(message)
            session.flush()
        else:
            keep_for_batch(session, message)
            unflushed.append(message)
        stored.add(key)
    else:
        try:
            with session.begin_nested():
                session.add(message)
        except IntegrityError:
            return None
    call.chose = True
    call.task_made = call.task_made or what != "missed"
    return message.id if unflushed is None else None


def finish_call(
    session: Session, call: Call, status: str, duration: int | None, now: datetime, body: str
) -> int | None:
    """Record how a call ended. A resident's call that ended with nothing chosen, nobody reached and no message
    left is stored as a call-back need (returns its message id, to queue after the commit)."""
    call.status = status[:16]
    if duration is not None:
        call.duration_seconds = duration
    if status not in FINAL_STATUSES:
        return None
    call.ended_at = call.ended_at or now
    if not needs_callback(call):
        return None
    return store_call_need(session, call, "missed", need="callback", body=body, now=now)


def needs_callback(call: Call) -> bool:
    """True if the call ended with nobody helped: no task made, no person reached, no message left, and either
    nothing chosen or a person asked for. A caller not on the register counts only if they asked for a person."""
    if call.task_made or call.connected or call.voicemail:
        return False
    asked_for_person = call.dial_attempts > 0
    if call.caller_kind == "resident":
        return asked_for_person or not call.chose
    return call.caller_kind == "unknown" and asked_for_person


def liaison_of(session: Session, liaison_id: int) -> Liaison | None:
    """The liaison, if still active."""
    liaison = session.get(Liaison, liaison_id)
    return liaison if liaison is not None and liaison.active else None
