"""`hotline demo` as a newcomer runs it, and the simulator in a real browser (Playwright, Debian's Chromium).

The browser test signs in, texts "买药" as a resident, takes the errand as their liaison with "接" and its number,
sees the resident told, calls the hotline as a landline resident and presses the groceries digit, and finds the
new task on the board. Every step goes through the real web server, real workers and the embedded Redis that
the demo started. Set UPDATE_SCREENSHOTS=1 to write the README's two screenshots from this run.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.browser import CHROMIUM, csp_violations, launch_chromium
from tests.test_e2e_run import free_port, processes_using

ROOT = Path(__file__).parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
START_DEADLINE = 240.0  # generous: a fresh demo plays its fortnight first; a correctness test, not a timing one
STEP_MS = 20_000
STEP_SECONDS = STEP_MS / 1000  # one request to the demo; generous, as for a browser step


@dataclass
class Demo:
    base: str
    password: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)


def start_demo(tmp: Path, *options: str, data_dir: Path | None = None) -> Demo:
    port = free_port()
    data_dir = data_dir or tmp / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_", "REDIS_", "DATABASE_"))}
    log = tmp / "demo.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hotline", "demo", "--data-dir", str(data_dir), "--port", str(port), *options],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tmp,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE
    while True:
        found = re.search(r"Sign in:\s+demo / (\S+)", log.read_text(errors="replace"))
        if found:
            try:
                with urllib.request.urlopen(base + "/login", timeout=2) as response:
                    if response.status == 200:
                        return Demo(base, found.group(1), data_dir, process, log)
            except OSError:
                pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "hotline demo did not start:\n" + log.read_text()
        time.sleep(0.2)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = start_demo(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def signed_in_opener(demo: Demo) -> urllib.request.OpenerDirector:
    """A client with a cookie jar that signed in through the form."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(demo.base + "/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    data = urllib.parse.urlencode({"username": "demo", "password": demo.password, "csrf_token": token.group(1)})
    with opener.open(demo.base + "/login", data=data.encode()) as response:
        assert response.url.endswith("/board"), response.url
    return opener


def test_demo_starts_on_a_fresh_folder_answers_and_stops_cleanly(tmp_path: Path) -> None:
    demo = start_demo(tmp_path)
    try:
        # Followed to the sign-in page.
        anonymous = urllib.request.urlopen(demo.base + "/simulator", timeout=STEP_SECONDS)
        assert anonymous.url.startswith(demo.base + "/login")
        opener = signed_in_opener(demo)
        for path in ("/board", "/simulator"):
            with opener.open(demo.base + path, timeout=STEP_SECONDS) as response:
                assert response.status == 200 and response.url == demo.base + path
        people = opener.open(demo.base + "/simulator/api/people").read().decode()
        assert people.count('"kind": "liaison"') + people.count('"kind":"liaison"') >= 10
        with urllib.request.urlopen(demo.base + "/readyz", timeout=STEP_SECONDS) as response:
            checks = json.load(response)["checks"]
        assert (checks["database"], checks["redis"], checks["migrations"]) == ("ok", "ok", "ok")
        assert processes_using(demo.data_dir), "the demo's processes should be running"
    finally:
        code = demo.stop()
    log = demo.log.read_text()
    assert code == 0, log
    assert processes_using(demo.data_dir) == []  # web, worker, scheduler and redis-server all gone
    assert "Traceback" not in log, log
    assert "幸福里社区" in log and "grids" in log
    assert re.search(r"Played the last 14 days: \d+ check-ins, \d+ tasks", log), log
    care = re.search(r"Set its care: (\d+) care circles \((\d+) family members\), (\d+) ring to check in", log)
    assert care and int(care.group(1)) == 6 and int(care.group(3)) == 4, log  # 5% and 3% of the 120 residents


def hotline_beside(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A `hotline` command run in the demo's folder with no settings of its own, as a person would in a second
    terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_", "REDIS_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "hotline", *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=120
    )


