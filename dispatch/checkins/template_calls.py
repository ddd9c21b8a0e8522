"""Check-in calls placed as an approved template read aloud (Tencent Cloud's voice messages, VMS). The provider
reads the check-in menu itself and reports, by callback and with its call id, the key pressed, how the call ended,
and why a call did not get through. Each report drives the same domain functions as a Twilio check-in call:

- a key is a choice at the voice script's check-in menu (`plan_menu`, then `store_plan`): 1 fine, 2 groceries, …,
  each need stored once per call as a voice inbound message, which intake turns into the answer or the task;
- the end is `record_call_result`: not answered or busy → tried again after the retry interval while tries are
  left; answered with no key → "hung-up", never fine, tried again; then the ladder's visit, as for Twilio's calls.

What such a call cannot do, put the resident through or take a voicemail, becomes a call-back need instead. A
repeated report changes nothing: a need is keyed by call and choice, an end is recorded once, and a reason that
came after the end only changes what it says (and whether a retry is due) once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.checkins.answers import RETRYABLE, record_call_result
from dispatch.checkins.rules import CheckinRules, call_attempt
from dispatch.context import DispatchContext
from dispatch.ivr.call_copy import with_copy
from dispatch.ivr.call_facts import menu_facts
from dispatch.ivr.call_plan import CallStep, Need, Plan, Press, PutThrough, SayNode, Step, TakeVoicemail
from dispatch.ivr.calls import identify_caller, start_call
from dispatch.ivr.decide import plan_menu
from dispatch.ivr.plan_store import Stored, store_plan
from dispatch.ivr.script import GOODBYE, IvrScript
from dispatch.models import CHECKIN_WAITING, Checkin, CheckinEvent, OutboundMessage, OutboundStatus, utcnow
from dispatch.register.hearing_profiles import profile_for_phone

# How a call ended (voiceprompt_callback's result) as the call statuses `record_call_result` knows.
ENDINGS = {"0": "completed", "1": "no-answer", "2": "failed"}
# Why a call did not get through (voice_failure_callback's failure_code): busy and not answered are tried again; a
# number that cannot take calls (no such number, suspended, in arrears, barred, expired, no voice service) is not.
# A reason not listed here is tried again: a resident not reached is never taken as one who cannot be.
FAILURES = {
    **dict.fromkeys((2, 9, 10, 18), "busy"),  # on a call, circuit busy, user busy, network busy
    **dict.fromkeys((1, 3, 5, 6, 11, 16, 20), "no-answer"),  # off, out of area, no answer, unreachable, other …
    **dict.fromkeys((4, 7, 8, 12, 13, 15, 17, 19), "failed"),
}


def greeted_name(session: Session, outbound_id: int) -> str:
    """Whom a check-in call greets by name: the resident of its check-in ("" if it has none)."""
    row = session.get(OutboundMessage, outbound_id)
    checkin = session.get(Checkin, row.checkin_id) if row is not None and row.checkin_id is not None else None
    return checkin.resident.name if checkin is not None else ""


def _placed(session: Session, call_sid: str) -> OutboundMessage | None:
    """The check-in call the provider's call id belongs to (its row locked), or None."""
    return session.scalar(
        select(OutboundMessage)
        .where(OutboundMessage.provider_sid == call_sid, OutboundMessage.kind == "checkin")
        .with_for_update()
    )


def key_pressed(
    session: Session,
    call_sid: str,
    digits: str,
    *,
    script: IvrScript,
    context: DispatchContext,
    now: datetime,
    clock: Callable[[], datetime],
) -> Stored | None:
    """A key pressed on a check-in call: the choice at the check-in menu, as on a Twilio call.

    Returns:
        What was stored (the inbound messages to queue after the commit), or None for a call id of no check-in call.
    """
    row = _placed(session, call_sid)
    if row is None:
        return None
    caller = identify_caller(
        session, row.to_phone, region=context.region, language=context.staff_language, duty_phone=context.duty_phone
    )
    if caller.kind != "resident":
        return Stored()  # the number is no longer a resident's: nothing to answer
    caller = replace(caller, profile=profile_for_phone(session, caller.phone))  # for an SMS copy of the call
    call = start_call(session, call_sid, caller, "", now)
    call.direction = "outbound"
    step = CallStep(call_sid, caller, Step(script.entry["checkin"]), outbound=True)
    press = Press(digits.strip()[:1])
    plan = _what_a_template_call_can_do(
        script, context, step, script_plan(session, script, context, step, press, now), press
    )
    if not plan.needs:
        return Stored()  # "again", or a key the menu has not: the provider reads the template again by itself
    plan = with_copy(script, step, plan)
    stored = store_plan(session, call, caller, plan, script=script, context=context, now=now, clock=clock)
    if row.call_result == "hung-up":  # its end came before its key: a person was reached after all
        row.call_result, row.status = "human", OutboundStatus.DELIVERED
        checkin = session.get(Checkin, row.checkin_id) if row.checkin_id is not None else None
        if checkin is not None:
            checkin.last_call_result = "human"
    return stored


