"""TwiML for the voice hotline, written straight to text: the few verbs `voice_render` uses, with the same calls as
`twilio.twiml.voice_response` and the same bytes out.

Twilio's builder makes an element tree per response and serialises it with ElementTree; on the busiest voice steps
that was a tenth of a step's cost. This writes the same document directly: attributes named as twilio names them
(lower camel case), sorted, `True`/`False` as "true"/"false", None left out; text and attribute values escaped as
ElementTree escapes them; an element with neither text nor children closed as ` />`.
`tests/test_voice_twiml.py` holds every menu, put-through, voicemail and failure of the script, in every language
and for every kind of caller, byte for byte to what twilio's builder writes for the same calls.
"""

from __future__ import annotations

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _camel(name: str) -> str:
    """A keyword argument as twilio names the attribute: `action_on_empty_result` → `actionOnEmptyResult`."""
    if "_" not in name:
        return name
    joined = "".join(part.title() for part in name.split("_"))
    return joined[0].lower() + joined[1:]


def _text(text: str) -> str:
    """Character data, escaped as ElementTree escapes it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: object) -> str:
    """An attribute's value, written as twilio writes it and escaped as ElementTree escapes it."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    text = _text(text).replace('"', "&quot;")
    return text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")


class Verb:
    """One TwiML element: its attributes, its text, the verbs nested in it."""

    __slots__ = ("attributes", "children", "name", "text")

    def __init__(self, name: str, text: str | None = None, /, **attributes: object) -> None:
        self.name = name
        self.text = text
        self.attributes = {_camel(key): value for key, value in attributes.items() if value is not None}
        self.children: list[Verb] = []

    def _nest(self, name: str, text: str | None = None, /, **attributes: object) -> Verb:
        verb = Verb(name, text, **attributes)
        self.children.append(verb)
        return verb

    def say(self, message: str | None, **attributes: object) -> Verb:
        return self._nest("Say", message, **attributes)

    def play(self, url: str, **attributes: object) -> Verb:
        return self._nest("Play", url, **attributes)

    def gather(self, **attributes: object) -> Verb:
        return self._nest("Gather", **attributes)

    def dial(self, number: str | None = None, **attributes: object) -> Verb:
        return self._nest("Dial", number, **attributes)

    def number(self, phone_number: str, **attributes: object) -> Verb:
        return self._nest("Number", phone_number, **attributes)

    def record(self, **attributes: object) -> Verb:
        return self._nest("Record", **attributes)

    def pause(self, **attributes: object) -> Verb:
        return self._nest("Pause", **attributes)

    def prosody(self, words: str, **attributes: object) -> Verb:
        """SSML <prosody> inside <Say>: rate and volume (a resident's profile, `dispatch.ivr.hearing`)."""
        return self._nest("prosody", words, **attributes)

    def hangup(self) -> Verb:
        return self._nest("Hangup")

    def write(self, out: list[str]) -> None:
        """Append this element's XML to `out`."""
        out.append("<" + self.name)
        for key in sorted(self.attributes):
            out.append(f' {key}="{_attribute(self.attributes[key])}"')
        if not self.text and not self.children:
            out.append(" />")
            return
        out.append(">")
        if self.text:
            out.append(_text(self.text))
        for child in self.children:
            child.write(out)
        out.append(f"</{self.name}>")

    def __str__(self) -> str:
        out = [DECLARATION]
        self.write(out)
        return "".join(out)


def voice_response() -> Verb:
    """An empty <Response>, as `twilio.twiml.voice_response.VoiceResponse()`."""
    return Verb("Response")
