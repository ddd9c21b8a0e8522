"""`hotline ivr check`: every prompt of a voice script rendered as TwiML in every profile for hearing and memory,
and read back.

All 16 combinations of the switches that change TwiML (slower, louder, twice, short menus; an SMS copy does not
change what is said) are rendered: each switch changes a different part of the document (the <prosody>
attributes, the repeat, the levels), and they meet in the same <Say>, so a covering set would save little and
prove less; all of them take well under a second. For each: every node at every level of its short menu, for each
kind of caller and language, a put-through and a voicemail. Each rendering must be XML that parses, with only the
verbs the hotline uses, every <Say> saying something, the profile's <prosody> on each, each prompt said twice when
asked, and a menu ending in one <Gather> that returns to the same node.
"""

from __future__ import annotations

from dataclasses import replace
from xml.etree import ElementTree

from dispatch.ivr.call_plan import PutThrough, SayNode, Step, TakeVoicemail, Then, menu_levels
from dispatch.ivr.calls import Caller, Person
from dispatch.ivr.check import TYPICAL, Problem
from dispatch.ivr.check_profiles import callers
from dispatch.ivr.hearing import Profile, every_voice_profile
from dispatch.ivr.script import LANGUAGES, IvrScript, Node
from hotline.exceptions import SettingsError
from hotline.settings import Settings, read_settings
from hotline.webhooks.voice_render import CallWords, Renderer

VERBS = {"Response", "Say", "prosody", "Play", "Pause", "Gather", "Dial", "Number", "Record", "Hangup"}
SSML_VOICES = ("Polly.", "Google.")  # Twilio's voices that read SSML; its basic voices ignore <prosody>
PEOPLE = (Person("liaison", "张敏", "+8613800138001"), Person("duty", "", "+8613800138002"))


def check_settings() -> Settings:
    """The settings to render with: the service's own if they can be read here, else the defaults."""
    try:
        return Settings(**read_settings())
    except SettingsError:
        return Settings(**read_settings({}, env_file=None))


def check_profiles(script: IvrScript, settings: Settings) -> list[Problem]:
    """Every problem of rendering the script in every profile; each names the node and the profile."""
    problems: list[Problem] = []
    renderer = Renderer(script, settings)
    for language in LANGUAGES:
        voice = settings.tts_voices.get(language, settings.tts_voices["zh-CN"])[1]
        if not voice.startswith(SSML_VOICES):
            message = f"the {language} voice {voice} cannot read SSML: slower and louder speech will not be heard"
            problems.append(Problem("HOTLINE_TTS_VOICES", message, error=False))
    seen: set[str] = set()
    for profile in every_voice_profile():
        for language in LANGUAGES:
            for plain in callers(profile, language):
                caller = _with_people(plain)
                for node in script.nodes.values():
                    for level in range(len(menu_levels(node, caller))):
                        then = SayNode(Step(node.name, level=level, task=True), intro=True)
                        where = f"node {node.name}" + (f" level {level + 1}" if level else "")
                        problems += _render(renderer, then, caller, where, node, seen)
                problems += _render(renderer, PutThrough(Step("goodbye"), 0), caller, "a put-through", None, seen)
                problems += _render(renderer, TakeVoicemail(Step("goodbye")), caller, "a voicemail", None, seen)
    return problems


def _with_people(caller: Caller) -> Caller:
    typical = TYPICAL.get(caller.language, TYPICAL["zh-CN"])
    return replace(caller, name=typical["name"], liaison_name=typical["liaison"], people=PEOPLE)


def _render(
    renderer: Renderer, then: Then, caller: Caller, where: str, node: Node | None, seen: set[str]
) -> list[Problem]:
    typical = TYPICAL.get(caller.language, TYPICAL["zh-CN"])
    words = CallWords(caller, dict(typical), lambda key: typical.get(key, "…"))
    label = f"{where} ({caller.language}, {caller.kind}) in the profile {caller.profile.name()}"
    try:
        twiml = renderer.plan((), then, caller, lambda step: words)
    except Exception as exc:  # a broken script: say where, never a traceback
        return _once(seen, where, f"cannot be said in the profile {caller.profile.name()}: {exc!r}", label)
    return [
        Problem(where, message) for message in _read_back(twiml, node, caller.profile) if _new(seen, where, message)
    ]


def _once(seen: set[str], where: str, message: str, label: str) -> list[Problem]:
    return [Problem(where, f"{label}: {message}")] if _new(seen, where, message) else []


def _new(seen: set[str], where: str, message: str) -> bool:
    key = f"{where}: {message}"
    if key in seen:
        return False
    seen.add(key)
    return True


def _read_back(twiml: str, node: Node | None, profile: Profile) -> list[str]:
    """What is wrong with one rendering, read back as XML."""
    name = profile.name()
    try:
        root = ElementTree.fromstring(twiml.encode("utf-8"))  # noqa: S314 -- our own rendering of our own script
    except ElementTree.ParseError as exc:
        return [f"in the profile {name}: not valid TwiML ({exc})"]
    problems = []
    if root.tag != "Response":
        problems.append(f"in the profile {name}: the TwiML is not a <Response>")
    for element in root.iter():
        if element.tag not in VERBS:
            problems.append(f"in the profile {name}: <{element.tag}> is not a verb the hotline uses")
    says = list(root.iter("Say"))
    for say in says:
        prosody = say.find("prosody")
        text = (prosody.text if prosody is not None else say.text) or ""
        if not text.strip():
            problems.append(f"in the profile {name}: a <Say> says nothing")
        wanted = profile.prosody()
        got = dict(prosody.attrib) if prosody is not None else {}
        if got != wanted:
            problems.append(f"in the profile {name}: <prosody> is {got or 'missing'}, not {wanted or 'none'}")
    if profile.twice:
        texts = [ElementTree.tostring(say, encoding="unicode") for say in says]
        if any(texts.count(text) % 2 for text in texts):
            problems.append(f"in the profile {name}: a prompt is not said twice")
    if node is not None and node.is_menu:
        gathers = list(root.iter("Gather"))
        if len(gathers) != 1 or f"n={node.name}" not in gathers[0].get("action", ""):
            problems.append(f"in the profile {name}: a menu must end in one <Gather> back to {node.name}")
    return problems
