"""A local stand-in of Tencent Cloud SMS's API (SendSms, 2021-01-11) and of its voice messages' (SendTtsVoice,
2020-09-02, service `vms`), for the real tencentcloud SDK to talk to.

It checks the TC3-HMAC-SHA256 signature as Tencent does (the raw body's hash, the signed headers, the date scope,
the key derived from the SecretKey; a timestamp more than 5 minutes off is expired) and answers a bad one with
AuthFailure.SignatureFailure in Tencent's error envelope, with HTTP 200. Every answer's Content-Type is exactly
`application/json`: the SDK raises a whole-request error only then. It records each SendSms and SendTtsVoice it
accepted (`sent`, `calls`), each action checked against its own service and version.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.standins.loopback import LoopbackServer

# What the next SendSms or SendTtsVoice gets, in order (a SendTtsVoice takes "http", "error" and "late"):
# ("http", 503), ("error", "RequestLimitExceeded"),
# ("number", "LimitExceeded.PhoneNumberDailyLimit"), ("late", ""): accepted and recorded, answered only after the
# client has given up; ("empty", ""): accepted and recorded, answered without SendStatusSet.
Failure = tuple[str, Any]


@dataclass
class SentSms:
    """One SendSms the stand-in accepted: its JSON body as the SDK sent it, and its headers."""

    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def params(self) -> list[str]:
        return list(self.body.get("TemplateParamSet") or [])


@dataclass
class TencentStandIn:
    secret_id: str
    secret_key: str
    sent: list[SentSms] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the error codes of the requests it refused
    calls: list[SentSms] = field(default_factory=list)  # each SendTtsVoice accepted
    fail_next: list[Failure] = field(default_factory=list)
    endpoint: str = ""  # http://127.0.0.1:<port>
    _loopback: LoopbackServer | None = None
    _closing: bool = False

    async def _send_sms(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        action = headers.get("x-tc-action", "")
        service, version = _ACTIONS.get(action, ("", ""))
        problem = verify(headers, raw, self.secret_id, self.secret_key, service=service or "sms")
        if problem is None and not service:
            problem = "InvalidAction"
        if problem is None and headers.get("x-tc-version") != version:
            problem = "NoSuchVersion"
        if problem is not None:
            self.refused.append(problem)
            return _error(problem)
        body = json.loads(raw)
        how, what = self.fail_next.pop(0) if self.fail_next else ("ok", "")
        if action == "SendTtsVoice":
            return await self._send_tts_voice(body, headers, how, what)
        if how == "http":
            return Response(b"<html>bad gateway</html>", status_code=int(what), media_type="text/html")
        if how == "error":
            self.refused.append(str(what))
            return _error(str(what))
        self.sent.append(SentSms(body, headers))
        if how == "late":
            await self._hang()
        if how == "empty":
            return _json({"Response": {"RequestId": str(uuid.uuid4())}})
        statuses = [_status(phone, body.get("SessionContext", ""), how, str(what)) for phone in body["PhoneNumberSet"]]
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})

    async def _send_tts_voice(self, body: dict[str, Any], headers: dict[str, str], how: str, what: Any) -> Response:
        if how == "http":
            return Response(b"<html>bad gateway</html>", status_code=int(what), media_type="text/html")
        if how == "error":
            self.refused.append(str(what))
            return _error(str(what))
        if not _MAINLAND_MOBILE.match(str(body.get("CalledNumber", ""))):  # SendTtsVoice calls mainland mobiles
            self.refused.append("InvalidParameterValue.CalledNumberVerifyFail")
            return _error("InvalidParameterValue.CalledNumberVerifyFail")
        self.calls.append(SentSms(body, headers))
        if how == "late":
            await self._hang()
        call_id = str(uuid.uuid4())
        status = {"CallId": call_id, "SessionContext": body.get("SessionContext", "")}
        return _json({"Response": {"SendStatus": status, "RequestId": str(uuid.uuid4())}})

    async def _hang(self) -> None:
        """Wait until the stand-in closes (a minute at most): past any client's timeout, however slow the machine."""
        for _ in range(1200):
            if self._closing:
                return
            await asyncio.sleep(0.05)

    def __enter__(self) -> TencentStandIn:
        app = Starlette(routes=[Route("/", self._send_sms, methods=["POST"])])
        self._loopback = LoopbackServer(app, "the Tencent stand-in")
        self.endpoint = self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loopback is not None
        self._closing = True
        self._loopback.stop()


_MAINLAND_MOBILE = re.compile(r"^\+861[3-9][0-9]{9}\Z")
# Each action the stand-in serves: its service (in the signature's scope) and API version.
_ACTIONS = {"SendSms": ("sms", "2021-01-11"), "SendTtsVoice": ("vms", "2020-09-02")}


def verify(
    headers: dict[str, str], body: bytes, secret_id: str, secret_key: str, max_skew: int = 300, service: str = "sms"
) -> str | None:
    """None if the request is signed with this key for `service` as Tencent's TC3-HMAC-SHA256 says, else Tencent's
    error code. `headers` by lowercase name; `body` the raw bytes as received (the SDK's \\u escapes are part of the
    hash)."""
    try:
        algorithm, rest = headers["authorization"].split(" ", 1)
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        given_id, date, scope, term = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        canonical_headers = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in signed)
        stamp = headers["x-tc-timestamp"]
        seconds = int(stamp)
    except (KeyError, ValueError):
        return "AuthFailure.InvalidAuthorization"
    if algorithm != "TC3-HMAC-SHA256" or term != "tc3_request" or "content-type" not in signed:
        return "AuthFailure.InvalidAuthorization"
    if abs(time.time() - seconds) > max_skew:
        return "AuthFailure.SignatureExpire"
    if datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d") != date:
        return "AuthFailure.SignatureFailure"
    canonical = "\n".join(["POST", "/", "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join([algorithm, stamp, f"{date}/{scope}/{term}", hashlib.sha256(canonical.encode()).hexdigest()])
    key = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, scope.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if given_id != secret_id or scope != service or not hmac.compare_digest(signature, parts.get("Signature", "")):
        return "AuthFailure.SignatureFailure"
    return None


def _status(phone: str, context: str, how: str, code: str) -> dict[str, Any]:
    if how == "number":  # refused for this number: as observed, no SerialNo and no fee
        serial, fee, message = "", 0, "stand-in refusal"
    else:
        serial, fee, message, code = f"2019:{uuid.uuid4().int % 10**28:028d}", 1, "send success", "Ok"
    return {
        "SerialNo": serial,
        "PhoneNumber": phone,
        "Fee": fee,
        "SessionContext": context,
        "Code": code,
        "Message": message,
        "IsoCode": "CN",
    }


def _json(payload: dict[str, Any]) -> Response:
    # Exactly application/json, no charset: the SDK looks for this exact value before it reads an error.
    return Response(json.dumps(payload), headers={"Content-Type": "application/json"})


def _error(code: str) -> Response:
    return _json({"Response": {"Error": {"Code": code, "Message": "stand-in"}, "RequestId": str(uuid.uuid4())}})
