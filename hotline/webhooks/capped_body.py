"""A provider's request body, read within a cap before anything else looks at it: by its Content-Length first,
then as it streams in (a body sent in chunks declares none). Each provider's webhook caps its own."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


async def capped_body(request: Request, limit: int, what: str) -> bytes | Response:
    """The whole body, or a 413 saying it is too large for `what` ("a Twilio webhook") if it passes `limit` bytes."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        return PlainTextResponse(f"Request body too large for {what}", status_code=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return PlainTextResponse(f"Request body too large for {what}", status_code=413)
    return body
