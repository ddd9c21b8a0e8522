"""A call-flow runner: plays a phone and Twilio against our voice webhooks.

It reads each TwiML response the way Twilio does: says the <Say> words (recording them), stops at a <Gather>,
<Dial> or <Record> for the caller's next move, follows <Redirect>, and ends at <Hangup>. Each move posts a
request signed with the hotline's token, with the fields Twilio sends. Every response is checked to be voice
TwiML: a <Response> root, and only verbs valid in a voice call (never <Message>).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from hotline.services import Services
from tests.conftest import HOTLINE_NUMBER
from workers.gateways.twilio import SIGNATURE_HEADER

VOICE_VERBS = {"Say", "Play", "Pause", "Gather", "Dial", "Record", "Redirect", "Hangup", "Reject"}
NESTED = {"Gather": {"Say", "Play", "Pause"}, "Dial": {"Number", "Client", "Sip", "Conference", "Queue"}}
ACCOUNT_SID = "AC" + "1" * 32


def parse_voice_twiml(xml: str) -> ET.Element:
    """The parsed response, if it is valid voice TwiML; AssertionError saying why if not."""
    root = ET.fromstring(xml)  # noqa: S314 -- our own responses, in tests
    assert root.tag == "Response", f"root is <{root.tag}>, not <Response>"
    for verb in root:
        assert verb.tag in VOICE_VERBS, f"<{verb.tag}> is not a voice verb"
        for child in verb:
            assert child.tag in NESTED.get(verb.tag, set()), f"<{child.tag}> may not be inside <{verb.tag}>"
    return root


class CallFlow:
    """One call from `from_phone` to the hotline."""

    def __init__(self, client: TestClient, services: Services, from_phone: str, to_phone: str = HOTLINE_NUMBER):
        self.client, self.services = client, services
        self.sid = "CA" + uuid.uuid4().hex
        self.from_phone, self.to_phone = from_phone, to_phone
        self.said: list[str] = []  # every <Say> and <Play>, in order
        self.dialled: list[str] = []  # every number a <Dial> rang
        self.waiting: ET.Element | None = None  # the <Gather>, <Dial> or <Record> waiting for the caller
        self.rest: list[ET.Element] = []  # the verbs after it, run if it ends without an action
        self.ended = False
        self.requests = 0
        self.last_request: tuple[str, dict[str, str]] | None = None
        self.direction = "inbound"
        self.twiml_url: str | None = None  # a call the hotline placed: where Twilio fetches its TwiML
        self.status_url = services.settings.callback_url("/twilio/voice/status")

    @classmethod
    def placed(cls, client: TestClient, services: Services, sid: str, twiml_url: str, to_phone: str,
               status_url: str | None) -> CallFlow:  # fmt: skip
        """A call the hotline placed through the gateway (a check-in call, CallSid `sid`), ringing at `to_phone`."""
        flow = cls(client, services, from_phone=HOTLINE_NUMBER, to_phone=to_phone)
        flow.sid = sid
        flow.direction, flow.twiml_url = "outbound-api", twiml_url
        flow.status_url = status_url or flow.status_url
        return flow

    def pick_up(self, answered_by: str = "human") -> CallFlow:
        """The called phone is answered: by a person, or (answering-machine detection) `machine_start`."""
        assert self.twiml_url is not None, "only a call the hotline placed is picked up"
        self._post(self.twiml_url, {"AnsweredBy": answered_by, "CallStatus": "in-progress"})
        return self

    def not_picked_up(self, status: str = "no-answer") -> int:
        """A placed call ends unanswered (busy, no-answer, failed): Twilio's status report. Returns the HTTP status."""
        self.ended = True
        return self._post(self.status_url, {"CallStatus": status, "CallDuration": "0"}, expect_twiml=False)

    # ── the caller's moves ───────────────────────────────────────────────────────────────────────────────────

    def call(self) -> CallFlow:
        """Dial the hotline."""
        self._post(self.services.settings.callback_url("/twilio/voice"), {})
        return self

    def press(self, digit: str) -> CallFlow:
        """Press a key at the menu being said."""
        return self._gather({"Digits": digit})

    def silence(self) -> CallFlow:
        """Say and press nothing until the <Gather> times out."""
        return self._gather({})

    def speak(self, words: str) -> CallFlow:
        """Say words at the menu (speech recognition's result)."""
        return self._gather({"SpeechResult": words, "Confidence": "0.9"})

    def answer(self, seconds: int = 30) -> CallFlow:
        """The person being rung answers, talks, and hangs up."""
        return self._dial({"DialCallStatus": "completed", "DialCallDuration": str(seconds)})

    def no_answer(self, status: str = "no-answer") -> CallFlow:
        """The person being rung does not answer (or is busy, or the call fails)."""
        return self._dial({"DialCallStatus": status})

    def leave_message(self, seconds: int = 20) -> CallFlow:
        """Speak after the beep; Twilio posts the recording."""
        record = self._expect("Record")
        recording_sid = "RE" + uuid.uuid4().hex
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
        fields = {"RecordingUrl": url, "RecordingDuration": str(seconds), "RecordingSid": recording_sid}
        self._post(record.attrib["action"], fields)
        return self

    def say_nothing_after_beep(self) -> CallFlow:
        """Nothing recorded: Twilio goes on with the verbs after <Record>."""
        self._expect("Record")
        self._run(self.rest)
        return self

    def hang_up(self, status: str = "completed", seconds: int = 40) -> int:
        """The call ends; Twilio posts its status report. Returns the HTTP status."""
        self.waiting, self.ended = None, True
        return self._post(self.status_url, {"CallStatus": status, "CallDuration": str(seconds)}, expect_twiml=False)

    def resend(self) -> CallFlow:
        """Twilio sends the last request again (a retry after a timeout)."""
        assert self.last_request is not None
        self._post(*self.last_request)
        return self

    @property
    def last_said(self) -> str:
        """The last words said."""
        return self.said[-1] if self.said else ""

    # ── Twilio's side ────────────────────────────────────────────────────────────────────────────────────────

    def _expect(self, verb: str) -> ET.Element:
        assert not self.ended, "the call has ended"
        assert self.waiting is not None and self.waiting.tag == verb, f"expected <{verb}>, waiting at {self.waiting}"
        return self.waiting

    def _gather(self, fields: dict[str, str]) -> CallFlow:
        gather = self._expect("Gather")
        assert gather.attrib.get("actionOnEmptyResult") == "true" or fields, "silence would skip the action"
        self._post(gather.attrib["action"], {"Digits": "", **fields} if "Digits" not in fields else fields)
        return self

    def _dial(self, fields: dict[str, str]) -> CallFlow:
        dial = self._expect("Dial")
        if "action" in dial.attrib:
            self._post(dial.attrib["action"], fields)
        else:
            self._run(self.rest)
        return self

    def _post(self, url: str, fields: dict[str, str], expect_twiml: bool = True) -> int:
        parts = urlsplit(url)
        assert url.startswith(self.services.settings.public_url), f"{url} is not one of our URLs"
        params = {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.from_phone,
            "To": self.to_phone,
            "CallStatus": "in-progress",
            "Direction": self.direction,
            **fields,
        }
        signature = self.services.signature.sign(parts.path, params, parts.query)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=params, headers={SIGNATURE_HEADER: signature})
        self.requests += 1
        self.last_request = (url, fields)
        if expect_twiml:
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/xml")
            root = parse_voice_twiml(response.text)
            self.waiting, self.rest = None, []
            self._run(list(root))
        return response.status_code

    def _run(self, verbs: list[ET.Element]) -> None:
        for index, verb in enumerate(verbs):
            if verb.tag == "Say":
                self.said.append(verb.text or "")
            elif verb.tag == "Play":
                self.said.append(f"[play {verb.text}]")
            elif verb.tag in ("Gather", "Dial", "Record"):
                for child in verb:
                    if child.tag in ("Say", "Play"):
                        self.said.append(child.text or "" if child.tag == "Say" else f"[play {child.text}]")
                self.dialled += [child.text or "" for child in verb if child.tag == "Number"]
                self.waiting, self.rest = verb, verbs[index + 1 :]
                return
            elif verb.tag == "Redirect":
                self._post(verb.text or "", {})
                return
            elif verb.tag == "Hangup":
                self.ended = True
                return
        self.ended = True  # Twilio hangs up at the end of a document
