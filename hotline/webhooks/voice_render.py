"""Turning a voice script's nodes into TwiML, through `voice_twiml` (the calls of `twilio.twiml.voice_response`,
the same bytes out, without an element tree per response; `response=VoiceResponse` renders with twilio's own).

What a call carries from step to step (`dispatch.ivr.call_plan.Step`: the node, rounds of silence, where "back"
goes, whether a task was made) travels in the action URL's query. Twilio signs the whole URL, so it cannot be
changed on the way. `Renderer.plan` says a step's plan, nothing more: the decisions are `dispatch.ivr.decide`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from dispatch.ivr.call_plan import (
    HangUp,
    PutThrough,
    RecordGreeting,
    SayNode,
    Step,
    TakeVoicemail,
    Then,
    menu_levels,
    offered,
)
from dispatch.ivr.calls import Caller, Person
from dispatch.ivr.hearing import NO_PROFILE, PAUSE_SECONDS, Profile
from dispatch.ivr.script import GOODBYE, IvrScript, Node
from dispatch.voice_greetings import MAX_SECONDS
from hotline.settings import Settings
from hotline.webhooks import paths
from hotline.webhooks.voice_twiml import Verb, voice_response

# Speech recognition languages for <Gather input="speech">, per hotline language.
SPEECH_LANGUAGE = {"zh-CN": "zh-CN", "en": "en-US"}
MAX_CHAINED_MESSAGES = 8  # a message node's `next` chain, followed within one response


class Speaker:
    """Says or plays words in a caller's language, with the voice the settings name."""

    def __init__(self, settings: Settings) -> None:
        self.voices = settings.tts_voices
        self.audio_url = settings.callback_url("/ivr-audio/")

    def say(self, verb: Verb, text: str, language: str, profile: Profile = NO_PROFILE) -> None:
        """Add <Say> for `text` (nothing for empty text), slower or louder in SSML <prosody> and said twice with
        a pause between, as the listener's profile asks."""
        if not text.strip():
            return
        say_language, voice = self.voices.get(language, self.voices["zh-CN"])
        prosody = profile.prosody()
        for time in range(2 if profile.twice else 1):
            if time:
                verb.pause(length=PAUSE_SECONDS)
            if prosody:
                verb.say(None, language=say_language, voice=voice).prosody(text, **prosody)
            else:
                verb.say(text, language=say_language, voice=voice)

    def play(self, verb: Verb, audio: str, profile: Profile = NO_PROFILE) -> None:
        """Add <Play> for a recorded prompt: an https URL, or a file in ivr_scripts/audio/ (twice, with a pause,
        if the listener's profile asks)."""
        for time in range(2 if profile.twice else 1):
            if time:
                verb.pause(length=PAUSE_SECONDS)
            verb.play(audio if audio.startswith("https://") else self.audio_url + audio)


