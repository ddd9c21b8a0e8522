"""One interface for sending SMS, placing calls and fetching voicemails: Twilio in production, the local outbox
elsewhere."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from workers.gateways.recordings import RecordingMedia


class Gateway(Protocol):
    """Sends SMS, places calls and opens voicemail recordings.

    Implementations raise `workers.exceptions.GatewayError` subclasses."""

    name: str

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Hand one SMS to the network.

        Args:
            to: The recipient in E.164.
            body: The text.
            status_callback: The URL to report delivery to, where the provider takes one per message.
            outbound_id: Our row's id, for a provider that takes the sender's own message id (a repeat of the same
                id is then refused, not sent twice) or echoes a context back in its reports.

        Returns:
            The provider's id for the message (Twilio's MessageSid).
        """
        ...

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        """Place one outbound call that fetches its TwiML from `twiml_url`. Returns the CallSid.

        With `machine_detection`, Twilio tells the TwiML request and the status callback whether a person or a
        machine answered (AnsweredBy)."""
        ...

    def open_recording(self, recording_url: str) -> RecordingMedia:
        """Open a voicemail's audio, with our account's credentials, for staff to hear.

        Args:
            recording_url: The RecordingUrl Twilio posted, as stored.

        Returns:
            The audio, open: read its chunks, then close it.

        Raises:
            RecordingRefusedError: The URL is not a recording of our account under our API base; nothing fetched.
            RecordingMissingError: The provider has no such recording.
            GatewayError: The provider could not be reached, or refused us.
        """
        ...


@runtime_checkable
class TemplateCalls(Protocol):
    """A gateway whose check-in call is an approved template read aloud (Tencent Cloud's voice messages), not
    TwiML fetched from us: it is told whom to greet, and reports keys and the call's end by its own callback."""

    def place_checkin_call(self, to: str, *, name: str, outbound_id: int) -> str:
        """Place the check-in call to `to`, greeting `name`. Returns the provider's call id."""
        ...
