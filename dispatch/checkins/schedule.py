"""Making each day's check-ins from the plans, and sending those that are due.

The database is the truth: a check-in is a row, unique per resident, local day and slot, made once however
often (or by however many schedulers) `make_checkins` runs. Sending claims due rows in batches (FOR UPDATE SKIP
LOCKED on PostgreSQL; SQLite's write lock serialises) and decides their SMS or call in the same transaction, so
a check-in is sent once. A slot missed while the hotline was down goes out late, unless it is now quiet hours:
then it is marked for staff instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, true, update
from sqlalchemy.orm import Session

from dispatch.channels import Ability
from dispatch.checkins.plans import first_phones, plan_for_day
from dispatch.checkins.rules import call_key, slot_name
from dispatch.context import DispatchContext
from dispatch.db import insert_skipping_duplicates
from dispatch.models import (
    Channel,
    Checkin,
    CheckinEvent,
    CheckinPlan,
    CheckinStatus,
    Community,
    Household,
    OutboundMessage,
    Resident,
    ResidentStatus,
)

BATCH = 1000
MAKE_CHUNK = 5000  # residents read at once when making the day


def plan_fingerprint(session: Session, now: datetime, context: DispatchContext) -> tuple[object, ...]:
    """Changes whenever the day, the register or a plan changes: if it has not, the day's check-ins are made."""
    residents = session.execute(select(func.count(Resident.id), func.max(Resident.updated_at))).one()
    plans = session.execute(select(func.count(CheckinPlan.id), func.max(CheckinPlan.updated_at))).one()
    zones = session.scalars(select(Community.timezone).distinct()).all()
    days = sorted({now.astimezone(context.checkin.zone(z)).date() for z in [*zones, None]})
    return (*residents, *plans, *days)


def make_checkins(session: Session, now: datetime, context: DispatchContext, resident_id: int | None = None) -> int:
    """Make today's check-ins (today where each resident lives) for every active resident (or only
    `resident_id`), from their plan.

    Slots from before the resident was registered, or before their own plan was set, are not made.

    Returns:
        How many check-ins were made now (0 when they all existed).
    """
    made, after = 0, 0
    while True:  # residents in id order, a chunk at a time: memory stays flat however large the register
        chunk = session.execute(
            select(
                Resident.id,
                Resident.household_id,
                Resident.categories,
                Resident.channel,
                Resident.language,
                Resident.created_at,
                Community.timezone,
            )
            .join(Household, Household.id == Resident.household_id)
            .outerjoin(Community, Community.id == Household.community_id)
            .where(Resident.status == ResidentStatus.ACTIVE, Resident.id > after)
            .where(Resident.id == resident_id if resident_id is not None else true())
            .order_by(Resident.id)
            .limit(MAKE_CHUNK)
        ).all()
        if not chunk:
            return made
        made += _make_chunk(session, chunk, now, context)
        after = chunk[-1].id


def _make_chunk(session: Session, chunk: Sequence[Any], now: datetime, context: DispatchContext) -> int:
    rules = context.checkin
    ids = [row.id for row in chunk]
    own = {
        plan.resident_id: plan for plan in session.scalars(select(CheckinPlan).where(CheckinPlan.resident_id.in_(ids)))
    }
    phones = first_phones(session, ids)
    zones: dict[str | None, ZoneInfo] = {}
    days: set[date] = set()
    wanted = []
    for row in chunk:
        zone = zones.setdefault(row.timezone, rules.zone(row.timezone))
        day = now.astimezone(zone).date()
        days.add(day)
        phone = phones.get(row.id)
        plan = plan_for_day(
            rules,
            day,
            categories=row.categories or [],
            channel=row.channel,
            landline=phone[1] if phone else None,
            registered_on=row.created_at.astimezone(zone).date(),
            own=own.get(row.id),
        )
        since = max(row.created_at, plan.since) if plan.since else row.created_at
        for slot in plan.times:
            due = datetime.combine(day, slot, zone)
            if due >= since:
                wanted.append((row.id, row.household_id, day, slot_name(slot), due, plan.channel, row.language))
    if not wanted:
        return 0
    made = select(Checkin.resident_id, Checkin.local_date, Checkin.slot).where(
        Checkin.local_date.in_(days), Checkin.resident_id.in_(ids)
    )
    existing = {(row.resident_id, row.local_date, row.slot) for row in session.execute(made)}
    new = [
        {
            "resident_id": rid,
            "household_id": hid,
            "local_date": day,
            "slot": slot,
            "due_at": due,
            "channel": channel,
            "language": language,
            "status": CheckinStatus.SCHEDULED,
            "created_at": now,
        }
        for rid, hid, day, slot, due, channel, language in wanted
        if (rid, day, slot) not in existing
    ]
    for start in range(0, len(new), BATCH):
        # Two schedulers at once: the unique key (resident, day, slot) keeps one row, and neither fails.
        session.execute(insert_skipping_duplicates(session, Checkin), new[start : start + BATCH])
    return len(new)