def script_plan(
    session: Session, script: IvrScript, context: DispatchContext, step: CallStep, press: Press, now: datetime
) -> Plan:
    """The voice script's plan for a key at the check-in menu, as `VoiceHotline.menu` decides it."""
    return plan_menu(script, context, step, press, menu_facts(session, script, context, step, press, now))


def _what_a_template_call_can_do(
    script: IvrScript, context: DispatchContext, step: CallStep, plan: Plan, press: Press
) -> Plan:
    """A plan that would put the resident through or take a voicemail, as a call-back need: the template call
    can do neither, and a resident who asked for a person gets one calling back."""
    if not isinstance(plan.then, PutThrough | TakeVoicemail):
        return plan
    node = step.step.node
    label = context.replies.digit_labels.get(press.digits, {}).get(context.staff_language, press.digits)
    body = context.catalog.render("voice_choice_body", context.staff_language, digit=press.digits, label=label)
    need = Need(f"{node}:callback", "callback", body)
    return Plan(SayNode(Step(GOODBYE, task=True)), needs=(need,), chose=True)


def call_ended(session: Session, call_sid: str, result: str, now: datetime, rules: CheckinRules) -> str | None:
    """How a check-in call ended ("0" answered, "1" not answered, "2" a call error), as a Twilio call's status.

    Returns:
        The result recorded (as `record_call_result`), or None for a repeat or a call id of no check-in call.
    """
    row = _placed(session, call_sid)
    status = ENDINGS.get(result)
    if row is None or status is None:
        return None
    return record_call_result(session, row.id, call_sid, status, "", now, rules)


def call_failed(session: Session, call_sid: str, code: int, now: datetime, rules: CheckinRules) -> str | None:
    """Why a check-in call did not get through. First to come, it ends the call as its reason says; after the end
    (a call error, or not answered), it corrects the result: a busy line is tried again, a number that cannot
    take calls is not.

    Returns:
        The result recorded now, or None if nothing changed.
    """
    row = _placed(session, call_sid)
    if row is None:
        return None
    result = FAILURES.get(code, "no-answer")
    first = record_call_result(session, row.id, call_sid, result, "", now, rules)
    if first is not None or row.call_result in (result, "human", "hung-up", "machine", None):
        return first
    checkin = session.get(Checkin, row.checkin_id, with_for_update=True) if row.checkin_id is not None else None
    if checkin is None:
        return None
    row.call_result = checkin.last_call_result = result
    attempt = call_attempt(row.dedupe_key)
    latest = attempt == checkin.calls_placed
    detail = f"call {attempt}: {result} (reason {code})"
    if result in RETRYABLE and latest and checkin.status in CHECKIN_WAITING and checkin.calls_left > 0:
        checkin.next_call_at = checkin.next_call_at or now + rules.call_retry
        detail += f"; again at {checkin.next_call_at.isoformat(timespec='minutes')}"
    elif result not in RETRYABLE and latest:
        checkin.next_call_at = None  # no call again to a number that cannot take one
    session.add(CheckinEvent(checkin=checkin, kind="call_result", at=now, detail=detail))
    return result


ADOPT_WITHIN = timedelta(hours=1)  # a call's callbacks come within minutes of placing it


def adopt_call(session: Session, call_sid: str, phone: str) -> bool:
    """A callback for a call id not stored yet: the call was placed, but the worker has not recorded its id (it is
    about to, or the placing answered too late and the row was left in doubt). The newest check-in call through
    Tencent to that number still without an id, claimed within the hour, takes it, so a key pressed on it is not
    lost. Returns True if one did. (The window is in real time, as the sends' claims are stamped.)"""
    now = utcnow()
    row = session.scalar(
        select(OutboundMessage)
        .where(
            OutboundMessage.kind == "checkin",
            OutboundMessage.to_phone == phone,
            OutboundMessage.provider_sid.is_(None),
            OutboundMessage.gateway == "tencent",
            OutboundMessage.status.in_((OutboundStatus.SENDING, OutboundStatus.UNKNOWN)),
            OutboundMessage.claimed_at >= now - ADOPT_WITHIN,
        )
        .order_by(OutboundMessage.id.desc())
        .limit(1)
        .with_for_update()
    )
    if row is None:
        return False
    row.provider_sid = call_sid
    if row.status == OutboundStatus.UNKNOWN:  # in doubt no more: Tencent placed it
        row.status, row.sent_at, row.status_at, row.error = OutboundStatus.SENT, row.sent_at or now, now, None
    return True


def is_checkin_call(session: Session, call_sid: str) -> bool:
    """True if the provider's call id is one of our check-in calls."""
    mine = (OutboundMessage.provider_sid == call_sid) & (OutboundMessage.kind == "checkin")
    return session.scalar(select(OutboundMessage.id).where(mine)) is not None
