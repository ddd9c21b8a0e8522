"""SMS Gateway for Android: a community's own SIM, in an Android phone, sends the hotline's SMS.

Sent with the app's own client (`android-sms-gateway`) over httpx, with our timeout (the client sets none). Each
phone is a base URL with its login and password: the phone's local server (`http://<phone-ip>:8080`) or the cloud
server (`https://api.sms-gate.app/3rdparty/v1`) with the phone's device id. Several phones share the load; the
database says which one takes each SMS (`dispatch.android_phones`). This channel places no calls and keeps no
recordings. (Its webhooks are `hotline.webhooks.android_sms`.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from android_sms_gateway import APIClient, domain
from android_sms_gateway.errors import APIError
from android_sms_gateway.http import HttpxHttpClient
from sqlalchemy.orm import Session, sessionmaker

from dispatch import android_phones
from dispatch.models import utcnow
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayError,
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
)
from workers.gateways.recordings import RecordingMedia

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines name the phone's URL on every request
PROVIDER_PREFIX = "AG"  # our provider ids: AG<phone>:<message id>


@dataclass(frozen=True)
class AndroidPhoneConfig:
    """One phone of `ANDROID_PHONES`."""

    name: str  # short, ours: in provider ids, webhook URLs and the console
    base_url: str
    login: str
    password: str = field(repr=False)
    device_id: str | None = None  # cloud mode: which of the account's phones sends
    daily_limit: int | None = None  # None: ANDROID_DAILY_LIMIT


def provider_id(phone: str, message_id: str) -> str:
    """Our provider id for a message the phone `phone` took under `message_id`."""
    return f"{PROVIDER_PREFIX}{phone}:{message_id}"


class AndroidSmsGateway:
    """Sends SMS through one of several phones running SMS Gateway for Android."""

    name = "android"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        phones: Sequence[AndroidPhoneConfig],
        *,
        daily_limit: int,
        quiet_after: timedelta,
        timezone: ZoneInfo,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not phones:
            raise ValueError("AndroidSmsGateway needs at least one phone")
        self._sessions = sessions
        self._phones = {phone.name: phone for phone in phones}
        self._order = [phone.name for phone in phones]
        self._limits = {phone.name: phone.daily_limit or daily_limit for phone in phones}
        self._quiet_after = quiet_after
        self._timezone = timezone
        self._clock = clock
        self._http = httpx.Client(timeout=timeout)  # shared by the phones' clients: one connection pool
        self._clients = {
            phone.name: APIClient(
                phone.login, phone.password, base_url=phone.base_url, http=HttpxHttpClient(self._http)
            )
            for phone in phones
        }

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Hand the SMS to a phone, under a message id made from our row, so a repeat is refused by the phone.

        Phones are tried in an order that turns with the row's id (so they share the load, and a row tried again
        goes to the phone it went to first); a phone at its daily limit is skipped, a quiet one comes last. A
        phone that cannot be reached, or answers that it is busy, hands the SMS to the next.

        Raises:
            GatewayTemporaryError: No phone took it (every one full, unreachable or busy): try again later.
            GatewayRejectedError: A phone refused it for good (4xx), or the row is unknown.
            GatewayAmbiguousError: A phone got it but did not answer in time: it may send it.
        """
        if outbound_id is None:
            raise GatewayRejectedError("the android gateway sends only stored messages (no outbound id)")
        now = self._clock()
        today = now.astimezone(self._timezone).date()
        with self._sessions.begin() as session:
            message_id = android_phones.message_id(session, outbound_id)
        if message_id is None:
            raise GatewayRejectedError(f"no outbound message {outbound_id}")
        turn = outbound_id % len(self._order)
        order = self._order[turn:] + self._order[:turn]
        tried: list[str] = []
        last: GatewayError | None = None
        while True:
            candidates = [(name, self._limits[name]) for name in order if name not in tried]
            with self._sessions.begin() as session:
                phone = android_phones.reserve(
                    session, candidates, today=today, quiet_before=now - self._quiet_after, now=now
                )
            if phone is None:
                if last is not None:
                    raise last
                raise GatewayTemporaryError("every phone has reached its daily limit today")
            tried.append(phone)
            try:
                sent, repeat = self._send_through(phone, to, body, message_id)
            except GatewayTemporaryError as exc:
                self._release(phone, today)
                log.warning("phone %s did not take outbound=%s: %s", phone, outbound_id, exc)
                last = exc
            except GatewayRejectedError:
                self._release(phone, today)
                raise
            else:
                if repeat:  # counted when that earlier try was taken
                    self._release(phone, today)
                return sent

    def _send_through(self, phone: str, to: str, body: str, message_id: str) -> tuple[str, bool]:
        """One phone, one try: its provider id and whether the phone had it already, or the error that says what
        to do next."""
        config = self._phones[phone]
        message = domain.Message(
            phone_numbers=[to],
            text_message=domain.TextMessage(text=body),
            with_delivery_report=True,
            id=message_id,
            device_id=config.device_id,
        )
        try:
            state = self._clients[phone].send(message)
        except APIError as exc:
            status = int(exc.status_code)
            if status == 409:  # the phone has this id already: an earlier try was taken; never a second SMS
                log.info("phone %s already had message %s", phone, message_id)
                return provider_id(phone, message_id), True
            detail = f"phone {phone} answered {status}"
            if status == 429 or status >= 500:  # busy, its queue full (503), or down: not taken
                raise GatewayTemporaryError(detail, status=status) from None
            raise GatewayRejectedError(detail, status=status) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # No connection was made, or none was free: the phone cannot have seen the request.
            raise GatewayTemporaryError(f"cannot reach phone {phone}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            # Sent (or partly sent), then no answer: the phone may have taken it.
            raise GatewayAmbiguousError(f"no answer from phone {phone}: {type(exc).__name__}") from None
        except (ValueError, KeyError, TypeError) as exc:
            # A 2xx the client could not read (a state newer than it knows, a body that is not JSON): taken.
            log.warning(
                "phone %s took message %s; its answer could not be read (%s)", phone, message_id, type(exc).__name__
            )
            return provider_id(phone, message_id), False
        return provider_id(phone, str(state.id or message_id)), False

    def _release(self, phone: str, today: date) -> None:
        with self._sessions.begin() as session:
            android_phones.release(session, phone, today)

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        """This channel places no calls: refused, so a check-in call's ladder moves on to its next rung."""
        raise GatewayRejectedError("the android SMS gateway places no calls")

    def open_recording(self, recording_url: str) -> RecordingMedia:
        """This channel keeps no recordings."""
        raise RecordingMissingError("the android SMS gateway keeps no recordings", status=404)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()
