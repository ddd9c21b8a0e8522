"""The steps of a call to the voice hotline (and of a check-in call it places), each inside one transaction.

Each step reads the facts (`dispatch.ivr.call_facts`), lets `dispatch.ivr.decide` make the plan, stores it
(`dispatch.ivr.plan_store`) and says it as TwiML (`Renderer.plan`); nothing here decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import lru_cache

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from twilio.twiml.voice_response import VoiceResponse

from dispatch.checkins.answers import record_call_result, record_pickup
from dispatch.checkins.ring import UNANSWERED, count_ring, is_a_ring, ringing_phones
from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import phone_or_raw
from dispatch.ivr.batch_reads import calls_by_sid, look_up_numbers, needs_of_calls
from dispatch.ivr.batch_writes import forget_batch
from dispatch.ivr.call_copy import next_step_words, with_copy
from dispatch.ivr.call_facts import directory_listing, menu_facts, waiting_task_facts
from dispatch.ivr.call_plan import CallStep, Plan, Press, SayNode, Step
from dispatch.ivr.calls import (
    Caller,
    count_waiting,
    finish_call,
    identify_caller,
    start_call,
)
from dispatch.ivr.decide import plan_dial, plan_menu, plan_recorded, task_fields
from dispatch.ivr.hearing import NO_PROFILE
from dispatch.ivr.plan_store import store_plan
from dispatch.ivr.script import IvrScript
from dispatch.models import Call, utcnow
from dispatch.phones import national_format
from dispatch.register.hearing_profiles import profile_for_phone, profiles_for_phones
from dispatch.voice_greetings import household_greeting
from hotline.greeting_audio import greeting_link
from hotline.services import Services
from hotline.webhooks.twilio_sms import whole_number
from hotline.webhooks.voice_hotline.endpoint import form_text
from hotline.webhooks.voice_hotline.group_commit import StepWriter, Work
from hotline.webhooks.voice_render import CallWords, Renderer

# A number as it came, read once per process: the hotline's own numbers (To) come again and again, and numbers
# that are not canonical mainland E.164 cost phonenumbers' parsing (canonical ones pass through at once).
_read_phone = lru_cache(maxsize=4096)(phone_or_raw)
READ_AHEAD = "voice_read_ahead"  # Session.info: the register's numbers, the calls' rows and their CallSids
PROFILES_READ = "voice_profiles_read"  # Session.info: the batch's numbers' profiles for hearing and memory
RINGS_READ = "voice_rings_read"  # Session.info: a batch of new calls' numbers whose resident has a ring mode on
NEEDS_READ = "voice_needs_read"  # Session.info: the needs stored for the batch's calls, once a step asks


@dataclass
class _Turn:
    """One webhook request of a call, inside one transaction."""

    session: Session
    call: Call
    step: CallStep
    greeting: str = ""  # a check-in call: the signed link of the liaison's recorded greeting, if they have one

    @property
    def caller(self) -> Caller:
        return self.step.caller


class VoiceHotline:
    """The voice hotline of one script, answering each step of a call."""

    def __init__(self, services: Services, script: IvrScript) -> None:
        self.services = services
        self.script = script
        self.render = Renderer(script, services.settings)
        # The last duty phone a caller's chain ended in: where a caller goes if a later step fails before the
        # register can be read, when HOTLINE_DUTY_PHONE is not set.
        self.known_duty_phone: str | None = None
        self.writer = StepWriter(self)  # every step of every call in this process is written through it

    # ── the steps of a call ──────────────────────────────────────────────────────────────────────────────────

    def entry(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A call comes in: the caller's menu, greeted by name."""
        turn = self._turn(session, form, None)
        return self._rejected_ring(turn) or self._carry_out(turn, Plan(SayNode(turn.step.step, intro=True)))

    def menu(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A key, spoken words, or silence at a menu."""
        press = Press(form_text(form, "Digits").strip()[:1], form_text(form, "SpeechResult").strip()[:200])
        turn = self._turn(session, form, query)
        context = self.services.intake
        facts = menu_facts(session, self.script, context, turn.step, press, utcnow())
        return self._carry_out(turn, plan_menu(self.script, context, turn.step, press, facts))

    def dial(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A put-through ended. Answered: done. Otherwise the next person, then voicemail."""
        status = form_text(form, "DialCallStatus")
        index = whole_number(query.get("i")) or 0
        turn = self._turn(session, form, query)
        return self._carry_out(turn, plan_dial(turn.step, status, index))

    def recorded(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A voicemail: an urgent call-back task, with the recording for staff."""
        url = form_text(form, "RecordingUrl")
        seconds = form_text(form, "RecordingDuration")
        turn = self._turn(session, form, query)
        return self._carry_out(turn, plan_recorded(self.script, self.services.intake, turn.step, url, seconds))

    def checkin(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A check-in call the hotline placed was answered: a machine is hung up on (the call is tried again);
        a person hears the check-in menu, greeted by name."""
        raw = query.get("o", "")
        if whole_number(raw) is not None and not record_pickup(session, int(raw), form_text(form, "AnsweredBy")):
            response = VoiceResponse()
            response.hangup()
            return str(response), Work()
        turn = self._turn(session, form, None)
        household = turn.caller.household_id
        if household is not None and turn.step.step.node == self.script.entry.get("checkin"):
            greeting = household_greeting(session, household)
            turn.greeting = greeting_link(self.services.settings, greeting, time.time()) if greeting else ""
        return self._carry_out(turn, Plan(SayNode(turn.step.step, intro=True)))

    def checkin_status(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """How a check-in call ended: busy, no answer or a machine is called again later, while tries are left."""
        status, raw = form_text(form, "CallStatus"), query.get("o", "")
        if not status or whole_number(raw) is None:
            raise InvalidInboundMessage("CallStatus", "and the o= query are required")
        duration = form_text(form, "CallDuration")
        record_call_result(
            session,
            int(raw),
            form_text(form, "CallSid")[:64],
            status,
            form_text(form, "AnsweredBy"),
            self.services.clock(),
            self.services.intake.checkin,
            whole_number(duration),
        )
        return "", Work()

    def status(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """How the call ended. A call from a resident that came to nothing becomes a call-back task."""
        status = form_text(form, "CallStatus")
        duration = form_text(form, "CallDuration")
        if not status:
            raise InvalidInboundMessage("CallStatus", "is required")
        turn = self._turn(session, form, query)
        if turn.call.ended_at is not None:  # its end is recorded: a repeated or late report changes nothing
            return "", Work()
        ring = self._unanswered_ring(turn, status)
        if ring is not None:
            return ring
        missed = finish_call(
            session,
            turn.call,
            status,
            whole_number(duration),
            utcnow(),
            body=self._catalog("voice_missed_body"),
        )
        return "", Work(inbound=[missed] if missed else [])

    # ── a batch of steps in one transaction (group_commit) ───────────────────────────────────────────────────

    def read_ahead(self, session: Session, forms: list[FormData]) -> None:
        """Before a batch's steps run in `session`: their callers in the register, their calls' rows and the needs
        stored for them, read in a few statements for all of them instead of a few for each."""
        sids = {sid for sid in (form_text(form, "CallSid") for form in forms) if sid and len(sid) <= 64}
        numbers = look_up_numbers(session, {self._their_phone(form) for form in forms})
        # Twilio's first webhook of a call says "ringing": a batch of only those is of new calls, usually.
        ringing = all(form_text(form, "CallStatus") == "ringing" for form in forms)
        session.info[READ_AHEAD] = (numbers, calls_by_sid(session, sids, new_calls=ringing), sids)
        found = profiles_for_phones(session, numbers.phones)
        session.info[PROFILES_READ] = {phone: found.get(phone, NO_PROFILE) for phone in numbers.phones}
        if ringing:  # new calls: whether each may be a ring to reject, for all of them in one statement
            session.info[RINGS_READ] = ringing_phones(session, numbers.phones)

    def _stored_needs(self, session: Session) -> set[str] | None:
        """The needs stored for the batch's calls, read once, when a step of the batch first stores one."""
        ahead = session.info.get(READ_AHEAD)
        if ahead is None:
            return None
        if NEEDS_READ not in session.info:
            session.info[NEEDS_READ] = needs_of_calls(session, ahead[2])
        stored: set[str] = session.info[NEEDS_READ]
        return stored

    def forget_read_ahead(self, session: Session) -> None:
        """A step was rolled back to its savepoint: what was read ahead may hold its rows, and the records it kept
        for the batch's INSERT are not to be written; the rest of the batch reads for itself."""
        session.info.pop(READ_AHEAD, None)
        session.info.pop(PROFILES_READ, None)
        session.info.pop(RINGS_READ, None)
        session.info.pop(NEEDS_READ, None)
        forget_batch(session)

    # ── ring to check in (dispatch.checkins.ring) ───────────────────────────────────────────────────────────────

    def _rejected_ring(self, turn: _Turn) -> tuple[str, Work] | None:
        """A resident in a ring mode rings: rejected unanswered (not billed) and counted; None: not a ring."""
        caller, call = turn.caller, turn.call
        if turn.step.outbound or caller.kind != "resident" or caller.resident_id is None:
            return None
        ringing = turn.session.info.get(RINGS_READ)
        if ringing is not None and caller.phone not in ringing:
            return None  # read with the batch: no ring mode on for this number, so no more to read
        now, context = self.services.clock(), self.services.intake
        if not is_a_ring(turn.session, caller.resident_id, call.call_sid, now, context):
            return None
        counted = count_ring(turn.session, caller.resident_id, call.call_sid, "rejected", now, context)
        call.status, call.ended_at = "rejected", call.ended_at or now  # its status report changes nothing then
        response = VoiceResponse()
        response.reject(reason="busy")
        return str(response), Work(outbound=counted.outbound if counted else [])

    def _unanswered_ring(self, turn: _Turn, status: str) -> tuple[str, Work] | None:
        """A resident in a ring mode hung up before the hotline answered: counted as a ring; None: not one."""
        caller, call = turn.caller, turn.call
        if status not in UNANSWERED or turn.step.outbound or caller.kind != "resident" or caller.resident_id is None:
            return None
        if call.chose or call.dial_attempts:
            return None
        now = self.services.clock()
        counted = count_ring(turn.session, caller.resident_id, call.call_sid, "unanswered", now, self.services.intake)
        if counted is None:
            return None
        call.status, call.ended_at = status[:16], call.ended_at or now
        return "", Work(outbound=counted.outbound)

    # ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────

    def _carry_out(self, turn: _Turn, plan: Plan) -> tuple[str, Work]:
        """Store the plan in the step's transaction and say it (with the SMS copy of a call that ends, for a
        resident whose profile asks for one)."""
        plan = with_copy(self.script, turn.step, plan)
        stored = store_plan(
            turn.session,
            turn.call,
            turn.caller,
            plan,
            script=self.script,
            context=self.services.intake,
            now=utcnow(),
            clock=self.services.clock,
            stored_needs=self._stored_needs(turn.session) if plan.needs else None,
        )
        twiml = self.render.plan(stored.said, plan.then, turn.caller, lambda step: self._words(turn, step))
        return twiml, Work(inbound=stored.inbound, outbound=stored.outbound, unflushed=stored.unflushed)

    def _turn(self, session: Session, form: FormData, query: dict[str, str] | None) -> _Turn:
        sid = form_text(form, "CallSid")
        if not sid or len(sid) > 64:
            raise InvalidInboundMessage("CallSid", "is required")
        settings = self.services.settings
        # A call the hotline placed (a check-in): the other party is the one called, and they hear the check-in.
        outbound = form_text(form, "Direction").startswith("outbound")
        numbers, known, _ = session.info.get(READ_AHEAD, (None, None, None))
        caller = identify_caller(
            session,
            self._their_phone(form),
            region=settings.region,
            language=settings.language,
            duty_phone=settings.duty_phone,
            numbers=numbers,
        )
        if caller.kind == "resident" or caller.is_resident:  # how the call speaks: the resident's profile
            read = session.info.get(PROFILES_READ, {})
            profile = read[caller.phone] if caller.phone in read else profile_for_phone(session, caller.phone)
            caller = replace(caller, profile=profile)
        if caller.people and caller.people[-1].role == "duty":
            self.known_duty_phone = caller.people[-1].phone
        to_phone = _read_phone(form_text(form, "From" if outbound else "To"), settings.region)
        call = start_call(session, sid, caller, to_phone, utcnow(), known)
        call.direction = "outbound" if outbound else call.direction
        entry = self.script.entry["checkin" if outbound and caller.kind == "resident" else caller.kind]
        step = Step.parse(query or {}, entry)
        if step.node not in self.script.nodes:
            step = Step(entry)
        return _Turn(session, call, CallStep(sid, caller, step, outbound=call.direction == "outbound"))

    def _their_phone(self, form: FormData) -> str:
        """The other party's number: the caller's, or on a call the hotline placed (a check-in), the one called."""
        outbound = form_text(form, "Direction").startswith("outbound")
        return _read_phone(form_text(form, "To" if outbound else "From"), self.services.settings.region)

    def _words(self, turn: _Turn, step: Step) -> CallWords:
        session, caller = turn.session, turn.caller
        language = caller.language
        next_step = next_step_words(self.script, caller, step)
        fields = {"name": caller.name, "liaison": caller.liaison_name or "", "next_step": next_step}

        def lookup(key: str) -> str:
            if key == "directory":
                entries = directory_listing(session, caller.community_id)
                lines = [
                    self.script.phrase("directory_entry", language, name=e.name, phone=_spoken(e.phone))
                    for e in entries
                ]
                return "".join(lines) or self.script.phrase("directory_empty", language)
            if caller.liaison_id is None:
                return ""
            if key == "task_count":
                return str(count_waiting(session, caller.liaison_id))
            catalog = self.services.catalog
            lines = [
                self.script.phrase("task_line", language, n=n, **task_fields(catalog, language, task))
                for n, task in enumerate(waiting_task_facts(session, caller.liaison_id), 1)
            ]
            return "".join(lines) or self.script.phrase("no_tasks", language)

        return CallWords(caller, fields, lookup, greeting_audio=turn.greeting)

    def _catalog(self, key: str, **fields: object) -> str:
        return self.services.catalog.render(key, self.services.settings.language, **fields)


def _spoken(phone: str) -> str:
    """A number as a TTS voice should read it: digit by digit, not as one large number."""
    return " ".join(ch for ch in national_format(phone) if ch.isdigit())
