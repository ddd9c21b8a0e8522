"""A local stand-in of SMS Gateway for Android's local server (the phone's own API, `http://<phone-ip>:8080`), for
the real `android-sms-gateway` client to talk to, and webhooks posted as the app posts them.

The stand-in follows the app's contract: Basic auth on every route but `/health` (401 otherwise); `POST /messages`
takes `{"phoneNumbers", "textMessage": {"text"}, "id", "deviceId", …}` and answers 202 with the message's state; a
message id it already has is a 409; a device id other than its own is a 400. It records every request, and can be
told to answer with errors (5xx, 503 for a full queue, 429) or too late (after the client gave up).

`signed_webhook` builds a webhook as the app's PayloadSigningPlugin signs it: `X-Signature` = hex HMAC-SHA256 of the
body text followed by `X-Timestamp` (Unix seconds), keyed with the phone's signing key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins.loopback import LoopbackServer

LOGIN = "sms"  # the app's default local-server user name


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    body: dict[str, Any] | None
    basic_auth: tuple[str, str] | None


@dataclass
class AndroidStandIn:
    """One phone's local server."""

    password: str = field(default_factory=lambda: secrets.token_urlsafe(6))  # the app shows a random one
    device_id: str = field(default_factory=lambda: secrets.token_hex(16))
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # accepted, by message id
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer the next sends with, in order
    hang_next: int = 0  # take this many sends, but answer only after the client has given up (when it closes)
    prefix: str = ""  # "/3rdparty/v1": the cloud server's API path, where the message names the device by its id
    base_url: str = ""
    _loopback: LoopbackServer | None = None
    _closing: bool = False

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The messages the phone took, in order."""
        return list(self.messages.values())

    async def _hang(self) -> None:
        for _ in range(1200):  # until the stand-in closes, a minute at most: past any client's timeout
            if self._closing:
                return
            await asyncio.sleep(0.05)

    def _record(self, request: Request, body: dict[str, Any] | None) -> bool:
        """Record the request; True if its Basic credentials are the phone's."""
        auth = request.headers.get("authorization", "")
        basic = None
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            basic = (user, password)
        self.requests.append(RecordedRequest(request.method, request.url.path, request.url.query, body, basic))
        return basic == (LOGIN, self.password)

    async def _send(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not self._record(request, body if isinstance(body, dict) else None):
            return JSONResponse({"message": "Unauthorized"}, 401, headers={"WWW-Authenticate": 'Basic realm="Ktor"'})
        if self.fail_next:
            status = self.fail_next.pop(0)
            return JSONResponse({"message": f"stand-in error {status}"}, status)
        if not isinstance(body, dict) or not isinstance(body.get("phoneNumbers"), list):
            return JSONResponse({"message": "phoneNumbers is required"}, 400)
        text = (body.get("textMessage") or {}).get("text")
        if not isinstance(text, str) or not text:
            return JSONResponse({"message": "textMessage.text is required"}, 400)
        if body.get("deviceId") not in (None, self.device_id):
            return JSONResponse({"message": "Invalid device ID"}, 400)
        message_id = body.get("id") or secrets.token_urlsafe(16)
        if message_id in self.messages:
            return JSONResponse({"message": "Message with such ID already exists"}, 409)
        self.messages[message_id] = body
        if self.hang_next:
            self.hang_next -= 1
            await self._hang()
        state = {
            "id": message_id,
            "deviceId": self.device_id,
            "state": "Pending",
            "isHashed": False,
            "isEncrypted": False,
            "recipients": [{"phoneNumber": number, "state": "Pending"} for number in body["phoneNumbers"]],
            "states": {"Pending": "2030-03-04T09:00:00.000+08:00"},
        }
        return JSONResponse(state, 202)

    async def _health(self, request: Request) -> Response:
        self._record(request, None)
        return JSONResponse({"status": "pass", "version": "1.0.0", "releaseId": 1, "checks": {}})

    def __enter__(self) -> AndroidStandIn:
        app = Starlette(
            routes=[
                Route(self.prefix + "/messages", self._send, methods=["POST"]),
                Route(self.prefix + "/health", self._health),
            ]
        )
        self._loopback = LoopbackServer(app, "the Android stand-in")
        self.base_url = self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loopback is not None
        self._closing = True
        self._loopback.stop()

    def setting(self, name: str, **query: str) -> str:
        """This phone as an entry of ANDROID_PHONES."""
        host = self.base_url.removeprefix("http://")
        extra = "&".join(f"{key}={value}" for key, value in query.items())
        return f"{name}=http://{LOGIN}:{self.password}@{host}{self.prefix}" + (f"?{extra}" if extra else "")


def hmac_signature(key: str, body: bytes, timestamp: str) -> str:
    """The app's signature: hex HMAC-SHA256 of the body text followed by the timestamp, keyed with `key`."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def signed_webhook(
    key: str,
    event: str,
    payload: dict[str, Any],
    *,
    device_id: str = "ffffffffceb0b1db0000018e937c815b",
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers the app posts for one webhook, signed with `key` at `timestamp` (now if None)."""
    envelope = {
        "deviceId": device_id,
        "event": event,
        "id": secrets.token_urlsafe(15),
        "webhookId": "hotline-" + event.replace(":", "-"),
        "payload": payload,
    }
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Signature": hmac_signature(key, text.encode(), stamp),
        "X-Timestamp": stamp,
    }
    return text.encode(), headers


def received_payload(sender: str, text: str, *, message_id: str = "3e1f9a7c", sim: int = 1) -> dict[str, Any]:
    """An `sms:received` payload as the app sends it (its messageId: a 32-bit hash, in hex)."""
    return {
        "messageId": message_id,
        "message": text,
        "sender": sender,
        "recipient": None,
        "phoneNumber": sender,
        "simNumber": sim,
        "receivedAt": "2030-03-04T09:05:11.000+08:00",
    }


def report_payload(message_id: str, recipient: str, **fields: Any) -> dict[str, Any]:
    """An `sms:sent`/`sms:delivered`/`sms:failed` payload on a message we sent under `message_id`."""
    return {"messageId": message_id, "recipient": recipient, "phoneNumber": recipient, "simNumber": 1, **fields}
