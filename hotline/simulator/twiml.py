"""A voice call as Twilio plays it, without I/O: feed it our TwiML, make the caller's moves, get the next request.

It reads each response the way Twilio does: says the <Say> words (keeping their language), stops at a <Gather>,
<Dial> or <Record> for the caller's next move, follows <Redirect>, and ends at <Hangup> or the end of the
document. Each move returns the request Twilio would make next (URL and form fields); the caller of this module
signs and posts it, and feeds the answer back. The phone simulator and the tests' call-flow runner both drive
calls with it, so there is one TwiML interpreter, not two.

A response that is not voice TwiML (no <Response> root, a verb that is not a voice verb, or a verb nested where
Twilio does not allow it) raises InvalidTwiml: Twilio would play its "application error" and hang up.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

VOICE_VERBS = {"Say", "Play", "Pause", "Gather", "Dial", "Record", "Redirect", "Hangup", "Reject"}
NESTED = {
    "Gather": {"Say", "Play", "Pause"},
    "Dial": {"Number", "Client", "Sip", "Conference", "Queue"},
    "Say": {"prosody"},  # SSML: a resident's profile for hearing and memory, slower or louder
}
WAITS = ("Gather", "Dial", "Record")


class InvalidTwiml(ValueError):
    """Our response is not something Twilio could play in a voice call."""


class CallOver(RuntimeError):
    """A move was made that the call cannot take now: it has ended, or it is not waiting for that move."""


def parse_voice_twiml(xml: str) -> ET.Element:
    """The parsed response, if it is valid voice TwiML.

    Raises:
        InvalidTwiml: saying why not.
    """
    try:
        root = ET.fromstring(xml)  # noqa: S314 -- our own responses, from our own app
    except ET.ParseError as exc:
        raise InvalidTwiml(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise InvalidTwiml(f"root is <{root.tag}>, not <Response>")
    for verb in root:
        if verb.tag not in VOICE_VERBS:
            raise InvalidTwiml(f"<{verb.tag}> is not a voice verb")
        for child in verb:
            if child.tag not in NESTED.get(verb.tag, set()):
                raise InvalidTwiml(f"<{child.tag}> may not be inside <{verb.tag}>")
            for grandchild in child:
                if grandchild.tag not in NESTED.get(child.tag, set()):
                    raise InvalidTwiml(f"<{grandchild.tag}> may not be inside <{child.tag}>")
    return root


@dataclass(frozen=True)
class Said:
    """Words said to the caller (`<Say>`, with its language), or a recording played (`<Play>`)."""

    text: str
    language: str = ""
    played: bool = False


@dataclass(frozen=True)
class Step:
    """A request Twilio makes: POST these fields to this URL. `twiml`: whether it answers with TwiML."""

    url: str
    fields: dict[str, str]
    twiml: bool = True


@dataclass
class Call:
    """One call between a phone and the hotline, as Twilio sees it."""

    sid: str
    from_phone: str
    to_phone: str
    account_sid: str
    status_url: str
    direction: str = "inbound"  # or outbound-api: a call the hotline placed
    twiml_url: str | None = None  # a placed call: where Twilio fetches its first TwiML
    said: list[Said] = field(default_factory=list)
    dialled: list[str] = field(default_factory=list)  # every number a <Dial> rang
    waiting: ET.Element | None = None  # the <Gather>, <Dial> or <Record> waiting for the caller
    rest: list[ET.Element] = field(default_factory=list)  # the verbs after it, run if it ends with no action
    ended: bool = False
    reported: bool = False  # Twilio's status report of the end has been made

    @classmethod
    def new_sid(cls) -> str:
        return "CA" + uuid.uuid4().hex

    # ── the request ──────────────────────────────────────────────────────────────────────────────────────────

    def params(self, fields: dict[str, str]) -> dict[str, str]:
        """Every field of a request Twilio makes in this call: the call's own, then the move's."""
        return {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_phone,
            "To": self.to_phone,
            "CallStatus": "in-progress",
            "Direction": self.direction,
            "ApiVersion": "2010-04-01",
            **fields,
        }

    def feed(self, xml: str) -> Step | None:
        """Twilio reads our answer: returns the next request if the answer redirects, else None (the call waits
        for the caller, or has ended)."""
        root = parse_voice_twiml(xml)
        self.waiting, self.rest = None, []
        return self._run(list(root))

    # ── the caller's moves ───────────────────────────────────────────────────────────────────────────────────

    def pick_up(self, answered_by: str = "human") -> Step:
        """A placed call is answered: by a person, or (answering-machine detection) `machine_start`."""
        if self.twiml_url is None:
            raise CallOver("only a call the hotline placed is picked up")
        return Step(self.twiml_url, {"AnsweredBy": answered_by, "CallStatus": "in-progress"})

    def not_picked_up(self, status: str = "no-answer") -> Step:
        """A placed call ends unanswered (busy, no-answer, failed): Twilio's status report."""
        self.ended = self.reported = True
        return Step(self.status_url, {"CallStatus": status, "CallDuration": "0"}, twiml=False)

    def press(self, digits: str) -> Step | None:
        """Press keys at the menu being said. The finish key (# by default) ends the input and is not sent."""
        finish = self.expect("Gather").attrib.get("finishOnKey", "#")
        if finish and finish in digits:
            digits = digits.split(finish, 1)[0]
        return self._gather({"Digits": digits})

    def silence(self) -> Step | None:
        """Say and press nothing until the <Gather> times out."""
        return self._gather({"Digits": ""})

    def speak(self, words: str) -> Step | None:
        """Say words at the menu (speech recognition's result)."""
        return self._gather({"Digits": "", "SpeechResult": words, "Confidence": "0.9"})

    def answer(self, seconds: int = 30) -> Step | None:
        """The person being rung answers, talks, and hangs up."""
        return self._dial({"DialCallStatus": "completed", "DialCallDuration": str(seconds)})

    def no_answer(self, status: str = "no-answer") -> Step | None:
        """The person being rung does not answer (or is busy, or the call fails)."""
        return self._dial({"DialCallStatus": status})

    def record(self, seconds: int, recording_url: str, recording_sid: str) -> Step:
        """Speak after the beep; Twilio posts the recording to the <Record> action."""
        record = self.expect("Record")
        fields = {"RecordingUrl": recording_url, "RecordingDuration": str(seconds), "RecordingSid": recording_sid}
        return Step(self._action(record), fields)

    def record_nothing(self) -> Step | None:
        """Nothing recorded: Twilio goes on with the verbs after <Record>."""
        self.expect("Record")
        return self._run(self.rest)

    def hang_up(self, status: str = "completed", seconds: int = 40) -> Step:
        """The call ends; Twilio posts its status report."""
        self.waiting, self.ended, self.reported = None, True, True
        return Step(self.status_url, {"CallStatus": status, "CallDuration": str(seconds)}, twiml=False)

    # ── Twilio's side ────────────────────────────────────────────────────────────────────────────────────────

    def expect(self, verb: str) -> ET.Element:
        """The verb the call waits at, if it is `verb`."""
        if self.ended:
            raise CallOver("the call has ended")
        if self.waiting is None or self.waiting.tag != verb:
            raise CallOver(f"expected <{verb}>, waiting at {self.waiting_at or 'nothing'}")
        return self.waiting

    @property
    def waiting_at(self) -> str | None:
        """The tag of the verb the call waits at: Gather, Dial, Record, or None."""
        return None if self.waiting is None else self.waiting.tag

    def _gather(self, fields: dict[str, str]) -> Step | None:
        gather = self.expect("Gather")
        if not any(fields.values()) and gather.attrib.get("actionOnEmptyResult") != "true":
            return self._run(self.rest)  # nothing entered and no action asked for: Twilio goes on
        return Step(self._action(gather), fields)

    def _action(self, verb: ET.Element) -> str:
        action = verb.attrib.get("action")
        if not action:
            raise CallOver(f"<{verb.tag}> has no action URL")
        return action

    def _dial(self, fields: dict[str, str]) -> Step | None:
        dial = self.expect("Dial")
        if "action" in dial.attrib:
            return Step(self._action(dial), fields)
        return self._run(self.rest)

    def _run(self, verbs: list[ET.Element]) -> Step | None:
        for index, verb in enumerate(verbs):
            if verb.tag in ("Say", "Play"):
                self._say(verb)
            elif verb.tag in WAITS:
                for child in verb:
                    if child.tag in ("Say", "Play"):
                        self._say(child)
                self.dialled += [child.text or "" for child in verb if child.tag == "Number"]
                self.waiting, self.rest = verb, verbs[index + 1 :]
                return None
            elif verb.tag == "Redirect":
                return Step(verb.text or "", {})
            elif verb.tag in ("Hangup", "Reject"):
                self.ended = True
                return None
        self.ended = True  # Twilio hangs up at the end of a document
        return None

    def _say(self, verb: ET.Element) -> None:
        if verb.tag == "Say":
            self.said.append(Said("".join(verb.itertext()), verb.attrib.get("language", "")))
        else:
            self.said.append(Said(f"[play {verb.text}]", played=True))

    # ── kept between requests (the simulator keeps calls in Redis) ───────────────────────────────────────────

    def to_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "from_phone": self.from_phone,
            "to_phone": self.to_phone,
            "account_sid": self.account_sid,
            "status_url": self.status_url,
            "direction": self.direction,
            "twiml_url": self.twiml_url,
            "ended": self.ended,
            "reported": self.reported,
            "dialled": self.dialled,
            "said": [[s.text, s.language, s.played] for s in self.said],
            "waiting": None if self.waiting is None else ET.tostring(self.waiting, encoding="unicode"),
            "rest": [ET.tostring(verb, encoding="unicode") for verb in self.rest],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        waiting = data.pop("waiting")
        rest = data.pop("rest")
        said = [Said(text, language, played) for text, language, played in data.pop("said")]
        call = cls(**data, said=said)
        call.waiting = None if waiting is None else ET.fromstring(waiting)  # noqa: S314 -- our own, stored by us
        call.rest = [ET.fromstring(verb) for verb in rest]  # noqa: S314
        return call
