"""A cap on the size of what the console's routes read: forms, the simulator's JSON, the CSV upload.

Starlette reads a whole form before any route sees it (and spools a multipart upload to disk), so without a cap
anyone could post a gigabyte to the sign-in page. The cap refuses a body over its limit by its Content-Length, or
as it streams in (a body sent in chunks declares none), with a 413 in the hotline's staff language.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline.console.render import CONSOLE_TEXTS

FORM_LIMIT = 64 * 1024  # a console form or the simulator's JSON: a few kilobytes at most


class _TooLarge(Exception):
    """The body went past the limit while it streamed in."""


class BodyCap:
    """ASGI middleware: a 413 for a request body over `limit` bytes, or over `larger[path]` on those paths."""

    def __init__(self, app: ASGIApp, limit: int = FORM_LIMIT, larger: Mapping[str, int] | None = None) -> None:
        self.app, self.limit, self.larger = app, limit, dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen, started = 0, False

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped, watched)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        language = scope["app"].state.services.settings.language
        words = CONSOLE_TEXTS.render("request_too_large", language, kb=limit // 1024)
        await JSONResponse({"error": words}, status_code=413, headers={"Connection": "close"})(scope, receive, send)
