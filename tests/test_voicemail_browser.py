"""A voicemail end to end in a real browser (Playwright driving Debian's Chromium) against the app served by
uvicorn, with the local gateway: a resident calls through the phone simulator and leaves a voicemail nobody
answered, a real worker makes the call-back task, and staff open the task and press play."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch import audit
from hotline.app import create_app
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.browser import CHROMIUM, csp_violations, launch_chromium, served_in_thread
from tests.conftest import RESIDENT_PHONE, run_worker, tasks
from tests.console_helpers import PASSWORD, make_user
from tests.test_demo import STEP_MS
from tests.test_e2e_run import free_port

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed here; scripts/test installs it, and CI always runs this test",
)
START_SECONDS = 20.0


@pytest.fixture
def base_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def settings(environ: dict[str, str], base_url: str) -> Settings:
    """The local gateway, at the address the browser uses (so the session cookie is not https-only)."""
    return load_settings({**environ, "HOTLINE_PUBLIC_URL": base_url}, env_file=None)


@pytest.fixture
def server(settings: Settings, services: Services, base_url: str) -> Iterator[str]:
    with served_in_thread(create_app(settings, services), base_url, START_SECONDS) as url:
        yield url


@pytest.mark.usefixtures("community")
def test_a_voicemail_left_in_the_simulator_plays_on_the_task_page(server: str, services: Services) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user(services)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(locale="zh-CN")
            violations = csp_violations(context)
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(server + "/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("form.login button[type=submit]")
            expect(page).to_have_url(server + "/board")
            csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
            assert csrf

            def simulate(path: str, body: dict[str, Any]) -> dict[str, Any]:
                answer = page.request.post(server + path, data=body, headers={"X-CSRF-Token": csrf})
                assert answer.ok, answer.text()
                view: dict[str, Any] = answer.json()
                return view

            # The resident calls, asks for a person, nobody in the chain answers, and they leave a voicemail.
            sid = simulate("/simulator/api/call", {"phone": RESIDENT_PHONE})["sid"]
            view = simulate(f"/simulator/api/call/{sid}/move", {"move": "press", "digits": "0"})
            for _ in range(3):
                view = simulate(f"/simulator/api/call/{sid}/move", {"move": "no_answer"})
            assert view["waiting"] == "Record", view
            simulate(f"/simulator/api/call/{sid}/move", {"move": "record", "seconds": 12})
            run_worker(services)
            [task] = tasks(services)

            page.goto(f"{server}/tasks/{task.id}")
            player = page.locator("#voicemails audio")
            expect(player).to_have_count(1)
            expect(page.locator("#voicemails figcaption")).to_contain_text("的电话留言")
            assert (
                player.get_attribute("src", timeout=STEP_MS) == f"/tasks/{task.id}/voicemails/{task.source_message_id}"
            )
            # Press play (muted, as a page may play without a gesture), then wait, bounded, for the audio to load.
            player.evaluate("audio => { audio.muted = true; audio.play().catch(() => {}); }")
            page.wait_for_function(
                "() => { const a = document.querySelector('#voicemails audio'); "
                "return a.readyState >= 1 && a.duration > 0 && !a.error; }",
                timeout=STEP_MS,
            )
            duration = player.evaluate("audio => audio.duration")
            assert 0.5 < duration <= 2.5, duration
            expect(page.locator("[data-voicemail-error]")).to_be_hidden()
            assert violations == []
        finally:
            browser.close()
    with services.readonly() as session:
        heard = [e for e in audit.entries(session, object_kind="task", object_id=task.id) if e.action == "listen"]
    assert heard and heard[0].actor_name == "admin"
