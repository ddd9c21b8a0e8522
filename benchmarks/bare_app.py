"""The baseline server: a bare Starlette "hello" route, run by uvicorn exactly as `hotline serve` runs the app.

python -m benchmarks.bare_app PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hotline.logs import uvicorn_options


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


# The same paths as the webhooks measured against it, so wrk posts the same requests to both.
app = Starlette(
    routes=[Route("/", hello)]
    + [Route(path, hello, methods=["POST"]) for path in ("/twilio/sms", "/tencent/sms/reply", "/android/events")]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), **uvicorn_options())
