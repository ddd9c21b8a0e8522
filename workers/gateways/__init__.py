"""One interface for sending SMS and placing calls: Twilio in production, the local outbox elsewhere."""

from __future__ import annotations

from typing import Protocol


class Gateway(Protocol):
    """Sends SMS and places calls. Implementations raise `workers.exceptions.GatewayError` subclasses."""

    name: str

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Hand one SMS to the network.

        Args:
            to: The recipient in E.164.
            body: The text.
            status_callback: The URL to report delivery to.

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
