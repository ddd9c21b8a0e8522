"""An SMS copy of what a call said, for a resident whose profile asks for one (`dispatch.ivr.hearing`).

Sent once per call (dedupe key `call:<CallSid>:copy`), when the call ends on the script's words: the plan's words
(e.g. "groceries: noted") and the message nodes it ends with (the goodbye and what happens next). Only to a number
that can take an SMS (a resident on voice too: staff ticked the copy because they read); a retried webhook decides
the same key, so nothing is sent twice. A call that ends with a person or a voicemail sends none: what was said
there is not the script's.
"""

from __future__ import annotations

from dataclasses import replace

from dispatch.ivr.call_plan import CallStep, Plan, SayNode, Sms, Step
from dispatch.ivr.calls import Caller
from dispatch.ivr.script import IvrScript, Node

MAX_CHAIN = 8  # message nodes followed, as the renderer follows them


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def next_step_words(script: IvrScript, caller: Caller, step: Step) -> str:
    """What happens next, said at the goodbye after a task or a voicemail ("" if nothing was asked)."""
    if not step.task:
        return ""
    key = "next_step_liaison" if caller.liaison_name else "next_step_staff"
    return script.phrase(key, caller.language, liaison=caller.liaison_name or "")


def ending(script: IvrScript, plan: Plan) -> list[Node] | None:
    """The message nodes a plan ends the call with, or None if the call goes on (a menu, a person, a voicemail)."""
    if not isinstance(plan.then, SayNode):
        return None
    chain, name = [], plan.then.step.node
    for _ in range(MAX_CHAIN):
        node = script.nodes.get(name)
        if node is None or node.is_menu:
            return None
        chain.append(node)
        if node.end or not node.next:
            return chain
        name = node.next
    return None


def with_copy(script: IvrScript, call: CallStep, plan: Plan) -> Plan:
    """`plan` with the SMS copy of what the call said added, if the caller's profile asks for one and the plan
    ends the call on the script's words; else `plan` as it was."""
    caller = call.caller
    chain = ending(script, plan) if caller.profile.sms_copy and caller.takes_sms else None
    if chain is None:
        return plan
    assert isinstance(plan.then, SayNode)
    language = caller.language
    fields = {
        "name": caller.name,
        "liaison": caller.liaison_name or "",
        "next_step": next_step_words(script, caller, plan.then.step),
    }
    said = [*plan.say, *(node.prompt.get(language, "").format_map(_Blank(fields)) for node in chain)]
    joiner = "" if language == "zh-CN" else " "
    words = joiner.join(text.strip() for text in said if text.strip())
    if not words:
        return plan
    body = script.phrase("call_copy_sms", language, words=words)
    return replace(plan, sms=(*plan.sms, Sms(f"call:{call.call_sid}:copy", caller.phone, body, language)))
