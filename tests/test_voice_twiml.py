"""The voice hotline's TwiML writer (`hotline.webhooks.voice_twiml`) against twilio's own builder: every node of the
shipped script (with and without speech, with recorded prompts), every put-through, voicemail, failure and fallback,
in every language and for every kind of caller, the same bytes; and words that need escaping, escaped the same."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest
from twilio.twiml.voice_response import VoiceResponse

from dispatch.ivr.call_plan import HangUp, PutThrough, SayNode, Step, TakeVoicemail, Then
from dispatch.ivr.calls import Caller, Person
from dispatch.ivr.script import IvrScript, load_script
from hotline.settings import Settings
from hotline.webhooks.voice_render import CallWords, Renderer
from hotline.webhooks.voice_twiml import voice_response
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, PHONES

SCRIPT = load_script()
AWKWARD = "A & B <\"x\"> 'y'\n\t\r 梁阿姨"  # what XML escapes, in text and in attributes


def same_twiml(ours: str, twilios: str) -> None:
    """Byte for byte the same, and so the same document."""
    assert ours == twilios
    assert ET.canonicalize(ours) == ET.canonicalize(twilios)


def scripts() -> list[IvrScript]:
    """The shipped script, with speech on and off, and with a recorded prompt for every node in one language."""
    recorded = {
        name: dataclasses.replace(node, audio={"en": f"{name}.mp3", "zh-CN": f"https://example.org/{name}.mp3"})
        for name, node in SCRIPT.nodes.items()
    }
    return [
        SCRIPT,
        dataclasses.replace(SCRIPT, speech=not SCRIPT.speech),
        dataclasses.replace(SCRIPT, nodes=recorded),
    ]


def callers(language: str, name: str = "梁阿姨", liaison: str = "张敏") -> list[Caller]:
    people = (Person("liaison", liaison, LIAISON_PHONE), Person("backup", name, PHONES["梁阿姨"]))
    people += (Person("duty", "值班", BACKUP_PHONE),)
    return [
        Caller(kind, PHONES["梁阿姨"], language, name=name, liaison_name=liaison, people=people, can_sms=True)
        for kind in ("resident", "liaison", "unknown")
    ]


def plans(script: IvrScript) -> list[Then]:
    steps = [Step(name) for name in script.nodes] + [Step(name, rounds=1, task=True) for name in script.nodes]
    then: list[Then] = [SayNode(step, intro) for step in steps for intro in (True, False)]
    then += [PutThrough(Step("resident_menu"), index) for index in range(4)]
    return [*then, TakeVoicemail(Step("resident_menu")), HangUp()]


def both(settings: Settings, script: IvrScript) -> tuple[Renderer, Renderer]:
    return Renderer(script, settings), Renderer(script, settings, response=VoiceResponse)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("script", scripts(), ids=["shipped", "speech toggled", "recorded prompts"])
def test_every_step_of_the_script_is_written_as_twilio_writes_it(
    settings: Settings, script: IvrScript, language: str
) -> None:
    ours, twilios = both(settings, script)
    for caller in callers(language) + callers(language, name=AWKWARD, liaison=AWKWARD):
        for then in plans(script):

            def words(step: Step, caller: Caller = caller) -> CallWords:
                fields = {"name": caller.name, "liaison": caller.liaison_name or "", "next_step": AWKWARD}
                return CallWords(caller, fields, lambda key: f"{key} {AWKWARD}")

            said = ("好的。", AWKWARD)
            same_twiml(ours.plan(said, then, caller, words), twilios.plan(said, then, caller, words))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_failure_and_the_fallback_are_written_as_twilio_writes_them(settings: Settings, language: str) -> None:
    ours, twilios = both(settings, SCRIPT)
    for duty in (BACKUP_PHONE, None, AWKWARD):
        same_twiml(ours.failure(language, duty), twilios.failure(language, duty))
    same_twiml(ours.fallback(language, BACKUP_PHONE), twilios.fallback(language, BACKUP_PHONE))


def test_the_writer_closes_empty_elements_and_writes_attributes_as_twilio_does() -> None:
    ours, twilios = voice_response(), VoiceResponse()
    for response in (ours, twilios):
        response.gather(action=AWKWARD, action_on_empty_result=True, num_digits=1, language=None, timeout=0)
        response.dial(AWKWARD, timeout=30, caller_id=AWKWARD)
        response.dial(timeout=False).number(AWKWARD)
        response.record(play_beep=False, finish_on_key="#", max_length=120)
        response.play(AWKWARD)
        response.say("")
        response.hangup()
    same_twiml(str(ours), str(twilios))
