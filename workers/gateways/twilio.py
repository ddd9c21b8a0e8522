"""Twilio's REST gateway. (The webhook signature check is in hotline.webhooks.signatures, TwiML in hotline.webhooks.)"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from dispatch.provider_answers import provider_error
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
)
from workers.gateways.recordings import CHUNK, RecordingMedia, recording_path, recording_sid_of

# The twilio client logs request bodies (numbers, texts) at DEBUG: keep them out of our logs.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class TwilioGateway:
    """Sends through Twilio's REST API with the official client."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None,
        messaging_service_sid: str | None,
        api_base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("TwilioGateway needs a from number or a messaging service SID")
        self._from_number = from_number
        self._messaging_service_sid = messaging_service_sid
        self._http = TwilioHttpClient(timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        # Pointing the API domain elsewhere is how tests reach a local stand-in of Twilio's REST API.
        self._client.api.base_url = api_base_url
        self._account_sid, self._auth = account_sid, (account_sid, auth_token)
        self._api_base_url, self._timeout = api_base_url, timeout

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Create one Message. A messaging service, when set, wins over the from number."""
        sender = (
            {"messaging_service_sid": self._messaging_service_sid}
            if self._messaging_service_sid
            else {"from_": self._from_number}
        )
        extra = {"status_callback": status_callback} if status_callback else {}
        with _translated_errors():
            message = self._client.messages.create(to=to, body=body, **sender, **extra)
        return str(message.sid)

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        """Create one Call whose TwiML is fetched from `twiml_url`, with answering-machine detection if asked."""
        if not self._from_number:
            raise GatewayRejectedError("placing calls needs TWILIO_FROM_NUMBER")
        extra: dict[str, str] = {"status_callback": status_callback} if status_callback else {}
        if machine_detection:
            extra["machine_detection"] = "Enable"
        with _translated_errors():
            call = self._client.calls.create(to=to, from_=self._from_number, url=twiml_url, **extra)
        return str(call.sid)

    def open_recording(self, recording_url: str) -> RecordingMedia:
        """GET the recording's MP3 from our own account, with its credentials, and hand the audio on as it comes.

        Only the recording SID is taken from `recording_url` (see `recordings.recording_sid_of`). The twilio
        client's `request` reads every answer as text, which would corrupt audio, so the bytes come through the
        same pooled HTTP session it uses, streamed.
        """
        sid = recording_sid_of(recording_url, api_base_url=self._api_base_url, account_sid=self._account_sid)
        url = recording_path(self._api_base_url, self._account_sid, sid) + ".mp3"
        session = self._http.session or requests.Session()
        with _translated_errors():
            # Twilio may redirect to its storage; requests drops the credentials when the host changes.
            response = session.get(url, auth=self._auth, stream=True, timeout=self._timeout)
        if response.status_code == 404:
            response.close()
            raise RecordingMissingError(f"twilio has no recording {sid[-6:]}", status=404)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.status_code != 200 or not content_type.startswith("audio/"):
            response.close()
            status = response.status_code
            error = GatewayTemporaryError if status == 429 or status >= 500 else GatewayRejectedError
            raise error(
                f"twilio answered {status} ({content_type or 'no type'}) for recording {sid[-6:]}", status=status
            )
        length = response.headers.get("content-length", "")
        return RecordingMedia(
            content_type=content_type,
            size=int(length) if length.isascii() and length.isdigit() else None,
            chunks=response.iter_content(CHUNK),
            close=response.close,
        )


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn twilio and requests errors into gateway errors that say what to do next."""
    try:
        yield
    except TwilioRestException as exc:
        status = int(exc.status)
        detail = f"twilio {status} code {exc.code}"
        # Throttled (429, or a rate-limit code such as 63018 whatever the HTTP status) or an outage: retried later.
        if status == 429 or status >= 500 or provider_error(exc.code).temporary:
            raise GatewayTemporaryError(detail, status=status, code=exc.code) from None
        raise GatewayRejectedError(detail, status=status, code=exc.code) from None
    except requests.RequestException as exc:
        if _never_left(exc):
            # No connection was made (DNS, refused, connect timeout): safe to try again.
            raise GatewayTemporaryError(f"cannot reach Twilio: {type(exc).__name__}") from None
        # Sent, but no answer: Twilio may have created the message.
        raise GatewayAmbiguousError(f"no answer from Twilio: {type(exc).__name__}") from None


def _never_left(exc: BaseException) -> bool:
    """True if the request failed before a connection was made, so Twilio cannot have seen it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:  # requests wraps urllib3's MaxRetryError, whose .reason is the real cause
        item = pending.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        # NameResolutionError (DNS) is a subclass of NewConnectionError.
        if isinstance(item, NewConnectionError | ConnectTimeoutError):
            return True
        pending.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return False
