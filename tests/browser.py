"""Debian's Chromium under Playwright, as every browser test starts it, and the page errors every one of them
fails on."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless as root on a machine whose network is closed: without the background-networking flags Chromium keeps
# reaching for Google's hosts and is refused, many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]
# Every Content-Security-Policy violation in a page, reported to the page's console, where the tests collect them:
# a future inline script or style fails the browser tests instead of silently not running.
REPORT_CSP_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (event) => console.error(
  `Content Security Policy violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`));"""


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, never Playwright's own download (these machines cannot fetch it)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def csp_violations(context: Any) -> list[str]:
    """Watch every page of a Playwright browser context; the list fills with the CSP violations seen."""
    seen: list[str] = []
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    context.on(
        "console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None
    )
    return seen


@contextmanager
def served_in_thread(app: Any, base_url: str, start_seconds: float = 20.0) -> Iterator[str]:
    """Serve `app` with uvicorn on `base_url`'s port in a thread of this process, until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=int(base_url.rsplit(":", 1)[1]), log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(int(start_seconds / 0.05)):
        if running.started or not thread.is_alive():
            break
        started.wait(0.05)
    assert running.started, "uvicorn did not start"
    try:
        yield base_url
    finally:
        running.should_exit = True
        thread.join(10)
