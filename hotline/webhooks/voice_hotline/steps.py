"""The steps of a call to the voice hotline (and of a check-in call it places), each inside one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from twilio.twiml.voice_response import VoiceResponse

from dispatch.checkins.answers import record_answer, record_call_result, record_pickup, residents_of
from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import phone_or_raw
from dispatch.ivr.calls import (
    Caller,
    count_waiting,
    directory,
    finish_call,
    identify_caller,
    liaison_of,
    start_call,
    store_call_need,
    waiting_tasks,
)
from dispatch.ivr.script import GOODBYE, IvrScript, Option
from dispatch.models import Call, CheckinStatus, OutboundMessage, Task, utcnow
from dispatch.outbox import auto_replies_since, queue_sms
from dispatch.phones import national_format
from dispatch.resident_replies import parse_reply
from dispatch.tasks.liaison_replies import accept_oldest
from dispatch.tasks.task_texts import doorstep_address, resident_names
from hotline.services import Services
from hotline.webhooks.twilio_sms import whole_number
from hotline.webhooks.voice_hotline.endpoint import Work, form_text
from hotline.webhooks.voice_render import CallWords, Renderer, Step, offered

CHOICES = ("task", "goto", "sms_directory", "accept_oldest")  # what counts as having chosen something
UNKNOWN_CALLER_KEYS = "unknown-caller:%"  # directory SMS to numbers not on the register


@dataclass
class _Turn:
    """One webhook request of a call, inside one transaction."""

    session: Session
    caller: Caller
    call: Call
    step: Step
    response: VoiceResponse
    words: CallWords
    work: Work


class VoiceHotline:
    """The voice hotline of one script, answering each step of a call."""

    def __init__(self, services: Services, script: IvrScript) -> None:
        self.services = services
        self.script = script
        self.render = Renderer(script, services.settings)
        # The last duty phone a caller's chain ended in: where a caller goes if a later step fails before the
        # register can be read, when HOTLINE_DUTY_PHONE is not set.
        self.known_duty_phone: str | None = None

    # ── the steps of a call ──────────────────────────────────────────────────────────────────────────────────

    def entry(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A call comes in: the caller's menu, greeted by name."""
        turn = self._turn(session, form, None)
        self.render.node(turn.response, turn.step, turn.words, intro=True)
        return str(turn.response), turn.work

    def menu(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A key, spoken words, or silence at a menu."""
        digits = form_text(form, "Digits").strip()[:1]
        speech = form_text(form, "SpeechResult").strip()[:200]
        turn = self._turn(session, form, query)
        node = self.script.nodes[turn.step.node]
        language = turn.caller.language
        rounds = self.script.rounds
        option = self._pick(turn, digits, speech)
        if option is not None:
            self._act(turn, option, digits, speech)
        elif not digits and not speech and node.no_input == "callback" and turn.step.rounds + 1 >= rounds:
            # The check-in call, unanswered twice: "a person will call you", and a call-back task for them.
            self._store(turn, f"{node.name}:silent", need="callback", body=self._catalog("checkin_call_silent_body"))
            goodbye = Step(GOODBYE, task=True)
            self.render.node(turn.response, goodbye, self._words(session, turn.caller, goodbye))
        elif (not digits and not speech and node.no_input == "person") or turn.step.rounds + 1 >= rounds:
            self._person(turn, 0)  # never hang up on them: a person
        else:
            key = "wrong_input" if digits or speech else "no_input"
            self.render.speaker.say(turn.response, self.script.phrase(key, language), language)
            self.render.node(turn.response, replace(turn.step, rounds=turn.step.rounds + 1), turn.words)
        return str(turn.response), turn.work

    def dial(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A put-through ended. Answered: done. Otherwise the next person, then voicemail."""
        status = form_text(form, "DialCallStatus")
        index = whole_number(query.get("i")) or 0
        turn = self._turn(session, form, query)
        if status in ("completed", "answered"):
            turn.call.connected = True
            turn.response.hangup()
            if turn.call.direction == "outbound" and turn.caller.household_id is not None:
                # On a check-in call, a resident who talked to a person was reached: they asked for someone.
                residents = residents_of(session, turn.caller)
                record_answer(session, residents, CheckinStatus.NEEDS, None, "voice", self.services.clock())
        else:
            self._person(turn, index + 1)
        return str(turn.response), turn.work

    def recorded(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A voicemail: an urgent call-back task, with the recording for staff."""
        url = form_text(form, "RecordingUrl")
        seconds = form_text(form, "RecordingDuration")
        turn = self._turn(session, form, query)
        if url:
            body = self._catalog("voice_voicemail_body", seconds=seconds if seconds.isdigit() else "?")
            turn.call.voicemail = True
            self._store(turn, "voicemail", need="callback", body=body, urgent=True, recording_url=url[:1000])
            phrase = self.script.phrase("voicemail_received", turn.caller.language)
            self.render.speaker.say(turn.response, phrase, turn.caller.language)
        goodbye = Step(GOODBYE, task=bool(url) or turn.step.task)
        self.render.node(turn.response, goodbye, self._words(session, turn.caller, goodbye))
        return str(turn.response), turn.work

    def checkin(self, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
        """A check-in call the hotline placed was answered: a machine is hung up on (the call is tried again);
        a person hears the check-in menu, greeted by name."""
        raw = query.get("o", "")
        if whole_number(raw) is not None and not record_pickup(session, int(raw), form_text(form, "AnsweredBy")):
            response = VoiceResponse()
            response.hangup()
            return str(response), Work()
        turn = self._turn(session, form, None)
        self.render.node(turn.response, turn.step, turn.words, intro=True)
        return str(turn.response), turn.work

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
            return "", turn.work
        missed = finish_call(
            session,
            turn.call,
            status,
            whole_number(duration),
            utcnow(),
            body=self._catalog("voice_missed_body"),
        )
        turn.work.inbound += [missed] if missed else []
        return "", turn.work

    # ── what each choice does ────────────────────────────────────────────────────────────────────────────────

    def _pick(self, turn: _Turn, digits: str, speech: str) -> Option | None:
        options = offered(self.script.nodes[turn.step.node], turn.caller)
        if digits:
            return next((o for o in options if o.digit == digits), None)
        if speech:
            reading = parse_reply(speech, self.services.intake.replies)
            wanted = [*reading.needs, *(["fine"] if reading.fine else [])]
            return next((o for need in wanted for o in options if o.do == "task" and o.need == need), None)
        return None

    def _act(self, turn: _Turn, option: Option, digits: str, speech: str) -> None:
        step, node, language = turn.step, self.script.nodes[turn.step.node], turn.caller.language
        turn.call.chose = turn.call.chose or option.do in CHOICES
        next_step = replace(step, rounds=0, actions=step.actions + 1)
        say = self.render.speaker.say
        if option.do == "repeat":
            self.render.node(turn.response, next_step, turn.words)
        elif option.do == "back":
            target = step.back if step.back in self.script.nodes else self.script.entry[turn.caller.kind]
            self.render.node(turn.response, replace(next_step, node=target, back=""), turn.words)
        elif option.do == "goto":
            assert option.node is not None  # the checker requires it
            self.render.node(turn.response, replace(next_step, node=option.node, back=node.name), turn.words, True)
        elif option.do == "person":
            self._person(turn, 0)
        elif option.do == "voicemail":
            self.render.voicemail(turn.response, step, language)
        else:
            if option.do == "task":
                assert option.need is not None
                label = self.services.intake.replies.digit_labels.get(option.digit, {})
                label_text = label.get(self.services.settings.language, option.need)
                body = (self._catalog("voice_speech_body", words=speech) if speech and not digits
                        else self._catalog("voice_choice_body", digit=option.digit, label=label_text))  # fmt: skip
                self._store(turn, f"{node.name}:{option.need}", need=option.need, body=body,
                            urgent=option.need == "unwell")  # fmt: skip
                next_step = replace(next_step, task=True)
                say(
                    turn.response, self.script.phrase("task_recorded", language, need=label.get(language, "")), language
                )
            elif option.do == "sms_directory":
                say(turn.response, self._send_directory(turn), language)
            else:
                say(turn.response, self._accept(turn, step.actions), language)
            then = replace(next_step, node=option.then or GOODBYE, back=node.name)
            self.render.node(turn.response, then, self._words(turn.session, turn.caller, then), intro=True)

    def _person(self, turn: _Turn, index: int) -> None:
        people = turn.caller.people
        # Counted by position, not by request: a retried webhook does not count twice.
        turn.call.dial_attempts = max(turn.call.dial_attempts, min(index + 1, len(people)) or 1)
        self.render.put_through(turn.response, people, index, turn.step, turn.caller.language)

    def _store(self, turn: _Turn, what: str, **need: object) -> None:
        message_id = store_call_need(turn.session, turn.call, what, now=utcnow(), **need)  # type: ignore[arg-type]
        turn.work.inbound += [message_id] if message_id else []

    def _send_directory(self, turn: _Turn) -> str:
        """Text the community's numbers to the caller: only to a mobile, within the hourly answers to one number,
        and few to numbers we do not know, so a spoofed caller ID cannot make the hotline text strangers."""
        language, caller, session = turn.caller.language, turn.caller, turn.session
        listed = directory(session, caller.community_id)
        hour_ago, context = utcnow() - timedelta(hours=1), self.services.intake
        unknown = caller.kind == "unknown"
        if (
            not listed
            or not caller.can_sms
            or auto_replies_since(session, hour_ago, phone=caller.phone) >= context.auto_replies_per_number_per_hour
            or (unknown and auto_replies_since(session, hour_ago, prefix=UNKNOWN_CALLER_KEYS)
                >= context.unknown_replies_per_hour)
        ):  # fmt: skip
            return ""
        sms = queue_sms(
            session,
            dedupe_key=f"{'unknown-caller' if unknown else 'call'}:{turn.call.call_sid}:directory",
            to_phone=caller.phone,
            body=self.script.phrase("directory_sms", language,
                                    entries="；".join(f"{e.name} {national_format(e.phone)}" for e in listed)),
            language=language,
        )  # fmt: skip
        turn.work.outbound += [sms.id] if sms else []
        return self.script.phrase("directory_sent", language)

    def _accept(self, turn: _Turn, action: int) -> str:
        """Take the oldest waiting task for a liaison on the phone; a retried request takes nothing more."""
        session, language = turn.session, turn.caller.language
        key = f"call:{turn.call.call_sid}:accept:{action}"
        done = session.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key.startswith(key + ":")))
        task = session.get(Task, done.task_id) if done is not None and done.task_id else None
        if done is None:
            liaison = liaison_of(session, turn.caller.liaison_id) if turn.caller.liaison_id else None
            if liaison is not None:
                catalog, staff = self.services.catalog, self.services.settings.language
                task, ids = accept_oldest(session, liaison, catalog, staff, utcnow(), dedupe_key=key)
                turn.work.outbound += ids
        if task is None:
            return self.script.phrase("nothing_to_accept", language)
        return self.script.phrase("accepted", language, **self._task_fields(task, language))

    # ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────

    def _turn(self, session: Session, form: FormData, query: dict[str, str] | None) -> _Turn:
        sid = form_text(form, "CallSid")
        if not sid or len(sid) > 64:
            raise InvalidInboundMessage("CallSid", "is required")
        settings = self.services.settings
        # A call the hotline placed (a check-in): the other party is the one called, and they hear the check-in.
        outbound = form_text(form, "Direction").startswith("outbound")
        theirs, ours = ("To", "From") if outbound else ("From", "To")
        caller = identify_caller(
            session,
            phone_or_raw(form_text(form, theirs), settings.region),
            region=settings.region,
            language=settings.language,
            duty_phone=settings.duty_phone,
        )
        if caller.people and caller.people[-1].role == "duty":
            self.known_duty_phone = caller.people[-1].phone
        to_phone = phone_or_raw(form_text(form, ours), settings.region)
        call = start_call(session, sid, caller, to_phone, utcnow())
        call.direction = "outbound" if outbound else call.direction
        entry = self.script.entry["checkin" if outbound and caller.kind == "resident" else caller.kind]
        step = Step.parse(query or {}, entry)
        if step.node not in self.script.nodes:
            step = Step(entry)
        return _Turn(session, caller, call, step, VoiceResponse(), self._words(session, caller, step), Work())

    def _words(self, session: Session, caller: Caller, step: Step) -> CallWords:
        language = caller.language
        next_step = ""
        if step.task:
            key = "next_step_liaison" if caller.liaison_name else "next_step_staff"
            next_step = self.script.phrase(key, language, liaison=caller.liaison_name or "")
        fields = {"name": caller.name, "liaison": caller.liaison_name or "", "next_step": next_step}

        def lookup(key: str) -> str:
            if key == "directory":
                entries = directory(session, caller.community_id)
                lines = [self.script.phrase("directory_entry", language, name=e.name, phone=_spoken(e.phone))
                         for e in entries]  # fmt: skip
                return "".join(lines) or self.script.phrase("directory_empty", language)
            if caller.liaison_id is None:
                return ""
            if key == "task_count":
                return str(count_waiting(session, caller.liaison_id))
            tasks = waiting_tasks(session, caller.liaison_id)
            lines = [self.script.phrase("task_line", language, n=n, **self._task_fields(t, language))
                     for n, t in enumerate(tasks, 1)]  # fmt: skip
            return "".join(lines) or self.script.phrase("no_tasks", language)

        return CallWords(caller, fields, lookup)

    def _task_fields(self, task: Task, language: str) -> dict[str, str]:
        category = self.services.catalog.render(f"category_{task.category}", language)
        return {"resident": resident_names(task), "category": category, "address": doorstep_address(task.household)}

    def _catalog(self, key: str, **fields: object) -> str:
        return self.services.catalog.render(key, self.services.settings.language, **fields)


def _spoken(phone: str) -> str:
    """A number as a TTS voice should read it: digit by digit, not as one large number."""
    return " ".join(ch for ch in national_format(phone) if ch.isdigit())