def test_a_command_beside_the_demo_uses_its_data_and_the_password_is_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "demo"  # the demo's own default, under the folder it was started in
    demo = start_demo(tmp_path, "--residents", "20", data_dir=data_dir)
    try:
        people = json.loads(signed_in_opener(demo).open(demo.base + "/simulator/api/people").read())["people"]
        resident = next(p for p in people if p["kind"] == "resident" and not p["voice"])
        sent = hotline_beside(tmp_path, "simulate-sms", "--from", resident["phone"], "帮我买药")
        assert sent.returncode == 0, sent.stdout + sent.stderr  # before, a "signature" 403 from a second database
        assert "using the running demo's data in var/demo" in sent.stderr
        inbox = hotline_beside(tmp_path, "inbox")
        assert inbox.returncode == 0 and "帮我买药" in inbox.stdout, inbox.stdout + inbox.stderr
        assert not (tmp_path / "var" / "hotline.sqlite3").exists()  # no second database
    finally:
        assert demo.stop() == 0, demo.log.read_text()
    assert not (data_dir / "demo.running").exists()
    stopped = hotline_beside(tmp_path, "outbox")
    assert "the demo is not running (HOTLINE_DATA_DIR=var/demo uses it)" in stopped.stderr, stopped.stderr
    kept = data_dir / "demo_password"
    assert kept.read_text() == demo.password and kept.stat().st_mode & 0o777 == 0o600
    played = re.search(r"Played the last 14 days: (\d+) check-ins, (\d+) tasks", demo.log.read_text())
    assert played, demo.log.read_text()
    again = start_demo(tmp_path, "--residents", "20", data_dir=data_dir)
    try:
        restarted = again.log.read_text()
        assert "the last 14 days" not in restarted  # a restart keeps the past and plays nothing again
        assert "Set its care" not in restarted  # … nor sets the care again
        assert again.password == demo.password  # printed again, and it still signs in
        signed_in_opener(again)
    finally:
        assert again.stop() == 0


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed here; scripts/test installs it, and CI always runs this test",
)
def test_the_simulator_in_a_browser_texts_calls_and_reaches_the_board(demo: Demo, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
            violations = csp_violations(context)
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(demo.base + "/board")
            page.fill("input[name=username]", "demo")
            page.fill("input[name=password]", demo.password)
            page.click("button[type=submit]")
            expect(page).to_have_url(demo.base + "/board")

            page.goto(demo.base + "/simulator")
            resident = page.locator('#person option[data-kind="resident"][data-voice="false"][data-shared="false"]')
            expect(resident.first).to_be_attached()
            resident_value = resident.first.get_attribute("value")
            page.select_option("#person", resident_value)
            expect(page.locator("#switch")).to_be_visible()

            page.fill("#sms-body", "买药")
            page.click("#sms-send")
            expect(page.locator('.bubble[data-from="hotline"]').last).to_contain_text("已转告联络员")

            page.click("#switch")  # to the resident's liaison
            offer = page.locator('.bubble[data-from="hotline"]', has_text="买药").last
            expect(offer).to_contain_text("回复“接")
            task_id = re.search(r"#(\d+)", offer.inner_text())
            assert task_id, offer.inner_text()
            page.fill("#sms-body", f"接{task_id.group(1)}")
            page.click("#sms-send")
            expect(page.locator('.bubble[data-from="hotline"]').last).to_contain_text(f"已接单#{task_id.group(1)}")

            # The liaison is named with their role in words, and the way back names the resident.
            expect(page.locator("#who")).not_to_contain_text("volunteer")
            expect(page.locator("#who")).not_to_contain_text("grid_worker")
            resident_name = page.locator(f'#person option[value="{resident_value}"]').inner_text().split(" · ")[0]
            expect(page.locator("#switch")).to_have_text(f"← 回到 {resident_name}")
            page.click("#switch")  # back to the resident
            expect(page.locator("#person")).to_have_value(resident_value)
            expect(page.locator('.bubble[data-from="hotline"]').last).to_contain_text("接单，会尽快联系您")
            # Times on the hotline's clock (Asia/Shanghai), 24-hour: the resident's own last SMS was sent just now.
            stamp = page.locator('.bubble[data-from="hotline"] small').last.inner_text()
            shown = re.search(r"(\d{2}):(\d{2}):(\d{2})", stamp)
            assert shown and "上午" not in stamp and "下午" not in stamp, stamp
            now = datetime.now(ZoneInfo("Asia/Shanghai"))
            minutes = int(shown.group(1)) * 60 + int(shown.group(2))
            assert (
                min(abs(minutes - (now.hour * 60 + now.minute)), 1440 - abs(minutes - (now.hour * 60 + now.minute)))
                <= 5
            )
            page.screenshot(path=str(tmp_path / "simulator-sms.png"), full_page=True)

            landline = page.locator('#person option[data-kind="resident"][data-voice="true"][data-shared="false"]')
            landline_name = landline.first.inner_text().split(" · ")[0]
            page.select_option("#person", landline.first.get_attribute("value"))
            page.click("#dial")
            expect(page.locator("#said")).to_contain_text("买菜请按2")
            page.click('#gather [data-key="2"]')
            expect(page.locator("#said")).to_contain_text("再见")
            expect(page.locator("#said")).to_contain_text("通话结束")
            page.screenshot(path=str(tmp_path / "simulator-call.png"), full_page=True)

            page.goto(demo.base + "/board")
            tasks = page.locator("#open-tasks")
            expect(tasks).to_contain_text(landline_name)
            expect(tasks.locator("tr", has_text=landline_name)).to_contain_text("买菜")
            expect(tasks.locator(f'tr[data-task="{task_id.group(1)}"]')).to_contain_text("已接单")
            # The fortnight before today was played: the coverage of each of its days is drawn.
            page.goto(demo.base + "/reports")
            expect(page.locator("#chart-coverage")).to_be_visible()
            expect(page.locator("#trend-empty")).to_have_count(0)
            assert violations == [], violations
        finally:
            browser.close()
    for name in ("simulator-sms.png", "simulator-call.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("UPDATE_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / name, SCREENSHOTS / name)


def test_demo_as_tencent_texts_through_its_reply_callback_and_shows_its_templates(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, "--channel", "tencent", "--residents", "40")
    try:
        opener = signed_in_opener(demo)
        page = opener.open(demo.base + "/simulator", timeout=STEP_SECONDS).read().decode()
        assert 'id="no-voice"' in page and 'id="dial"' not in page  # Tencent SMS carries no calls
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert csrf
        people = json.load(opener.open(demo.base + "/simulator/api/people", timeout=STEP_SECONDS))["people"]
        resident = next(p for p in people if p["kind"] == "resident" and not p["voice"] and not p["shared"])
        headers = {"X-CSRF-Token": csrf.group(1), "Content-Type": "application/json", "Accept": "application/json"}
        query = urllib.parse.urlencode({"phone": resident["phone"]})
        past = json.load(opener.open(f"{demo.base}/simulator/api/phone?{query}", timeout=STEP_SECONDS))["thread"]
        seen = {m["id"] for m in past}  # the demo's fortnight: the check-ins and answers before today's text
        text = json.dumps({"phone": resident["phone"], "body": "买药"}).encode()
        request = urllib.request.Request(demo.base + "/simulator/api/sms", data=text, headers=headers)
        with opener.open(request, timeout=STEP_SECONDS) as response:
            assert json.load(response) == {"status": 200}  # Tencent's reply callback, answered {"result": 0}
        deadline = time.monotonic() + START_DEADLINE
        while True:  # the worker takes the SMS and answers the resident, through the receipt's template
            thread = json.load(opener.open(f"{demo.base}/simulator/api/phone?{query}", timeout=STEP_SECONDS))["thread"]
            answers = [m for m in thread if m["from"] == "hotline" and m["id"] not in seen]
            if answers:
                break
            assert time.monotonic() < deadline, "no answer to the resident:\n" + demo.log.read_text()
            time.sleep(0.2)
        assert answers[-1]["body"].startswith("【") and "已转告联络员" in answers[-1]["body"]
        channels = opener.open(demo.base + "/channels", timeout=STEP_SECONDS).read().decode()
        assert "不能自动打签到电话" in channels
        assert (demo.data_dir / "tencent_callback_secret").stat().st_mode & 0o777 == 0o600
    finally:
        code = demo.stop()
    log = demo.log.read_text()
    assert code == 0 and "Traceback" not in log, log
    assert "Channel:    tencent" in log


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed here; scripts/test installs it, and CI always runs this test",
)
def test_the_simulator_as_android_in_a_browser_texts_and_reports_delivery(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    demo = start_demo(tmp_path, "--channel", "android", "--residents", "40")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
                violations = csp_violations(context)
                page = context.new_page()
                page.set_default_timeout(STEP_MS)
                page.goto(demo.base + "/simulator")
                page.fill("input[name=username]", "demo")
                page.fill("input[name=password]", demo.password)
                page.click("button[type=submit]")
                page.goto(demo.base + "/simulator")
                expect(page.locator("#no-voice")).to_be_visible()
                resident = page.locator('#person option[data-kind="resident"][data-voice="false"][data-shared="false"]')
                expect(resident.first).to_be_attached()
                page.select_option("#person", resident.first.get_attribute("value"))
                page.fill("#sms-body", "买药")
                page.click("#sms-send")
                receipt = page.locator('.bubble[data-from="hotline"]').last
                expect(receipt).to_contain_text("已转告联络员")
                receipt.locator('[data-report="delivered"]').click()  # the phone's sms:delivered webhook
                expect(page.locator('.bubble[data-from="hotline"]').last).to_contain_text("回执 · 已送达")
                assert violations == [], violations
            finally:
                browser.close()
    finally:
        code = demo.stop()
    log = demo.log.read_text()
    assert code == 0 and "Traceback" not in log, log