@dataclass
class CallWords:
    """The placeholders a node may use, for one caller; lists from the register are filled in on demand."""

    caller: Caller
    fields: dict[str, str]
    lookup: Callable[[str], str]  # "directory", "tasks", "task_count" → words, read from the database
    greeting_audio: str = ""  # a check-in call: the liaison's recorded greeting, played first, instead of the intro

    def fill(self, template: str) -> str:
        """`template` with its placeholders filled."""
        for key in ("directory", "tasks", "task_count"):
            if "{" + key + "}" in template and key not in self.fields:
                self.fields[key] = self.lookup(key)
        return template.format_map(_Blank(self.fields))


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class Renderer:
    """Builds the TwiML of nodes, put-throughs and voicemail for one script."""

    def __init__(self, script: IvrScript, settings: Settings, response: Callable[[], Verb] = voice_response) -> None:
        self.script = script
        self.settings = settings
        self.speaker = Speaker(settings)
        self.response = response  # a new, empty <Response>

    def url(self, path: str, query: str) -> str:
        """An absolute action URL, as Twilio will call it (and as the signature is computed)."""
        return self.settings.callback_url(path) + (f"?{query}" if query else "")

    def plan(self, said: tuple[str, ...], then: Then, caller: Caller, words: Callable[[Step], CallWords]) -> str:
        """A step's plan as TwiML: its words, then what follows (a node, a put-through, voicemail, or the end)."""
        response = self.response()
        for text in said:
            self.speaker.say(response, text, caller.language, caller.profile)
        if isinstance(then, SayNode):
            self.node(response, then.step, words(then.step), then.intro)
        elif isinstance(then, PutThrough):
            self.put_through(response, caller.people, then.index, then.step, caller.language, caller.profile)
        elif isinstance(then, TakeVoicemail):
            self.voicemail(response, then.step, caller.language, caller.profile)
        elif isinstance(then, RecordGreeting):
            self.record_greeting(response, then.step, words(then.step))
        elif isinstance(then, HangUp):
            response.hangup()
        return str(response)

    def node(self, response: Verb, step: Step, words: CallWords, intro: bool = False) -> Verb:
        """Say the node of `step` (and follow message nodes' `next`); a menu ends in a <Gather>."""
        language = words.caller.language
        for _ in range(MAX_CHAINED_MESSAGES):
            node = self.script.nodes[step.node]
            if node.is_menu:
                self._menu(response, node, step, words, intro)
                return response
            self._words(response, node, words, intro)
            if node.end or not node.next:
                response.hangup()
                return response
            step, intro = replace(step, node=node.next, rounds=0), True
        self.speaker.say(response, self.script.phrase("next_step_staff", language), language, words.caller.profile)
        response.hangup()
        return response

    def _menu(self, response: Verb, node: Node, step: Step, words: CallWords, intro: bool) -> None:
        language = words.caller.language
        listen = self.script.speech and any(o.do == "task" for o in node.options)
        gather = response.gather(
            input="dtmf speech" if listen else "dtmf",
            action=self.url(
                paths.VOICE_MENU, replace(step, node=node.name, level=self._level(node, step, words)).query()
            ),
            action_on_empty_result=True,
            timeout=node.timeout,
            num_digits=1,
            language=SPEECH_LANGUAGE.get(language, "zh-CN") if listen else None,
            speech_timeout="auto" if listen else None,
        )
        self._words(gather, node, words, intro, step)

    def _level(self, node: Node, step: Step, words: CallWords) -> int:
        """The level of a short menu said at `step` (a level past the last, from an older URL: the last)."""
        return min(step.level, len(menu_levels(node, words.caller)) - 1) if node.is_menu else 0

    def _words(self, verb: Verb, node: Node, words: CallWords, intro: bool, step: Step | None = None) -> None:
        caller = words.caller
        language, profile = caller.language, caller.profile
        levels = menu_levels(node, caller)
        level = self._level(node, step, words) if step is not None else 0
        if intro and level == 0 and words.greeting_audio:  # the liaison's own voice greets; the menu follows
            self.speaker.play(verb, words.greeting_audio, profile)
            intro = False
        if language in node.audio and len(levels) == 1:  # a recording cannot be split into a short menu's levels
            self.speaker.play(verb, node.audio[language], profile)
            return
        parts = [node.intro.get(language, "")] if intro and level == 0 else []
        parts += [node.prompt.get(language, "")] if level == 0 else []
        if not profile.short_menus or not node.is_menu:
            parts += [o.say.get(language, "") for o in offered(node, caller)]
        else:
            said = [o.say.get(language, "") for o in levels[level]]
            if level + 1 < len(levels):
                said.append(self.script.phrase("more_options", language, digit=self.script.more))
            elif said and said[-1].endswith("，"):
                said[-1] = said[-1][:-1] + "。"  # the level's last words end the sentence
            parts += said
        joiner = "" if language == "zh-CN" else " "  # Chinese runs on; its punctuation gives the pauses
        self.speaker.say(verb, words.fill(joiner.join(p for p in parts if p)), language, profile)

    def put_through(
        self,
        response: Verb,
        people: tuple[Person, ...],
        index: int,
        step: Step,
        language: str,
        profile: Profile = NO_PROFILE,
    ) -> Verb:
        """Ring the `index`th person; when nobody is left, take a voicemail."""
        if index >= len(people):
            return self.voicemail(response, step, language, profile)
        person = people[index]
        who = self.script.phrase(f"person_{person.role}", language, name=person.name)
        self.speaker.say(response, self.script.phrase("putting_through", language, person=who), language, profile)
        dial = response.dial(
            action=self.url(paths.VOICE_DIAL, step.query(i=index)),
            timeout=self.settings.dial_timeout_seconds,
        )
        dial.number(person.phone)
        return response

    def voicemail(self, response: Verb, step: Step, language: str, profile: Profile = NO_PROFILE) -> Verb:
        """Ask for a message and record it; if nothing is recorded, say so and promise a call back."""
        self._record(response, step, language, profile)
        # Reached only when nothing was recorded: the call's status report makes it a call-back task.
        empty = self.script.phrase("voicemail_empty", language) + self.script.phrase("next_step_staff", language)
        self.speaker.say(response, empty, language, profile)
        response.hangup()
        return response

    def _record(self, response: Verb, step: Step, language: str, profile: Profile = NO_PROFILE) -> None:
        """Ask for a message after the beep and record it, up to HOTLINE_VOICEMAIL_SECONDS."""
        self.speaker.say(response, self.script.phrase("voicemail_prompt", language), language, profile)
        response.record(
            action=self.url(paths.VOICE_RECORDED, step.query()),
            max_length=self.settings.voicemail_seconds,
            timeout=5,
            play_beep=True,
            finish_on_key="#",
        )

    def record_greeting(self, response: Verb, step: Step, words: CallWords) -> Verb:
        """A liaison records their greeting after the beep, up to MAX_SECONDS, # to finish. Nothing recorded:
        Twilio goes on past <Record>, back to their menu."""
        language = words.caller.language
        self.speaker.say(response, self.script.phrase("greeting_prompt", language), language)
        response.record(
            action=self.url(paths.VOICE_GREETING_RECORDED, step.query()),
            max_length=MAX_SECONDS,
            timeout=5,
            play_beep=True,
            finish_on_key="#",
        )
        return self.greeting_back(response, step, words, "greeting_not_recorded")

    def greeting_back(self, response: Verb, step: Step, words: CallWords, said: str) -> Verb:
        """Say `said` (a phrase), then the liaison's menu again."""
        language = words.caller.language
        self.speaker.say(response, self.script.phrase(said, language), language)
        return self.node(response, replace(step, rounds=0), words)

    def greeting_playback(self, response: Verb, step: Step, words: CallWords, audio: str, greeting_id: int) -> Verb:
        """The recording played back, then: 1 keep it, 2 record again, 3 keep the old one."""
        language = words.caller.language
        if step.rounds == 0:
            self.speaker.say(response, self.script.phrase("greeting_heard", language), language)
            self.speaker.play(response, audio)
        gather = response.gather(
            input="dtmf",
            action=self.url(paths.VOICE_GREETING_CHOICE, step.query(g=greeting_id)),
            action_on_empty_result=True,
            timeout=self.script.nodes[step.node].timeout,
            num_digits=1,
        )
        self.speaker.say(gather, self.script.phrase("greeting_choices", language), language)
        return response

    def fallback(self, language: str, duty: str) -> str:
        """What Twilio plays from its own copy (a TwiML Bin at the number's fallback URL) when the hotline cannot
        be reached at all: the apology, the duty phone, the emergency hint. Nothing in it calls back to us."""
        response = self.response()
        self.speaker.say(response, self.script.phrase("error_apology", language), language)
        response.dial(timeout=self.settings.dial_timeout_seconds).number(duty)
        self.speaker.say(response, self.script.phrase("error_sorry", language), language)
        self.speaker.say(response, self.script.phrase("emergency_hint", language), language)
        response.hangup()
        return str(response)

    def failure(self, language: str, duty: str | None) -> str:
        """What a caller hears when our code fails: an apology, the duty phone, then a voicemail. Never silence."""
        response = self.response()
        if duty:
            self.speaker.say(response, self.script.phrase("error_apology", language), language)
            response.dial(timeout=self.settings.dial_timeout_seconds).number(duty)
        self._record(response, Step(GOODBYE, task=True), language)
        self.speaker.say(response, self.script.phrase("error_sorry", language), language)
        self.speaker.say(response, self.script.phrase("emergency_hint", language), language)
        response.hangup()
        return str(response)
