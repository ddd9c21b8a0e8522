"""`SecurityHeaders`: the browser's rules for every answer, the console's pages and everything else alike.

A Content-Security-Policy with no inline script or style (the pages' scripts and styles are files under /static;
the simulator's words travel as a JSON data island, which is never executed), no framing, no MIME sniffing, and
no Referer beyond our own origin. Pure ASGI rather than BaseHTTPMiddleware: the SMS webhook is on the hot path of
the morning's wave, and adding four headers must cost next to nothing. HSTS is nginx's (deploy/nginx/hotline.conf),
since only it knows the answer went over TLS.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",  # no style="" attributes either: the charts' colours are SVG attributes
        "img-src 'self'",
        "media-src 'self'",  # recorded voicemails and prompts, played from our own origin
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers older than CSP 2
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds `HEADERS` to every HTTP answer that does not already carry its own value of one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in HEADERS if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
