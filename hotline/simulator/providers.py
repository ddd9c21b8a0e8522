"""What a provider posts to our webhooks when a simulated phone texts the hotline, and when it reports on an SMS
the hotline sent it: in that provider's own format, to its own webhook, signed (or carrying the secret) as that
provider does. The provider is the one the local gateway stands in for (`HOTLINE_LOCAL_CHANNEL`).

- Twilio: form fields, `X-Twilio-Signature`, to /twilio/sms and to each SMS's status callback URL.
- Tencent Cloud SMS: the reply callback's JSON object and the status callback's JSON array, to the URLs that carry
  `?s=` and the callback secret.
- SMS Gateway for Android: the app's webhook envelopes (`sms:received`, `sms:delivered`, `sms:failed`), signed
  with the signing key and `X-Timestamp`, to /android/events?phone=<the phone's name>.

Every request goes through the app's own ASGI stack and its real checks: there is no unsigned way in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import phonenumbers

from hotline.services import Services
from hotline.webhooks import paths
from hotline.webhooks.android_sms import SIGNATURE_HEADER as ANDROID_SIGNATURE
from hotline.webhooks.android_sms import TIMESTAMP_HEADER
from hotline.webhooks.signatures import SIGNATURE_HEADER as TWILIO_SIGNATURE
from workers.gateways.android_sms import provider_id
from workers.gateways.local import LOCAL_ACCOUNT_SID

LOCAL_HOTLINE_NUMBER = "+8657100000000"  # our number, when TWILIO_FROM_NUMBER is unset
DEVICE_ID = "ffffffffceb0b1db0000018e937c815b"  # the simulated Android phone's device id


@dataclass(frozen=True)
class Delivered:
    """An SMS the local gateway recorded, to report on: its provider id, recipient and status callback URL."""

    sid: str
    to_phone: str
    status_callback: str | None

    @property
    def outbound_id(self) -> int | None:
        """Our row's id, carried in the status callback URL (`?o=`)."""
        found = parse_qs(urlsplit(self.status_callback or "").query).get("o", [""])[0]
        return int(found) if found.isdigit() else None


class Provider(Protocol):
    """One provider's requests to our webhooks; each returns the HTTP status the webhook answered."""

    async def send_sms(self, phone: str, body: str) -> int: ...

    async def report(self, sms: Delivered, delivered: bool) -> int: ...


def hotline_number(services: Services) -> str:
    return services.settings.twilio_from_number or LOCAL_HOTLINE_NUMBER


class Poster:
    """Posts to the app's own webhooks in-process (httpx2's ASGITransport), only to our own URLs."""

    def __init__(self, app: Any, services: Services) -> None:
        self.services = services
        self._transport = httpx.ASGITransport(app=app)
        self._base = services.settings.public_url

    async def post_raw(self, url: str, headers: dict[str, str], **body: Any) -> tuple[int, str]:
        if not url.startswith(self._base):
            raise ValueError(f"{url} is not one of our URLs")
        async with httpx.AsyncClient(transport=self._transport, base_url=self._base) as client:
            response = await client.post(url, headers=headers, **body)
        return response.status_code, response.text

    async def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """Form fields, signed as Twilio signs them with the hotline's token."""
        parts = urlsplit(url)
        signature = self.services.signature.sign(parts.path, params, parts.query)
        return await self.post_raw(url, {TWILIO_SIGNATURE: signature}, data=params)


class Twilio:
    def __init__(self, poster: Poster) -> None:
        self._poster, self._services = poster, poster.services

    async def send_sms(self, phone: str, body: str) -> int:
        """The fields Twilio posts for an inbound SMS."""
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": LOCAL_ACCOUNT_SID,
            "From": phone,
            "To": hotline_number(self._services),
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        status, _ = await self._poster.post(self._services.settings.callback_url(paths.SMS), params)
        return status

    async def report(self, sms: Delivered, delivered: bool) -> int:
        """Twilio's status callback, to the URL the SMS was sent with; undelivered with 30003 (unreachable)."""
        status = "delivered" if delivered else "undelivered"
        params = {
            "MessageSid": sms.sid,
            "SmsSid": sms.sid,
            "AccountSid": LOCAL_ACCOUNT_SID,
            "From": hotline_number(self._services),
            "To": sms.to_phone,
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": "2010-04-01",
            **({} if delivered else {"ErrorCode": "30003"}),
        }
        url = sms.status_callback or self._services.settings.callback_url(paths.STATUS)
        return (await self._poster.post(url, params))[0]


