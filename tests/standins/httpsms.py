"""httpSMS's webhooks, made as its API server makes them (its webhook service), to post to our `/httpsms/events`.

Each event is a CloudEvents JSON object (`specversion`, `id`, `source`, `type`, `datacontenttype`, `time`, `data`),
POSTed with `Content-Type: application/json`, `X-Event-Type: <type>` and `Authorization: Bearer <JWT>`: the JWT
HS256, keyed with the webhook's signing key, with the claims aud (the webhook's URL, in a list), exp (ten minutes
on), iat, iss ("api.httpsms.com"), nbf (ten minutes back) and sub (the account's user id). A retry (httpSMS tries
a failed webhook once more) sends the same event with a new token.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

import jwt

SIM_PHONE = "+8613800009999"  # the street office's phone (the webhook's `owner`)
USER_ID = "WB7DRDWrJZRGbYrv2CKGkqbzvqdC"  # an httpSMS account's user id


def token(key: str, url: str, *, now: float | None = None, algorithm: str = "HS256", **claims: Any) -> str:
    """A token as httpSMS signs one for the webhook at `url`; `claims` change or (None) drop any of them."""
    at = time.time() if now is None else now
    made: dict[str, Any] = {
        "aud": [url],
        "exp": int(at + 600),
        "iat": int(at),
        "iss": "api.httpsms.com",
        "nbf": int(at - 600),
        "sub": USER_ID,
    }
    made.update(claims)
    signing = None if algorithm == "none" else key  # an unsigned token, as a forger would send one
    return jwt.encode({k: v for k, v in made.items() if v is not None}, signing, algorithm=algorithm)


def missed_call_event(contact: str, rang_at: datetime, *, event_id: str | None = None) -> dict[str, Any]:
    """The `message.call.missed` CloudEvent for a call from `contact` to the SIM, missed at `rang_at`."""
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "/v1/messages/calls/missed",
        "type": "message.call.missed",
        "datacontenttype": "application/json",
        "time": rang_at.isoformat(),
        "data": {
            "message_id": str(uuid.uuid4()),
            "user_id": USER_ID,
            "owner": SIM_PHONE,
            "contact": contact,
            "timestamp": rang_at.isoformat(),
            "sim": "SIM1",
        },
    }


def other_event(kind: str, contact: str) -> dict[str, Any]:
    """Another event httpSMS may send, e.g. `message.phone.received` (an SMS the phone received)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/v1/messages/receive",
        "type": kind,
        "datacontenttype": "application/json",
        "time": "2026-12-07T09:00:00Z",
        "data": {"owner": SIM_PHONE, "contact": contact, "content": "我胸口痛", "sim": "SIM1", "user_id": USER_ID},
    }


def webhook(event: dict[str, Any], bearer: str | None) -> tuple[bytes, dict[str, str]]:
    """The request's body and headers; `bearer` None: no Authorization header."""
    headers = {"Content-Type": "application/json", "X-Event-Type": event["type"]}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return json.dumps(event).encode(), headers
