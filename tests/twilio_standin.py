"""A local stand-in of Twilio's REST API, for the real twilio client to talk to. It records every request."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins.loopback import LoopbackServer


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    basic_auth: tuple[str, str] | None


@dataclass
class TwilioStandIn:
    """Answers Messages.json and Calls.json like Twilio; `fail_next` makes the next answers errors. Serves the
    `recordings` it holds as Twilio serves recording media: only with the account's credentials (401 without),
    404 for a recording it does not have."""

    requests: list[RecordedRequest] = field(default_factory=list)
    # HTTP statuses to answer with, in order; or (status, Twilio error code) pairs, e.g. (400, 21211)
    fail_next: list[int | tuple[int, int]] = field(default_factory=list)
    fail_code: int | None = None  # Twilio's error code in those answers (default: one to match the status)
    # Per recipient ("To"): (status, Twilio error code) answers, in order, before it is accepted
    fail_for: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    hang_next: int = 0  # answer this many requests only after the client has given up: when the stand-in closes
    recordings: dict[str, bytes] = field(default_factory=dict)  # RecordingSid: its MP3
    credentials: tuple[str, str] | None = None  # (account SID, auth token) recordings need; None: any
    base_url: str = ""
    _loopback: LoopbackServer | None = None
    _closing: bool = False

    async def _hang(self) -> None:
        """Wait until the stand-in closes (a minute at most): past any client's timeout, however slow the machine."""
        for _ in range(1200):
            if self._closing:
                return
            await asyncio.sleep(0.05)

    async def _create(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.requests.append(RecordedRequest(request.method, request.url.path, form, _basic_auth(request)))
        if self.hang_next:
            self.hang_next -= 1
            await self._hang()
        for_this = self.fail_for.get(form.get("To", ""))
        if self.fail_next or for_this:
            status, code = for_this.pop(0) if for_this else _status_and_code(self.fail_next.pop(0), self.fail_code)
            return JSONResponse({"code": code, "message": "stand-in error", "status": status}, status)
        kind = "Calls" if request.url.path.endswith("Calls.json") else "Messages"
        sid = ("CA" if kind == "Calls" else "SM") + uuid.uuid4().hex
        payload: dict[str, Any] = {"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}
        return JSONResponse(payload, status_code=201)

    async def _recording(self, request: Request) -> Response:
        basic = _basic_auth(request)
        self.requests.append(RecordedRequest(request.method, request.url.path, {}, basic))
        if basic is None or (self.credentials is not None and basic != self.credentials):
            return JSONResponse(
                {"code": 20003, "message": "Authenticate", "status": 401},
                401,
                headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        if self.hang_next:
            self.hang_next -= 1
            await self._hang()
        if self.fail_next:
            status, code = _status_and_code(self.fail_next.pop(0), self.fail_code)
            return JSONResponse({"code": code, "message": "stand-in error", "status": status}, status)
        audio = self.recordings.get(request.path_params["recording"])
        if audio is None:
            return JSONResponse({"code": 20404, "message": "The requested resource was not found", "status": 404}, 404)
        kind = "audio/mpeg" if request.path_params["format"] == "mp3" else "audio/x-wav"
        return Response(audio, media_type=kind)

    def __enter__(self) -> TwilioStandIn:
        app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Calls.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Recordings/{recording}.{format:str}", self._recording),
            ]
        )
        self._loopback = LoopbackServer(app, "the Twilio stand-in")
        self.base_url = self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loopback is not None
        self._closing = True
        self._loopback.stop()


def _basic_auth(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    return user, password


def _status_and_code(failure: int | tuple[int, int], fail_code: int | None) -> tuple[int, int]:
    if isinstance(failure, tuple):
        return failure
    return failure, fail_code or (20429 if failure == 429 else 20500)