def national(phone: str) -> tuple[str, str]:
    """(nationcode, mobile) of an E.164 number, as Tencent writes them: "86", "13812345678"."""
    parsed = phonenumbers.parse(phone)
    return str(parsed.country_code), str(parsed.national_number)


class Tencent:
    def __init__(self, poster: Poster) -> None:
        self._poster, self._services = poster, poster.services

    def _url(self, path: str) -> str:
        secret = self._services.settings.tencent_callback_secret
        return f"{self._services.settings.callback_url(path)}?s={secret}"

    async def _post(self, path: str, payload: Any) -> int:
        content = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        return (await self._poster.post_raw(self._url(path), headers, content=content))[0]

    async def send_sms(self, phone: str, body: str) -> int:
        """The reply callback: one object (extend, mobile, nationcode, sign, text, time in Unix seconds)."""
        nationcode, mobile = national(phone)
        sign = self._services.settings.tencent_sms_sign_name or ""
        reply = {"extend": "", "mobile": mobile, "nationcode": nationcode, "sign": sign, "text": body}
        return await self._post(paths.Tencent.REPLY, {**reply, "time": int(time.time())})

    async def report(self, sms: Delivered, delivered: bool) -> int:
        """The status callback: an array of reports, each keyed by the SerialNo (`sid`), `ext` echoing our id."""
        nationcode, mobile = national(sms.to_phone)
        received = datetime.now(self._services.settings.timezone).strftime("%Y-%m-%d %H:%M:%S")
        report = {
            "user_receive_time": received,
            "nationcode": nationcode,
            "mobile": mobile,
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": "DELIVRD" if delivered else "UNDELIV",
            "description": "DELIVRD" if delivered else "UNDELIV",
            "sid": sms.sid,
            **({} if sms.outbound_id is None else {"ext": str(sms.outbound_id)}),
        }
        return await self._post(paths.Tencent.STATUS, [report])


class Android:
    def __init__(self, poster: Poster) -> None:
        self._poster, self._services = poster, poster.services
        self._phone = self._services.settings.android_phones[0].name

    async def _post(self, event: str, payload: dict[str, Any]) -> int:
        """One webhook envelope, signed as the app signs it: hex HMAC-SHA256 of the body then the timestamp."""
        envelope = {
            "deviceId": DEVICE_ID,
            "event": event,
            "id": secrets.token_urlsafe(15),
            "webhookId": "hotline-" + event.replace(":", "-"),
            "payload": payload,
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        key = str(self._services.settings.android_signing_key).encode()
        headers = {
            "Content-Type": "application/json",
            ANDROID_SIGNATURE: hmac.new(key, body + stamp.encode(), hashlib.sha256).hexdigest(),
            TIMESTAMP_HEADER: stamp,
        }
        url = self._services.settings.callback_url(paths.android_events_path(self._phone))
        return (await self._poster.post_raw(url, headers, content=body))[0]

    def _now(self) -> str:
        """The phone's local time with its offset, as the app writes times."""
        return datetime.now(self._services.settings.timezone).isoformat(timespec="milliseconds")

    async def send_sms(self, phone: str, body: str) -> int:
        """`sms:received`; the app's messageId is a content-based 32-bit hash, in hex."""
        received = self._now()
        message_id = f"{zlib.crc32(f'{phone}{received}{body}'.encode()):08x}"
        payload = {
            "messageId": message_id,
            "message": body,
            "sender": phone,
            "recipient": None,
            "phoneNumber": phone,
            "simNumber": 1,
            "receivedAt": received,
        }
        return await self._post("sms:received", payload)

    async def report(self, sms: Delivered, delivered: bool) -> int:
        """`sms:delivered` or `sms:failed` on the message id the phone was given for our row."""
        message_id = sms.sid.removeprefix(provider_id(self._phone, ""))
        payload: dict[str, Any] = {
            "messageId": message_id,
            "recipient": sms.to_phone,
            "phoneNumber": sms.to_phone,
            "simNumber": 1,
        }
        if delivered:
            return await self._post("sms:delivered", {**payload, "deliveredAt": self._now()})
        return await self._post(
            "sms:failed", {**payload, "failedAt": self._now(), "reason": "RESULT_ERROR_GENERIC_FAILURE"}
        )


PROVIDERS: dict[str, type[Twilio] | type[Tencent] | type[Android]] = {
    "twilio": Twilio,
    "tencent": Tencent,
    "android": Android,
}


def provider(poster: Poster) -> Provider:
    """The provider the local gateway stands in for, posting through `poster`."""
    return PROVIDERS[poster.services.settings.channel](poster)
