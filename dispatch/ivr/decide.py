"""The voice hotline's decisions: from one step of a call to a plan. Pure: no database, no I/O.

Which option a key or spoken words choose, what a choice does (which menu next, which need becomes a task,
whether the community's numbers may be texted, whether "take the oldest" runs or was done already), how a
put-through goes on, what a voicemail stores. The facts a decision needs are read beforehand
(`dispatch.ivr.call_facts`); the plan is carried out by `dispatch.ivr.plan_store`.
"""

from __future__ import annotations

from dataclasses import replace

from dispatch.context import DispatchContext
from dispatch.ivr.call_plan import (
    CHOICES,
    CallStep,
    HangUp,
    MenuFacts,
    Need,
    Plan,
    Press,
    PutThrough,
    RecordGreeting,
    SayNode,
    Sms,
    Step,
    TakeOldest,
    TakeVoicemail,
    TaskFacts,
    menu_levels,
    offered,
)
from dispatch.ivr.script import GOODBYE, IvrScript, Option
from dispatch.phones import national_format
from dispatch.resident_replies import parse_reply
from dispatch.texts import MessageCatalog

ANSWERED = ("completed", "answered")  # a put-through a person picked up


def choose(script: IvrScript, call: CallStep, press: Press, context: DispatchContext) -> Option | None:
    """The option a key, or spoken words, choose at the call's menu; None for silence or no match. Words choose
    the task option of the needs they read as (health first, like an SMS)."""
    options = offered(script.nodes[call.step.node], call.caller)
    if press.digits:
        return next((o for o in options if o.digit == press.digits), None)
    if press.speech:
        reading = parse_reply(press.speech, context.replies)
        wanted = [*reading.needs, *(["fine"] if reading.fine else [])]
        return next((o for need in wanted for o in options if o.do == "task" and o.need == need), None)
    return None


def plan_menu(script: IvrScript, context: DispatchContext, call: CallStep, press: Press, facts: MenuFacts) -> Plan:
    """A key, spoken words, or silence at a menu."""
    step, language = call.step, call.caller.language
    node = script.nodes[step.node]
    levels = menu_levels(node, call.caller)
    if press.digits == script.more and len(levels) > 1 and node.option(script.more) is None:
        # A short menu's "more": its next level (after the last, the first again). Nothing is chosen.
        following = step.level + 1 if step.level + 1 < len(levels) else 0
        return Plan(SayNode(replace(step, rounds=0, level=following)))
    option = choose(script, call, press, context)
    silent = not press.digits and not press.speech
    last_round = step.rounds + 1 >= script.rounds
    if option is not None:
        return _act(script, context, call, option, press, facts)
    if silent and node.no_input == "callback" and last_round:
        # The check-in call, unanswered twice: "a person will call you", and a call-back task for them.
        body = context.catalog.render("checkin_call_silent_body", context.staff_language)
        return Plan(SayNode(Step(GOODBYE, task=True)), needs=(Need(f"{node.name}:silent", "callback", body),))
    if (silent and node.no_input == "person") or last_round:
        return put_through(call, 0)  # never hang up on them: a person
    again = replace(step, rounds=step.rounds + 1)
    return Plan(SayNode(again), say=(script.phrase("no_input" if silent else "wrong_input", language),))


def _act(
    script: IvrScript, context: DispatchContext, call: CallStep, option: Option, press: Press, facts: MenuFacts
) -> Plan:
    step, language = call.step, call.caller.language
    node = script.nodes[step.node]
    chose = option.do in CHOICES
    next_step = replace(step, rounds=0, actions=step.actions + 1, level=0)
    if option.do == "repeat":  # the same level of a short menu
        return Plan(SayNode(replace(next_step, level=step.level)), chose=chose)
    if option.do == "back":
        target = step.back if step.back in script.nodes else script.entry[call.caller.kind]
        return Plan(SayNode(replace(next_step, node=target, back="")), chose=chose)
    if option.do == "goto":
        assert option.node is not None  # the checker requires it
        return Plan(SayNode(replace(next_step, node=option.node, back=node.name), intro=True), chose=chose)
    if option.do == "person":
        return replace(put_through(call, 0), chose=chose)
    if option.do == "voicemail":
        return Plan(TakeVoicemail(step), chose=chose)
    if option.do == "record_greeting":  # only a liaison has households to greet
        then_node = RecordGreeting(next_step) if call.caller.liaison_id is not None else SayNode(next_step)
        return Plan(then_node, chose=chose)
    then = replace(next_step, node=option.then or GOODBYE, back=node.name)
    if option.do == "task":
        assert option.need is not None
        label = context.replies.digit_labels.get(option.digit, {})
        label_text = label.get(context.staff_language, option.need)
        if press.speech and not press.digits:
            body = context.catalog.render("voice_speech_body", context.staff_language, words=press.speech)
        else:
            body = context.catalog.render(
                "voice_choice_body", context.staff_language, digit=option.digit, label=label_text
            )
        need = Need(f"{node.name}:{option.need}", option.need, body, urgent=option.need == "unwell")
        said = script.phrase("task_recorded", language, need=label.get(language, ""))
        return Plan(SayNode(replace(then, task=True), intro=True), say=(said,), needs=(need,), chose=chose)
    if option.do == "sms_directory":
        sms = directory_sms(script, context, call, facts)
        said = script.phrase("directory_sent", language) if sms is not None else ""
        return Plan(SayNode(then, intro=True), say=(said,), sms=(sms,) if sms else (), chose=chose)
    return _take_oldest(script, context, call, facts, then, chose)


