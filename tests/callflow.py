"""A call-flow runner: plays a phone and Twilio against our voice webhooks, through Starlette's TestClient.

The TwiML interpreter is the product's own (`hotline.simulator.twiml`, which the phone simulator uses too);
this runner only posts its requests, signed with the hotline's token, and feeds the answers back. Every response
is checked to be voice TwiML: a <Response> root, and only verbs valid in a voice call (never <Message>).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from hotline.services import Services
from hotline.simulator import twiml
from hotline.simulator.twiml import Call, Step
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import HOTLINE_NUMBER

ACCOUNT_SID = "AC" + "1" * 32


def parse_voice_twiml(xml: str) -> ET.Element:
    """The parsed response, if it is valid voice TwiML; AssertionError saying why if not."""
    try:
        return twiml.parse_voice_twiml(xml)
    except twiml.InvalidTwiml as exc:
        raise AssertionError(str(exc)) from None


class CallFlow:
    """One call from `from_phone` to the hotline."""

    def __init__(self, client: TestClient, services: Services, from_phone: str, to_phone: str = HOTLINE_NUMBER):
        self.client, self.services = client, services
        self.call_state = Call(
            sid=Call.new_sid(),
            from_phone=from_phone,
            to_phone=to_phone,
            account_sid=ACCOUNT_SID,
            status_url=services.settings.callback_url("/twilio/voice/status"),
        )
        self.requests = 0
        self.last_request: Step | None = None

    @classmethod
    def placed(
        cls, client: TestClient, services: Services, sid: str, twiml_url: str, to_phone: str, status_url: str | None
    ) -> CallFlow:
        """A call the hotline placed through the gateway (a check-in call, CallSid `sid`), ringing at `to_phone`."""
        flow = cls(client, services, from_phone=HOTLINE_NUMBER, to_phone=to_phone)
        call = flow.call_state
        call.sid, call.direction, call.twiml_url = sid, "outbound-api", twiml_url
        call.status_url = status_url or call.status_url
        return flow

    # ── what the caller heard and where the call is ──────────────────────────────────────────────────────────

    @property
    def sid(self) -> str:
        return self.call_state.sid

    @property
    def said(self) -> list[str]:
        """Every <Say> and <Play>, in order."""
        return [s.text for s in self.call_state.said]

    @property
    def last_said(self) -> str:
        return self.said[-1] if self.said else ""

    @property
    def dialled(self) -> list[str]:
        return self.call_state.dialled

    @property
    def waiting(self) -> ET.Element | None:
        return self.call_state.waiting

    @waiting.setter
    def waiting(self, verb: ET.Element | None) -> None:
        self.call_state.waiting = verb

    @property
    def ended(self) -> bool:
        return self.call_state.ended

    @ended.setter
    def ended(self, value: bool) -> None:
        self.call_state.ended = value

    # ── the caller's moves ───────────────────────────────────────────────────────────────────────────────────

    def call(self) -> CallFlow:
        """Dial the hotline."""
        return self._go(Step(self.services.settings.callback_url("/twilio/voice"), {}))

    def pick_up(self, answered_by: str = "human") -> CallFlow:
        return self._go(self.call_state.pick_up(answered_by))

    def not_picked_up(self, status: str = "no-answer") -> int:
        return self._post(self.call_state.not_picked_up(status))[0]

    def press(self, digit: str) -> CallFlow:
        return self._go(self.call_state.press(digit))

    def silence(self) -> CallFlow:
        # Our menus always ask to hear about silence; Twilio would otherwise go on past the <Gather>.
        gather = self.call_state.expect("Gather")
        assert gather.attrib.get("actionOnEmptyResult") == "true", "silence would skip the action"
        return self._go(self.call_state.silence())

    def speak(self, words: str) -> CallFlow:
        return self._go(self.call_state.speak(words))

    def answer(self, seconds: int = 30) -> CallFlow:
        return self._go(self.call_state.answer(seconds))

    def no_answer(self, status: str = "no-answer") -> CallFlow:
        return self._go(self.call_state.no_answer(status))

    def leave_message(self, seconds: int = 20, recording_url: str | None = None) -> CallFlow:
        """Speak after the beep; Twilio posts `recording_url` (by default one of an account at api.twilio.com)."""
        recording_sid = "RE" + uuid.uuid4().hex
        url = recording_url or f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
        return self._go(self.call_state.record(seconds, url, recording_sid))

    def say_nothing_after_beep(self) -> CallFlow:
        return self._go(self.call_state.record_nothing())

    def hang_up(self, status: str = "completed", seconds: int = 40) -> int:
        """The call ends; Twilio posts its status report. Returns the HTTP status."""
        return self._post(self.call_state.hang_up(status, seconds))[0]

    def resend(self) -> CallFlow:
        """Twilio sends the last request again (a retry after a timeout)."""
        assert self.last_request is not None
        return self._go(self.last_request)

    # ── Twilio's side ────────────────────────────────────────────────────────────────────────────────────────

    def _go(self, step: Step | None) -> CallFlow:
        """Post `step`, feed the answer to the call, and follow redirects until the call waits or ends."""
        while step is not None:
            _, text = self._post(step)
            assert step.twiml
            step = self.call_state.feed(text)
        return self

    def _post(self, step: Step) -> tuple[int, str]:
        assert step.url.startswith(self.services.settings.public_url), f"{step.url} is not one of our URLs"
        parts = urlsplit(step.url)
        params = self.call_state.params(step.fields)
        signature = self.services.signature.sign(parts.path, params, parts.query)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=params, headers={SIGNATURE_HEADER: signature})
        self.requests += 1
        self.last_request = step
        if step.twiml:
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/xml")
            parse_voice_twiml(response.text)
        return response.status_code, response.text