@dataclass
class Sent:
    """What one `send_due` batch did."""

    outbound_ids: list[int] = field(default_factory=list)  # SMS and calls to hand to the gateway
    counts: dict[str, int] = field(default_factory=dict)  # sent, called, visit_now, no_phone, missed_quiet, skipped


def send_due(session: Session, now: datetime, context: DispatchContext, limit: int = BATCH) -> Sent:
    """Send up to `limit` check-ins that are due: an SMS, or a call for residents on voice and landlines."""
    rules = context.checkin
    due = session.execute(
        select(
            Checkin.id,
            Checkin.slot,
            Checkin.channel,
            Checkin.resident_id,
            Resident.name,
            Resident.status,
            Resident.language,
            Community.timezone,
            Community.call_gateway,
        )
        .join(Resident, Resident.id == Checkin.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(Checkin.status == CheckinStatus.SCHEDULED, Checkin.due_at <= now)
        .order_by(Checkin.due_at, Checkin.id)
        .limit(limit)
        .with_for_update(of=Checkin, skip_locked=True)
    ).all()
    result = Sent(counts=dict.fromkeys(("sent", "called", "visit_now", "no_phone", "missed_quiet", "skipped"), 0))
    if not due:
        return result
    phones = first_phones(session, [row.resident_id for row in due])
    changes, events, outbound = [], [], []
    for row in due:
        zone = rules.zone(row.timezone)
        phone = phones.get(row.resident_id)
        change: dict[str, object] = {"id": row.id}
        if row.status != ResidentStatus.ACTIVE:
            change["status"], kind = CheckinStatus.SKIPPED, f"skipped {row.status}"
        elif rules.is_quiet(now, zone):
            change["status"], kind = CheckinStatus.MISSED_QUIET, "missed: due while down, now quiet hours"
        elif phone is None:
            reminder, visit = rules.ladder_times(now, zone)
            change.update(status=CheckinStatus.NO_PHONE, sent_at=now, visit_at=visit)
            kind = "no phone: a visit at the deadline"
        elif row.channel == Channel.VOICE and not context.calls_for(row.call_gateway).can(Ability.CHECKIN_CALLS):
            # Reached only by a call, and no channel places one: the ladder's visit comes at the call's time.
            change.update(status=CheckinStatus.SENT, sent_at=now, visit_at=now, phone=phone[0])
            kind = "no calls: a visit now"
        else:
            reminder, visit = rules.ladder_times(now, zone)
            change.update(status=CheckinStatus.SENT, sent_at=now, reminder_at=reminder, visit_at=visit, phone=phone[0])
            if row.channel == Channel.VOICE:
                change.update(calls_placed=1, calls_left=rules.call_retries)
                outbound.append(_call_row(row.id, phone[0], row.language, attempt=1))
                kind = "called 1"
            else:
                body = context.catalog.render(
                    "checkin_sms", row.language, resident_name=row.name, menu=context.replies.sms_menu(row.language)
                )
                outbound.append(_sms_row(f"checkin:{row.id}:sms", row.id, phone[0], body, row.language))
                kind = "sent sms"
        result.counts[_count_key(change)] += 1
        changes.append(change)
        events.append({"checkin_id": row.id, "kind": kind.split(" ")[0], "at": now, "detail": kind})
    session.execute(update(Checkin), changes)
    session.execute(insert(CheckinEvent), events)
    if outbound:
        ids = session.execute(insert(OutboundMessage).returning(OutboundMessage.id), outbound).scalars().all()
        result.outbound_ids = list(ids)
    return result


def _count_key(change: dict[str, object]) -> str:
    status = change["status"]
    if status == CheckinStatus.SENT:
        if "reminder_at" not in change:
            return "visit_now"
        return "called" if "calls_placed" in change else "sent"
    return str(status)


def _sms_row(key: str, checkin_id: int, phone: str, body: str, language: str) -> dict[str, object]:
    return {
        "dedupe_key": key,
        "to_phone": phone,
        "body": body,
        "kind": "sms",
        "language": language,
        "checkin_id": checkin_id,
    }


def _call_row(checkin_id: int, phone: str, language: str, *, attempt: int) -> dict[str, object]:
    """A check-in call: what it says comes from the voice script (entry "checkin"), not from `body`."""
    return {
        "dedupe_key": call_key(checkin_id, attempt),
        "to_phone": phone,
        "body": "",
        "kind": "checkin",
        "language": language,
        "checkin_id": checkin_id,
    }
