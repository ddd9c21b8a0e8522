"""A liaison records the greeting their households hear at the start of a check-in call (the liaison menu's
`record_greeting`): the recording is stored pending and played back; 1 keeps it (the old one becomes history),
2 records again, 3 keeps the old one. Each is a step of the call like the menu's, in the group commit.

A repeated webhook changes nothing twice: the recording is stored once per call and URL, a keep or a discard of a
recording already kept or discarded is a no-op, and the answer says the same.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from dispatch.exceptions import NotFound
from dispatch.ivr.call_plan import RecordGreeting, Step
from dispatch.models import utcnow
from dispatch.voice_greetings import discard_greeting, keep_greeting, store_recording
from hotline.greeting_audio import greeting_link
from hotline.webhooks.twilio_sms import whole_number
from hotline.webhooks.voice_hotline.endpoint import form_text
from hotline.webhooks.voice_hotline.group_commit import Work
from hotline.webhooks.voice_twiml import voice_response

if TYPE_CHECKING:
    from hotline.webhooks.voice_hotline.steps import VoiceHotline

KEEP, AGAIN, OLD = "1", "2", "3"


def greeting_recorded(voice: VoiceHotline, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
    """The <Record> action: the recording stored pending (once), played back, and the three choices."""
    url = form_text(form, "RecordingUrl").strip()
    turn = voice._turn(session, form, query)
    step = replace(turn.step.step, rounds=0)
    words = voice._words(turn, step)
    response = voice_response()
    liaison = turn.caller.liaison_id
    if liaison is None:  # not a liaison's call: their own menu
        entry = Step(voice.script.entry[turn.caller.kind])
        voice.render.node(response, entry, voice._words(turn, entry))
        return str(response), Work()
    if not url:
        voice.render.greeting_back(response, step, words, "greeting_not_recorded")
        return str(response), Work()
    seconds = whole_number(form_text(form, "RecordingDuration"))
    greeting = store_recording(session, liaison, turn.call.call_sid, url, seconds, utcnow())
    link = greeting_link(voice.services.settings, greeting, time.time())
    voice.render.greeting_playback(response, step, words, link, greeting)
    return str(response), Work()


def greeting_choice(voice: VoiceHotline, session: Session, form: FormData, query: dict[str, str]) -> tuple[str, Work]:
    """1 keep, 2 record again, 3 keep the old one; silence or another key: the choices again, then the old one."""
    digit = form_text(form, "Digits").strip()[:1]
    turn = voice._turn(session, form, query)
    step: Step = turn.step.step
    menu = replace(step, rounds=0)
    words = voice._words(turn, menu)
    response = voice_response()
    liaison, greeting = turn.caller.liaison_id, whole_number(query.get("g"))
    if liaison is None:  # not a liaison's call: their own menu
        menu = Step(voice.script.entry[turn.caller.kind])
        voice.render.node(response, menu, voice._words(turn, menu))
        return str(response), Work()
    if greeting is None:
        voice.render.node(response, menu, words)
        return str(response), Work()
    now = utcnow()
    try:
        if digit == KEEP:
            kept = keep_greeting(session, liaison, greeting, now)
            voice.render.greeting_back(response, menu, words, "greeting_kept" if kept else "greeting_kept_old")
        elif digit == AGAIN:
            discard_greeting(session, liaison, greeting, now)
            return voice.render.plan((), RecordGreeting(menu), turn.caller, lambda s: voice._words(turn, s)), Work()
        elif digit == OLD or step.rounds + 1 >= voice.script.rounds:
            discard_greeting(session, liaison, greeting, now)
            voice.render.greeting_back(response, menu, words, "greeting_kept_old")
        else:
            said = voice.script.phrase("wrong_input" if digit else "no_input", turn.caller.language)
            voice.render.speaker.say(response, said, turn.caller.language)
            again = replace(step, rounds=step.rounds + 1)
            voice.render.greeting_playback(response, again, words, "", greeting)
    except NotFound:  # not this liaison's recording
        voice.render.node(response, menu, words)
    return str(response), Work()
