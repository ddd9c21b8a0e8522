"""A local stand-in of a Sentry server's ingestion endpoint, for the real `sentry-sdk` to send its reports to.

It follows Sentry's published contract for SDKs: `POST /api/<project>/envelope/`, authenticated by the DSN's public
key in `X-Sentry-Auth` (`Sentry sentry_key=…, sentry_version=7, …`; 401 otherwise), the body an envelope (a JSON
header line, then items, each a JSON header line and a payload whose `length` the header may give), compressed as
`Content-Encoding` says (gzip, or none). It records every item it took.
"""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins.loopback import LoopbackServer

PROJECT = "42"


@dataclass
class SentryStandIn:
    key: str = field(default_factory=lambda: secrets.token_hex(16))
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)  # (item header, payload), as taken
    refused: int = 0
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loopback: LoopbackServer | None = None

    @property
    def dsn(self) -> str:
        host = self.base_url.removeprefix("http://")
        return f"http://{self.key}@{host}/{PROJECT}"

    def events(self) -> list[dict[str, Any]]:
        """The error events taken, in order."""
        with self._lock:
            return [json.loads(payload) for header, payload in self.items if header.get("type") == "event"]

    def wait_for_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events, once there are `count` (the SDK sends from a thread of its own); bounded."""
        deadline = time.monotonic() + timeout
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.events()

    async def _envelope(self, request: Request) -> Response:
        auth = request.headers.get("x-sentry-auth", "")
        fields = dict(part.strip().split("=", 1) for part in auth.removeprefix("Sentry ").split(",") if "=" in part)
        if request.path_params["project"] != PROJECT or fields.get("sentry_key") != self.key:
            self.refused += 1
            return JSONResponse({"detail": "bad sentry DSN public key"}, status_code=401)
        body = await request.body()
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding:
            return JSONResponse({"detail": f"unsupported encoding {encoding}"}, status_code=415)
        taken = _items(body)
        with self._lock:
            self.items += taken
        return JSONResponse({"id": json.loads(body.split(b"\n", 1)[0]).get("event_id")})

    def __enter__(self) -> SentryStandIn:
        app = Starlette(routes=[Route("/api/{project}/envelope/", self._envelope, methods=["POST"])])
        self._loopback = LoopbackServer(app, "the Sentry stand-in")
        self.base_url = self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loopback is not None
        self._loopback.stop()


def _items(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """An envelope's items: after its header line, each item's header line and then its payload, `length` bytes if
    the header says, else up to the next newline."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items
