"""Answers: a resident's message or call answers their latest check-in; a call's result may make a retry due."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.checkins.rules import CheckinRules
from dispatch.models import Call, Checkin, CheckinEvent, CheckinStatus, OutboundMessage, OutboundStatus

ANSWER_WINDOW = timedelta(hours=24)  # a message answers a check-in sent up to a day before it
# A later answer can only make a check-in more serious: fine, then "I need medicine", is a need.
_SEVERITY = {CheckinStatus.FINE: 1, CheckinStatus.NEEDS: 2, CheckinStatus.UNWELL: 3}
_OPEN = (CheckinStatus.SENT, CheckinStatus.NO_PHONE, CheckinStatus.MISSED_QUIET, *_SEVERITY)
RETRYABLE = ("busy", "no-answer", "machine", "hung-up")  # worth another call; "failed" is not
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


def record_answer(
    session: Session, resident_ids: Iterable[int], status: CheckinStatus, message_id: int, channel: str, now: datetime
) -> list[int]:
    """Each resident's latest check-in sent in the last day is answered with `status` (or keeps a more serious
    one). A reply after the window, or after the visit task was made, still counts.

    Returns:
        The check-ins changed.
    """
    changed = []
    for resident_id in resident_ids:
        checkin = session.scalar(
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
            .with_for_update()
        )
        if checkin is None or _SEVERITY.get(checkin.status, 0) >= _SEVERITY[status]:
            continue
        late = " after the visit was asked for" if checkin.visit_task_id else ""
        checkin.status = status
        checkin.answered_at = checkin.answered_at or now
        checkin.answer_message_id = checkin.answer_message_id or message_id
        checkin.next_call_at = None  # no more retries
        session.add(CheckinEvent(checkin=checkin, kind="answered", at=now, detail=f"{status} by {channel}{late}"))
        changed.append(checkin.id)
    return changed


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
    call after the retry interval, while retries are left. A repeated report changes nothing.

    Returns:
        The result recorded now (busy, no-answer, machine, hung-up, failed, human), or None for a repeat.
    """
    row = session.get(OutboundMessage, outbound_id, with_for_update=True)
    if row is None or row.kind != "checkin" or row.checkin_id is None or row.provider_sid not in (None, call_sid):
        return None
    call = session.scalar(select(Call).where(Call.call_sid == call_sid))
    if call is not None:  # the call reached the menu: finish its record (no missed-call rule for our own calls)
        call.status, call.ended_at = call_status[:16], call.ended_at or now
        call.duration_seconds = duration if duration is not None else call.duration_seconds
    if row.status in (OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, OutboundStatus.FAILED):
        return None  # reported before
    checkin = session.get(Checkin, row.checkin_id, with_for_update=True, populate_existing=True)
    assert checkin is not None
    result = _result(call_status, answered_by, row.call_result, checkin, call)
    row.provider_sid = call_sid
    row.call_result = result
    row.status = OutboundStatus.DELIVERED if result == "human" else OutboundStatus.UNDELIVERED
    row.status_at = now
    checkin.last_call_result = result
    attempt = int(row.dedupe_key.rsplit(":", 1)[1])
    detail = f"call {attempt}: {result}"
    if (
        result in RETRYABLE
        and checkin.status in (CheckinStatus.SENT, CheckinStatus.NO_PHONE)
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
    if checkin.status in (CheckinStatus.SENT, CheckinStatus.NO_PHONE) and not (call is not None and call.chose):
        return "hung-up"  # a person picked up, then hung up before choosing anything
    return "human"
