"""A call missed on a community's own SIM (an Android phone running httpSMS, which reports missed calls): a ring,
as a ring to the hotline is, where it can be one; otherwise a call-back, since nobody heard that call.

The SIM is not the hotline's voice line: there is no menu to give a caller, and no person was reached. So:

- a registered resident in a ring mode, active, alone on the number: the ring is counted by `count_ring`, as a
  call to the hotline that ended before it was answered (once per call: its key in place of Twilio's CallSid);
- every other call from a registered resident's number is a call-back need, as a hotline call that ended with
  nothing chosen is: ring mode off, a shared number (whose ring would it be?), a paused resident, a second call
  less than `RING_REPEAT` after a ring, a call reported more than `LATE` after it was missed, or on a later day
  (where the resident lives) than it rang: yesterday's call says nothing of today;
- health first: a resident who answered unwell today, or whose household has an open urgent task, is never taken
  as fine. The hotline would have given them the menu and a person at once; the SIM cannot, so their missed call
  is an urgent call-back;
- a number not on the register: nothing (the hotline makes no task for a stranger's hang-up either).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.checkins.ring import count_ring, needs_a_person
from dispatch.context import DispatchContext
from dispatch.models import InboundMessage, Resident, ResidentStatus, Ring
from dispatch.register import match_sender

LATE = timedelta(minutes=30)  # a missed call reported this long after it rang is no ring: a person calls back
HOW = "sim"  # the Ring's `how`: a call missed on a community's own SIM


@dataclass
class Missed:
    """What a missed call did: a ring's outcome (fine, already, kept, no_checkin, task, joined), callback or
    urgent_callback (a need stored, `inbound`, for intake), unknown (not a resident's number) or duplicate."""

    outcome: str
    inbound: list[int] = field(default_factory=list)  # the call-back need, to queue for intake after the commit
    outbound: list[int] = field(default_factory=list)  # SMS a ring decided, to hand over after the commit


def missed_call(
    session: Session,
    key: str,
    phone: str,
    sim_phone: str,
    rang_at: datetime,
    now: datetime,
    context: DispatchContext,
) -> Missed:
    """Act on a call from `phone` (E.164) missed on the SIM `sim_phone` at `rang_at`, reported now, once per `key`
    (at most 64 characters, the same for every report of the call). See the module's doc."""
    if session.scalar(select(Ring.id).where(Ring.call_sid == key)) is not None:
        return Missed("duplicate")
    if session.scalar(select(InboundMessage.id).where(InboundMessage.provider_sid == key)) is not None:
        return Missed("duplicate")
    residents = [r for r in match_sender(session, phone).residents if r.status != ResidentStatus.MOVED_AWAY]
    if not residents:
        return Missed("unknown")
    resident = residents[0] if len(residents) == 1 else None
    if resident is not None and now - rang_at <= LATE and _same_day(resident, rang_at, now, context):
        counted = count_ring(session, resident.id, key, HOW, now, context)
        if counted is not None:
            return Missed(counted.outcome, outbound=counted.outbound)
        if session.scalar(select(Ring.id).where(Ring.call_sid == key)) is not None:
            return Missed("duplicate")  # the same event, counted at this moment by another request
    urgent = any(needs_a_person(session, r, now, context) for r in residents)
    message = InboundMessage(
        provider_sid=key,
        from_phone=phone,
        to_phone=sim_phone[:20],
        body=context.catalog.render("sim_missed_body", context.staff_language),
        channel="voice",
        need="callback",
        urgent=urgent,
        received_at=now,
        resident_id=resident.id if resident is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same event, twice at once: the first stored it
        return Missed("duplicate")
    return Missed("urgent_callback" if urgent else "callback", inbound=[message.id])


def _same_day(resident: Resident, rang_at: datetime, now: datetime, context: DispatchContext) -> bool:
    """True if the call rang on the day it is reported, in the resident's community's timezone."""
    community = resident.household.community
    zone = context.checkin.zone(community.timezone if community else None)
    return rang_at.astimezone(zone).date() == now.astimezone(zone).date()
