"""Debian's Chromium under Playwright, as every browser test starts it, and the page errors every one of them
fails on."""

from __future__ import annotations

import shutil
from typing import Any

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
