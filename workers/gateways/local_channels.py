"""The local gateway standing in for Tencent Cloud SMS or SMS Gateway for Android (`HOTLINE_LOCAL_CHANNEL`).

It still only records in the local outbox, but it sends as that provider would: Tencent's stand-in sends only what
an approved template renders, and records what the phone would really receive (the sign, the template filled in)
under a SerialNo; Android's records each SMS under the message id the phone is given for our row. Neither places
calls. So the demo's phone simulator can report on each SMS in that provider's own format, and the reports find
their rows through the same checks as the provider's.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy.orm import Session, sessionmaker

from dispatch import android_phones
from dispatch.sms_templates import TemplateTable, leading_sign
from workers.exceptions import GatewayRejectedError, RecordingMissingError
from workers.gateways.android_sms import provider_id
from workers.gateways.local import LocalGateway
from workers.gateways.recordings import RecordingMedia


class _NoCalls:
    """Neither channel places calls or keeps recordings: refused, as the providers' own gateways refuse them."""

    name = "local"
    _channel = ""

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        raise GatewayRejectedError(f"the local gateway standing in for {self._channel} places no calls")

    def open_recording(self, recording_url: str) -> RecordingMedia:
        raise RecordingMissingError(f"the local gateway standing in for {self._channel} holds no recordings")


class LocalTencentGateway(_NoCalls):
    """Records each SMS as Tencent would deliver it: rendered through its approved template."""

    _channel = "tencent"

    def __init__(self, local: LocalGateway, templates: TemplateTable, sign_name: str | None) -> None:
        self._local, self._templates, self._sign_name = local, templates, sign_name

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Refused, as Tencent refuses it, unless a template renders `body`; returns a SerialNo-shaped id."""
        found = self._templates.match(body)
        if found is None:
            raise GatewayRejectedError("tencent: no approved template renders this text")
        sign = self._sign_name or leading_sign(body) or ""
        serial = f"{1000 + secrets.randbelow(9000)}:{uuid.uuid4().int % 10**21:021d}"
        return self._local.record("sms", serial, to, found.rendered(sign), status_callback)


class LocalAndroidGateway(_NoCalls):
    """Records each SMS as sent by the phone `phone`, under the message id that phone would be given."""

    _channel = "android"

    def __init__(self, local: LocalGateway, sessions: sessionmaker[Session], phone: str) -> None:
        self._local, self._sessions, self._phone = local, sessions, phone

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Returns our provider id for it (AG<phone>:<message id>), as the Android gateway's."""
        message_id = None
        if outbound_id is not None:
            with self._sessions() as session:
                message_id = android_phones.message_id(session, outbound_id)
        sid = provider_id(self._phone, message_id or uuid.uuid4().hex[:12])
        return self._local.record("sms", sid, to, body, status_callback)