def directory_sms(script: IvrScript, context: DispatchContext, call: CallStep, facts: MenuFacts) -> Sms | None:
    """The community's numbers, texted to the caller: only to a mobile, within the hourly answers to one number,
    and few to numbers we do not know, so a spoofed caller ID cannot make the hotline text strangers. None if
    the caps (or an empty directory) say no."""
    caller = call.caller
    unknown = caller.kind == "unknown"
    if (
        not facts.directory
        or not caller.can_sms
        or facts.replies_to_caller >= context.auto_replies_per_number_per_hour
        or (unknown and facts.replies_to_unknown >= context.unknown_replies_per_hour)
    ):
        return None
    entries = "；".join(f"{e.name} {national_format(e.phone)}" for e in facts.directory)
    return Sms(
        dedupe_key=f"{'unknown-caller' if unknown else 'call'}:{call.call_sid}:directory",
        to_phone=caller.phone,
        body=script.phrase("directory_sms", caller.language, entries=entries),
        language=caller.language,
    )


def accept_key(call_sid: str, actions: int) -> str:
    """The key of a liaison's "take the oldest" at the `actions`th choice of a call."""
    return f"call:{call_sid}:accept:{actions}"


def _take_oldest(
    script: IvrScript, context: DispatchContext, call: CallStep, facts: MenuFacts, then: Step, chose: bool
) -> Plan:
    """A liaison on the phone takes the oldest task waiting for them; a retried request takes nothing more and
    hears what the first one took."""
    language = call.caller.language
    if facts.accepted is not None:
        said = accepted_words(script, context.catalog, language, facts.accepted.task)
        return Plan(SayNode(then, intro=True), say=(said,), chose=chose)
    if call.caller.liaison_id is None:
        said = accepted_words(script, context.catalog, language, None)
        return Plan(SayNode(then, intro=True), say=(said,), chose=chose)
    take = TakeOldest(call.caller.liaison_id, accept_key(call.call_sid, call.step.actions))
    return Plan(SayNode(then, intro=True), take=take, chose=chose)


def accepted_words(script: IvrScript, catalog: MessageCatalog, language: str, task: TaskFacts | None) -> str:
    """What a liaison hears after "take the oldest": the task taken, or that there was none."""
    if task is None:
        return script.phrase("nothing_to_accept", language)
    return script.phrase("accepted", language, **task_fields(catalog, language, task))


def task_fields(catalog: MessageCatalog, language: str, task: TaskFacts) -> dict[str, str]:
    """A task's placeholders in a phrase: resident, category (in `language`), address."""
    category = catalog.render(f"category_{task.category}", language)
    return {"resident": task.resident, "category": category, "address": task.address}


def put_through(call: CallStep, index: int) -> Plan:
    """Ring the `index`th person of the chain (then voicemail). Counted by position, not by request: a retried
    webhook does not count twice."""
    people = call.caller.people
    return Plan(PutThrough(call.step, index), dialled=min(index + 1, len(people)) or 1)


def plan_dial(call: CallStep, status: str, index: int) -> Plan:
    """A put-through ended. Answered: done (on a check-in call, the resident asked for someone). Otherwise the
    next person, then voicemail."""
    if status in ANSWERED:
        return Plan(HangUp(), connected=True, checkin_needs=call.outbound and call.caller.household_id is not None)
    return put_through(call, index + 1)


def plan_recorded(script: IvrScript, context: DispatchContext, call: CallStep, url: str, seconds: str) -> Plan:
    """A voicemail: an urgent call-back need, with the recording for staff. No recording: just the goodbye."""
    goodbye = Step(GOODBYE, task=bool(url) or call.step.task)
    if not url:
        return Plan(SayNode(goodbye))
    body = context.catalog.render(
        "voice_voicemail_body", context.staff_language, seconds=seconds if seconds.isdigit() else "?"
    )
    need = Need("voicemail", "callback", body, urgent=True, recording_url=url[:1000])
    said = script.phrase("voicemail_received", call.caller.language)
    return Plan(SayNode(goodbye), say=(said,), needs=(need,), voicemail=True)
