"""A stand-in's web server: a Starlette app served by uvicorn on a free port of 127.0.0.1, in a thread of the
test's process, started and stopped by the stand-in (bounded both ways)."""

from __future__ import annotations

import threading

import uvicorn
from starlette.applications import Starlette


class LoopbackServer:
    """Serves `app` on 127.0.0.1 until stopped."""

    def __init__(self, app: Starlette, name: str) -> None:
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._name = name

    def start(self) -> str:
        """Start serving; returns the base URL, `http://127.0.0.1:<port>`."""
        self._thread.start()
        for _ in range(1000):  # ten seconds at most
            if self._server.started:
                break
            threading.Event().wait(0.01)
        assert self._server.started, f"{self._name} did not start"
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
