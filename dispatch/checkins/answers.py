"""Answers: a resident's message or call answers their latest check-in; a call's result may make a retry due."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from dispatch.checkins.rules import CheckinRules, call_attempt
from dispatch.ivr.calls import FINAL_STATUSES, Caller
from dispatch.models import (
    CHECKIN_WAITING,
    Call,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Community,
    Household,
    OutboundMessage,
    OutboundStatus,
    Resident,
)

ANSWER_WINDOW = timedelta(hours=24)  # a message answers a check-in sent up to a day before it
# A later answer can only make a check-in more serious: fine, then "I need medicine", is a need.
_SEVERITY = {CheckinStatus.FINE: 1, CheckinStatus.NEEDS: 2, CheckinStatus.UNWELL: 3}
_OPEN = (*CHECKIN_WAITING, CheckinStatus.MISSED_QUIET, *_SEVERITY)
RETRYABLE = ("busy", "no-answer", "machine", "hung-up")  # worth another call; "failed" is not
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


def record_answer(
    session: Session,
    resident_ids: Iterable[int],
    status: CheckinStatus,
    message_id: int | None,
    channel: str,
    now: datetime,
) -> list[int]:
    """Each resident's latest check-in sent in the last day is answered with `status` (or keeps a more serious
    one). A reply after the window, or after the visit task was made, still counts.

    Returns:
        The check-ins changed.
    """
    changed = []
    for resident_id in resident_ids:
        checkin = session.scalar(_answered_by(resident_id, now).with_for_update())
        if checkin is not None and answer(session, checkin, status, message_id, channel, now):
            changed.append(checkin.id)
    return changed


def answer(
    session: Session,
    checkin: Checkin,
    status: CheckinStatus,
    message_id: int | None,
    channel: str,
    now: datetime,
    events: list[dict[str, object]] | None = None,
) -> bool:
    """`checkin` answered with `status`, unless it has a more serious answer already. Returns True if changed.

    `events`: where its "answered" event waits, as a row, to be written with others' in one statement; None:
    added to the session."""
    if _SEVERITY.get(checkin.status, 0) >= _SEVERITY[status]:
        return False
    late = " after the visit was asked for" if checkin.visit_task_id else ""
    checkin.status = status
    checkin.answered_at = checkin.answered_at or now
    checkin.answer_message_id = checkin.answer_message_id or message_id
    checkin.next_call_at = None  # no more retries
    event = {"kind": "answered", "at": now, "detail": f"{status} by {channel}{late}"}
    if events is None:
        session.add(CheckinEvent(checkin=checkin, **event))
    else:
        events.append({"checkin_id": checkin.id, **event})
    return True


def answered_by_many(session: Session, resident_ids: Sequence[int], now: datetime) -> dict[int, Checkin]:
    """The check-in a message at `now` answers, for each of these residents that has one, locked: in one
    statement, what `_answered_by` finds for one."""
    found = session.scalars(
        select(Checkin)
        .where(
            Checkin.resident_id.in_(resident_ids),
            Checkin.status.in_(_OPEN),
            Checkin.sent_at.is_not(None) | (Checkin.status == CheckinStatus.MISSED_QUIET),
            Checkin.due_at > now - ANSWER_WINDOW,
            Checkin.due_at <= now,
        )
        .order_by(Checkin.resident_id, Checkin.due_at.desc(), Checkin.id.desc())
        .with_for_update()
    ).all()
    latest: dict[int, Checkin] = {}
    for checkin in found:
        latest.setdefault(checkin.resident_id, checkin)
    return latest


def reply_deadline(checkin: Checkin | None, now: datetime, rules: CheckinRules) -> datetime | None:
    """By when a person must have read an unclear reply to `checkin`: its deadline, if still ahead."""
    if checkin is not None and checkin.visit_at is not None and rules.due_by(checkin.visit_at) > now:
        return rules.due_by(checkin.visit_at)
    return None


def _answered_by(resident_id: int, now: datetime) -> Select[Any]:
    """The check-in a message from `resident_id` at `now` answers: their latest sent in the last day."""
    return (
        select(Checkin)
        .where(
            Checkin.resident_id == resident_id,
            Checkin.status.in_(_OPEN),
            Checkin.sent_at.is_not(None) | (Checkin.status == CheckinStatus.MISSED_QUIET),
            Checkin.due_at > now - ANSWER_WINDOW,
            Checkin.due_at <= now,
        )
        .order_by(Checkin.due_at.desc(), Checkin.id.desc())
        .limit(1)
    )


def reply_due_by(session: Session, resident_ids: Iterable[int], now: datetime, rules: CheckinRules) -> datetime | None:
    """By when a person must have read a reply to a check-in that was not understood: the earliest deadline, still
    ahead, of the check-ins it answers (None: it answers none, or their deadlines have passed)."""
    found = (reply_deadline(session.scalar(_answered_by(r, now)), now, rules) for r in resident_ids)
    return min((d for d in found if d is not None), default=None)


def record_pickup(session: Session, outbound_id: int, answered_by: str) -> bool:
    """A check-in call was answered: by a person (True), or by a machine or fax (False, to hang up)."""
    row = session.get(OutboundMessage, outbound_id, with_for_update=True)
    machine = answered_by in MACHINE
    if row is not None and row.call_result is None:
        row.call_result = "machine" if machine else "human"
    return not machine


def record_call_result(
    session: Session,
    outbound_id: int,
    call_sid: str,
    call_status: str,
    answered_by: str,
    now: datetime,
    rules: CheckinRules,
    duration: int | None = None,
) -> str | None:
    """How a check-in call ended. Busy, no answer, a machine, or a person who hung up before choosing: another
    call after the retry interval, while retries are left. A repeated report changes nothing, and neither does a
    report that the call is ringing or in progress, even one that comes after its end.

    Returns:
        The result recorded now (busy, no-answer, machine, hung-up, failed, human), or None for a repeat.
    """
    if call_status not in FINAL_STATUSES:
        return None  # ringing, in progress: only how the call ended counts, whenever that report comes
    row = session.get(OutboundMessage, outbound_id, with_for_update=True)
    if row is None or row.kind != "checkin" or row.checkin_id is None or row.provider_sid not in (None, call_sid):
        return None
    if row.status in (OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, OutboundStatus.FAILED):
        return None  # reported before
    call = session.scalar(select(Call).where(Call.call_sid == call_sid))
    if call is not None:  # the call reached the menu: finish its record (no missed-call rule for our own calls)
        call.status, call.ended_at = call_status[:16], call.ended_at or now
        call.duration_seconds = duration if duration is not None else call.duration_seconds
    checkin = session.get(Checkin, row.checkin_id, with_for_update=True, populate_existing=True)
    assert checkin is not None
    result = _result(call_status, answered_by, row.call_result, checkin, call)
    row.provider_sid = call_sid
    row.call_result = result
    row.status = OutboundStatus.DELIVERED if result == "human" else OutboundStatus.UNDELIVERED
    row.status_at = now
    checkin.last_call_result = result
    attempt = call_attempt(row.dedupe_key)
    detail = f"call {attempt}: {result}"
    if (
        result in RETRYABLE
        and checkin.status in CHECKIN_WAITING
        and attempt == checkin.calls_placed
        and checkin.calls_left > 0
    ):
        checkin.next_call_at = now + rules.call_retry
        detail += f"; again at {checkin.next_call_at.isoformat(timespec='minutes')}"
    session.add(CheckinEvent(checkin=checkin, kind="call_result", at=now, detail=detail))
    return result


def _result(status: str, answered_by: str, seen: str | None, checkin: Checkin, call: Call | None) -> str:
    if status in ("busy", "no-answer"):
        return status
    if status in ("failed", "canceled"):
        return "failed"
    if answered_by in MACHINE or seen == "machine":
        return "machine"
    # A person who chose something, or asked for a person (0, or wrong keys twice), was reached.
    reached = call is not None and (call.chose or call.dial_attempts > 0 or call.connected)
    if checkin.status in CHECKIN_WAITING and not reached:
        return "hung-up"  # a person picked up, then hung up before choosing anything
    return "human"


def residents_of(session: Session, caller: Caller) -> list[int]:
    """The residents a check-in call reached: the one the number belongs to, or its household's."""
    if caller.resident_id is not None:
        return [caller.resident_id]
    return list(session.scalars(select(Resident.id).where(Resident.household_id == caller.household_id)))


