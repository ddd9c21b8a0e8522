"""Services on the Android gateway, with phones that are local stand-ins of the app's local server, and webhooks
posted to the app signed as the phones sign them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx2 as httpx
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import android_phones, outbox
from dispatch.models import AndroidPhone, OutboundMessage
from hotline.services import Services
from hotline.settings import load_settings
from tests.conftest import fresh_services
from tests.standins.android import AndroidStandIn, signed_webhook

SIGNING_KEY = "a-long-signing-key-for-the-phones"


@contextlib.contextmanager
def android_services(environ: dict[str, str], phones: dict[str, str], **settings: str) -> Iterator[Services]:
    """Services whose gateway is the phones given as ANDROID_PHONES entries, by name."""
    loaded = load_settings(
        {
            **environ,
            "HOTLINE_GATEWAY": "android",
            "ANDROID_PHONES": ",".join(phones.values()),
            "ANDROID_SIGNING_KEY": SIGNING_KEY,
            **settings,
        },
        env_file=None,
    )
    with fresh_services(loaded) as built:
        yield built


def post_event(
    client: TestClient,
    phone: str,
    event: str,
    payload: dict[str, Any],
    *,
    key: str = SIGNING_KEY,
    timestamp: int | None = None,
) -> httpx.Response:
    """POST one webhook from the phone named `phone`, signed as the app signs it."""
    body, headers = signed_webhook(key, event, payload, timestamp=timestamp)
    return client.post(f"/android/events?phone={phone}", content=body, headers=headers)


def queue(services: Services, to: str, body: str, key: str, kind: str = "sms") -> int:
    """A stored SMS (or a call of `kind`), as the domain decides one: its row id."""
    with services.sessions.begin() as session:
        row = outbox.queue_sms(session, dedupe_key=key, to_phone=to, body=body, kind=kind)
        assert row is not None
        session.flush()
        return row.id


def outbound(services: Services, outbound_id: int) -> OutboundMessage:
    with services.sessions() as session:
        row = session.get(OutboundMessage, outbound_id)
        assert row is not None
        session.expunge(row)
        return row


def message_id_of(services: Services, outbound_id: int) -> str:
    with services.sessions() as session:
        found = android_phones.message_id(session, outbound_id)
    assert found is not None
    return found


def given_today(services: Services) -> dict[str, int]:
    with services.sessions() as session:
        return {row.name: row.given for row in session.scalars(select(AndroidPhone))}


def heard_at(services: Services, phone: str, when: datetime) -> None:
    """Make the phone last heard from at `when`, as if its last webhook came then."""
    with services.sessions.begin() as session:
        android_phones.mark_heard(session, phone, "system:ping", when)


def all_sent(*phones: AndroidStandIn) -> list[tuple[str, str]]:
    """(recipient, text) of every SMS the phones took."""
    return [(m["phoneNumbers"][0], m["textMessage"]["text"]) for phone in phones for m in phone.sent]
