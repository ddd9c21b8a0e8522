"""Check-in calls: placing the next call of a check-in's series (never in quiet hours), knowing one is on its way,
and the call that replaces a check-in SMS that did not arrive. The missed check-in ladder, staff's calls
(`dispatch.checkins.staff_calls`) and a failed delivery (`dispatch.tasks.escalation.after_delivery_failure`) place
them; each is decided once (dedupe key `checkin:<id>:call:<n>`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.channels import Ability
from dispatch.checkins.rules import call_key
from dispatch.context import DispatchContext
from dispatch.models import Checkin, CheckinEvent, CheckinRung, CheckinStatus, OutboundMessage, OutboundStatus
from dispatch.outbox import queue_sms


def zone_quiet(checkin: Checkin, now: datetime, context: DispatchContext) -> bool:
    """True if it is quiet hours where the resident lives: no SMS or call to them now."""
    community = checkin.resident.household.community
    return context.checkin.is_quiet(now, context.checkin.zone(community.timezone if community else None))


def place_call(session: Session, checkin: Checkin, now: datetime, context: DispatchContext) -> list[int]:
    """Place the next check-in call of the current series, unless it is quiet hours or none is left. Where no
    channel places check-in calls, the visit comes now instead, at the call's time."""
    if checkin.calls_left <= 0 or not checkin.phone:
        return []
    community = checkin.resident.household.community
    if not context.calls_for(community.call_gateway if community else None).can(Ability.CHECKIN_CALLS):
        checkin.calls_left, checkin.next_call_at = 0, None
        checkin.visit_at = min(checkin.visit_at, now) if checkin.visit_at else now
        session.add(CheckinEvent(checkin=checkin, kind="called", at=now, detail="not placed: no calls, a visit now"))
        return []
    if zone_quiet(checkin, now, context):
        checkin.calls_left, checkin.next_call_at = 0, None
        session.add(CheckinEvent(checkin=checkin, kind="called", at=now, detail="not placed: quiet hours"))
        return []
    attempt = checkin.calls_placed + 1
    call = queue_sms(
        session,
        dedupe_key=call_key(checkin.id, attempt),
        to_phone=checkin.phone,
        body="",
        kind="checkin",
        language=checkin.language,
        checkin_id=checkin.id,
    )
    checkin.calls_placed, checkin.calls_left, checkin.next_call_at = attempt, checkin.calls_left - 1, None
    session.add(CheckinEvent(checkin=checkin, kind="called", at=now, detail=f"call {attempt}"))
    return [call.id] if call else []


def sms_not_delivered(session: Session, sms: OutboundMessage, now: datetime, context: DispatchContext) -> list[int]:
    """A check-in SMS that did not reach the phone (failed, or undelivered: unreachable, blocked, a landline): the
    check-in does not wait out its window as if it had. Its reminder rung comes now, as a call only (a reminder
    SMS would not arrive either). Once: a repeated report finds the rung already climbed."""
    if sms.kind != "sms" or sms.checkin_id is None or not sms.dedupe_key.startswith(f"checkin:{sms.checkin_id}:sms"):
        return []
    checkin = session.get(Checkin, sms.checkin_id, with_for_update=True, populate_existing=True)
    if checkin is None or checkin.status != CheckinStatus.SENT or checkin.rung != CheckinRung.SENT:
        return []  # answered meanwhile, or already on its way up the ladder
    checkin.rung, checkin.reminder_at = CheckinRung.REMINDED, now
    code = f" (Twilio {sms.error_code})" if sms.error_code else ""
    session.add(CheckinEvent(checkin=checkin, kind="reminded", at=now, detail=f"sms not delivered{code}: a call now"))
    checkin.calls_left = context.checkin.call_retries + 1
    return place_call(session, checkin, now, context)


def call_on_its_way(session: Session, checkin: Checkin, since: datetime) -> bool:
    """True if this check-in's latest call was placed since `since` and Twilio has not yet said how it ended."""
    latest = session.scalar(
        select(OutboundMessage.status)
        .where(OutboundMessage.checkin_id == checkin.id, OutboundMessage.kind == "checkin")
        .order_by(OutboundMessage.id.desc())
        .limit(1)
    )
    if latest not in (OutboundStatus.PENDING, OutboundStatus.SENDING, OutboundStatus.SENT):
        return False
    placed = session.scalar(
        select(func.max(CheckinEvent.at)).where(
            CheckinEvent.checkin_id == checkin.id,
            CheckinEvent.kind == "called",
            ~CheckinEvent.detail.startswith("not placed"),
        )
    )
    return placed is not None and placed >= since