def cancel_unwanted(session: Session, outbound_ids: list[int], now: datetime, rules: CheckinRules) -> set[int]:
    """Of claimed outbound rows about to go, cancel the check-in ones no longer wanted: their check-in was answered
    meanwhile, or it is now quiet hours where the resident lives (a throttled campaign can run late).

    Returns:
        The ids cancelled; the caller does not send them.
    """
    rows = session.execute(
        select(OutboundMessage.id, Checkin.id.label("checkin_id"), Checkin.status, Community.timezone)
        .join(Checkin, Checkin.id == OutboundMessage.checkin_id)
        .join(Resident, Resident.id == Checkin.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(OutboundMessage.id.in_(outbound_ids), OutboundMessage.status == OutboundStatus.SENDING)
    ).all()
    cancelled: set[int] = set()
    for row in rows:
        if row.status not in CHECKIN_WAITING:
            reason = f"not sent: answered ({row.status})"
        elif rules.is_quiet(now, rules.zone(row.timezone)):
            reason = "not sent: quiet hours began"
        else:
            continue
        cancelled.add(row.id)
        session.add(CheckinEvent(checkin_id=row.checkin_id, kind="cancelled", at=now, detail=reason))
    if cancelled:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(cancelled), OutboundMessage.status == OutboundStatus.SENDING)
            .values(status=OutboundStatus.CANCELLED, status_at=now)
        )
    return cancelled
