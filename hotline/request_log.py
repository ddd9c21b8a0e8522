"""`RequestLog`: one log line per HTTP request, written by the app instead of uvicorn's access line.

The line begins as uvicorn's access line did (`127.0.0.1:5678 - "POST /twilio/sms HTTP/1.1" 200`), then carries
the route's template, the time taken, a request id, and what the request did if its handler says so (`note`): a
webhook's outcome (`inbound sms message=12 from=139****0001 stored`) rides on this line rather than on one of its
own, so the busiest path writes one line per request, not two. The id is also sent back in `X-Request-ID`, so an
answer a provider shows in its own logs can be found in ours.

Nothing private: the query string is never written (it can carry a number, and Tencent's a secret), a note names
numbers masked (`dispatch.phones.mask_phone`), and the formatters mask every number-like digit run besides
(`hotline.logs`). In JSON lines the id, route, status and time are fields of their own too.

Pure ASGI, like `SecurityHeaders`: it sits on the webhooks' hot path.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from contextvars import ContextVar
from urllib.parse import quote

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("hotline.access")
NOTE = "hotline.note"  # the scope key a handler's note is kept under
REQUEST_ID_HEADER = b"x-request-id"
# Unique across processes and restarts: a random prefix per process, then a counter.
_PREFIX = os.urandom(3).hex()
_COUNTER = itertools.count(1)
# The id of the request being answered, for every other log line and error report made while answering it
# (`hotline.logs`, `hotline.error_reports`); threads the request hands work to see it too.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
# Called with each request's id as it begins (`hotline.error_reports` puts it on the request's error reports).
on_request: list[Callable[[str], None]] = []


def next_request_id() -> str:
    return f"{_PREFIX}-{next(_COUNTER):x}"


def note(request: Request, text: str) -> None:
    """Say what this request did, on its one log line. `text` must hold no full number, secret or message text."""
    request.scope[NOTE] = text


class RequestLog:
    """Writes one line per HTTP request to the `hotline.access` logger once its answer is sent (or failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = next_request_id()
        status = 500  # if the app fails before it answers, uvicorn answers 500
        path = scope["path"]

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())],
                }
            await send(message)

        token = current_request_id.set(request_id)
        for listener in on_request:
            listener(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
            if log.isEnabledFor(logging.INFO):
                self._write(scope, path, status, time.perf_counter() - started, request_id)

    @staticmethod
    def _write(scope: Scope, path: str, status: int, seconds: float, request_id: str) -> None:
        client = scope.get("client")
        route = getattr(scope.get("route"), "path", None) or "-"  # the template the router matched, if any
        shown = quote(path) + ("?…" if scope.get("query_string") else "")
        note_text = scope.get(NOTE)
        # Whole microseconds: a duration never reads like a reading such as a temperature (38.6).
        duration_us = round(seconds * 1_000_000)
        # The record is made here rather than by `log.info`, which would first walk the stack for the caller's
        # file and line: always this function. It costs a few microseconds on every request.
        record = log.makeRecord(
            log.name,
            logging.INFO,
            __file__,
            0,
            '%s - "%s %s HTTP/%s" %d route=%s %dus id=%s%s',
            (
                f"{client[0]}:{client[1]}" if client else "",
                scope["method"],
                shown,
                scope["http_version"],
                status,
                route,
                duration_us,
                request_id,
                f" {note_text}" if note_text else "",
            ),
            None,
            extra={"request_id": request_id, "route": route, "status": status, "duration_us": duration_us},
        )
        log.handle(record)
