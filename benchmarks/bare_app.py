"""The baseline server: a bare Starlette "hello" route, run by uvicorn exactly as `hotline serve` runs the app.

Like the hotline, it writes one log line per request (`RequestLog`, the line uvicorn's access log used to write):
a server in production logs each request, so that line is part of the limit the webhooks are measured against.
Its heap is set up as the hotline's (`settle_heap`).

python -m benchmarks.bare_app PORT [TWIML_JSON]

With TWIML_JSON (a file of {path: TwiML}), each of those paths answers a POST with that TwiML, as text/xml: the
voice benchmark's baseline, a route answering a menu of the same size as the hotline's, touching nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hotline.heap import settle_heap
from hotline.logs import uvicorn_options
from hotline.request_log import RequestLog


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def answering(twiml: str) -> Callable[[Request], Awaitable[Response]]:
    async def menu(request: Request) -> Response:
        return Response(twiml, media_type="text/xml")

    return menu


# The same paths as the webhooks measured against it, so wrk posts the same requests to both.
routes = [Route("/", hello)] + [
    Route(path, hello, methods=["POST"]) for path in ("/twilio/sms", "/tencent/sms/reply", "/android/events")
]

if __name__ == "__main__":
    if len(sys.argv) > 2:
        answers: dict[str, str] = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        routes += [Route(path, answering(twiml), methods=["POST"]) for path, twiml in answers.items()]
    settle_heap()
    uvicorn.run(RequestLog(Starlette(routes=routes)), host="127.0.0.1", port=int(sys.argv[1]), **uvicorn_options())
