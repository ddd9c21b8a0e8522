"""A clerk's day in the console, in a real browser (Playwright driving Debian's Chromium) against `hotline demo`
with its fast clock: real web server, workers, scheduler and embedded Redis.

Sign in, see the board with residents not reached, open a task and reassign it, triage an "other" task, import a
CSV with errors and read them, place a call to everyone not reached, read a report, and sign out. Screenshots of
the board and a report, on a laptop and on a phone-sized screen, are written to the test's folder (and to
docs/screenshots with UPDATE_SCREENSHOTS=1), so people can look at them.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dispatch.db import make_engine
from dispatch.demo_history import DAYS as HISTORY_DAYS
from dispatch.models import Resident
from tests import axe
from tests.browser import CHROMIUM, csp_violations, launch_chromium
from tests.test_demo import SCREENSHOTS, STEP_MS, Demo, start_demo

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed here; scripts/test installs it, and CI always runs this test",
)
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
CATCH_UP_SECONDS = 90.0  # generous: the page is reloaded until the workers have caught up, on a busy machine too
BAD_CSV = (
    "姓名,电话,社区,楼栋,单元,房号\n钱奶奶,12345,幸福里社区,1号楼,1单元,101\n,13800009999,幸福里社区,1号楼,1单元,102\n"
)


def reload_until(page: Any, ready: Callable[[], object]) -> None:
    """Reload the page until `ready()` holds on it, for at most CATCH_UP_SECONDS (then the caller's expect says
    what is missing)."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while not ready() and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        page.reload()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    # 60 times faster: the 09:00 check-ins go out two seconds after start, and nobody in the demo answers them.
    running = start_demo(tmp_path, "--residents", "60", "--fast-clock", "60")
    try:
        yield running
    finally:
        running.stop()


# Every console page a clerk or an admin reads, checked by axe-core at the end of the day (those with an id are
# found on the way).
PAGES = (
    "/board",
    "/tasks",
    "/triage",
    "/register",
    "/register/import",
    "/calls",
    "/messages",
    "/messages/sent",
    "/messages/failed",
    "/notices",
    "/notices/new",
    "/reports",
    "/audit",
    "/channels",
    "/ivr",
    "/simulator",
    "/people/liaisons",
    "/people/staff",
    "/people/tokens",
    "/people/places",
)


def test_a_clerks_day_in_the_browser(demo: Demo, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    assert axe.available() or not os.environ.get("CI"), f"axe-core is missing at {axe.AXE_JS}: run scripts/test"
    severe: list[str] = []

    def check_accessibility(page: Page) -> None:
        if axe.available():
            severe.extend(axe.severe_violations(page))
        severe.extend(axe.low_contrast_fields(page))

    expect.set_options(timeout=STEP_MS)
    # The community is registered once, at 08:00 a fortnight and a day ago (before the first played day's 09:00
    # check-in), however long start-up took: the demo's history (`dispatch.demo_history`) plays the days since.
    engine = make_engine(f"sqlite:///{demo.data_dir / 'hotline.sqlite3'}")
    with engine.connect() as conn:
        registered = set(conn.execute(select(Resident.created_at)).scalars())
    engine.dispose()
    shanghai = ZoneInfo("Asia/Shanghai")
    assert {when.astimezone(shanghai).strftime("%H:%M:%S") for when in registered} == {"08:00:00"}
    (moment,) = registered
    days_ago = (datetime.now(shanghai).date() - moment.astimezone(shanghai).date()).days
    assert days_ago in (HISTORY_DAYS + 1, HISTORY_DAYS + 2)  # + 2: if Shanghai's midnight passed since start-up

    def csrf(page: Page) -> str:
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        assert token
        return token

    def text_as(page: Page, person: dict[str, Any], body: str) -> None:
        """The person texts the hotline, through the simulator's signed webhook call."""
        answer = page.request.post(
            demo.base + "/simulator/api/sms",
            data={"phone": person["phone"], "body": body},
            headers={"X-CSRF-Token": csrf(page)},
        )
        assert answer.ok, answer.text()

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport=LAPTOP, locale="zh-CN")
            violations = csp_violations(context)
            page = context.new_page()
            page.set_default_timeout(STEP_MS)

            # Sign in, and see the board fill with the residents nobody has reached yet.
            page.goto(demo.base + "/board")
            expect(page).to_have_url(re.compile(r"/login"))
            check_accessibility(page)
            page.fill("input[name=username]", "demo")
            page.fill("input[name=password]", demo.password)
            page.click("form.login button[type=submit]")
            expect(page).to_have_url(demo.base + "/board")
            # The first tick makes and sends the 09:00 check-ins two seconds after the start, or later on a busy
            # machine: the board shows them once it has.
            reload_until(page, lambda: page.locator(".attention li.not_reached").count() > 0)
            expect(page.locator(".attention li.not_reached").first).to_be_visible()

            # The board's auto-refresh keeps the keyboard's place: a link focused in it is focused again after the
            # board is swapped for a fresh one (the old part marked, waited for until it is gone). It can be paused.
            page.locator("#board a").first.focus()
            focused = page.evaluate("() => document.activeElement.getAttribute('href')")
            page.evaluate("() => { document.querySelector('#board > *').dataset.old = '1'; }")
            swapped = "() => !document.querySelector('#board > [data-old]')"
            page.wait_for_function(swapped, timeout=CATCH_UP_SECONDS * 1000)
            assert page.evaluate("() => document.activeElement.getAttribute('href')") == focused
            pause = page.locator("#board-refresh")
            pause.click()
            expect(pause).to_have_attribute("aria-pressed", "true")
            expect(pause).to_have_text("继续自动刷新")
            expect(page.locator("#board-refresh-note")).to_contain_text("已暂停")
            pause.click()
            expect(pause).to_have_attribute("aria-pressed", "false")

            # Two residents ask for things: medicine, and something the hotline cannot sort.
            people = page.request.get(demo.base + "/simulator/api/people").json()["people"]
            residents = [p for p in people if p["kind"] == "resident" and not p["voice"] and not p["shared"]]
            text_as(page, residents[0], "帮我买药")
            text_as(page, residents[1], "儿子下周来")

            # Triage the "other" one: 分流. The workers make the tasks a moment after the texts arrive.
            page.click("header.top nav a[href='/tasks']")
            triage = page.locator("#to-triage tr", has_text=residents[1]["name"])
            reload_until(
                page, lambda: triage.count() > 0 and page.locator("#task-list", has_text=residents[0]["name"]).count()
            )
            expect(triage).to_be_visible()
            triage.locator("select[name=category]").select_option("groceries")
            triage.locator("button[type=submit]").click()
            expect(page.locator(".card.ok")).to_contain_text("已分流")
            expect(page.locator("#history")).to_contain_text("把任务分为“买菜”")

            # Open the medicine task and give it to another liaison.
            page.goto(demo.base + "/tasks?category=medicine")
            page.locator("#task-list tr", has_text=residents[0]["name"]).locator("a").first.click()
            expect(page.locator("h1")).to_contain_text("买药")
            task_page = page.url
            assign = page.locator("#assign-form select[name=liaison_id]")
            current = assign.input_value()
            other = next(o for o in assign.locator("option").all() if o.get_attribute("value") != current)
            other_name = other.inner_text()
            assign.select_option(other.get_attribute("value"))
            page.click("#assign-form button[type=submit]")
            expect(page.locator(".card.ok")).to_contain_text("已改派")
            expect(page.locator("dl.facts")).to_contain_text(other_name)
            expect(page.locator("#history")).to_contain_text(f"把任务派给联络员{other_name}")

            # Import a CSV with two bad rows: the page says which rows and why, and nothing is written.
            page.click("header.top nav a[href='/register']")
            page.goto(demo.base + "/register/import")
            page.set_input_files(
                "#f-file", files=[{"name": "新登记.csv", "mimeType": "text/csv", "buffer": BAD_CSV.encode("utf-8")}]
            )
            page.evaluate(  # note the token the page's own script gives the upload (its listener runs first)
                """document.querySelector("form.reg-upload").addEventListener("submit", function (event) {
                    sessionStorage.setItem("token", event.target.elements.progress.value); })"""
            )
            page.click("form.reg-upload button[type=submit]")
            report = page.locator("#import-report")
            expect(report.locator(".error")).to_contain_text("2")
            # The import kept its counts under that token while it ran: both rows checked, none written.
            token = page.evaluate('sessionStorage.getItem("token")')
            assert re.fullmatch(r"[0-9a-f]{32}", token or ""), f"the upload had no progress token: {token!r}"
            counted = page.request.get(f"{demo.base}/register/import/progress?token={token}").json()
            assert (counted["stage"], counted["done"], counted["total"]) == ("rows_checked", 2, 2), counted
            expect(report.locator("table.reg-errors tbody tr")).to_have_count(2)
            expect(report.locator("table.reg-errors tbody tr").first).to_contain_text("2")
            check_accessibility(page)  # the import's report of problems
            page.goto(demo.base + "/register?q=钱奶奶")
            expect(page.locator("main a", has_text="钱奶奶")).to_have_count(0)

            # The board, then a call to everyone not reached yet.
            page.goto(demo.base + "/board")
            expect(page.locator("#open-tasks")).to_contain_text(residents[0]["name"])
            page.screenshot(path=str(tmp_path / "console-board.png"), full_page=False)
            page.click("a#call-not-reached")
            preview = page.locator("#call-preview")
            expect(preview).to_be_visible()
            chosen = int(re.search(r"\d+", preview.locator("h2").inner_text()).group())  # type: ignore[union-attr]
            assert chosen > 0
            preview.locator("form button[type=submit]").click()
            expect(page.locator("#call-result h2").first).to_contain_text("已拨打")

            # Today's report.
            page.click("header.top nav a[href='/reports']")
            expect(page.locator("svg").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "console-report.png"), full_page=True)

            phone = browser.new_context(viewport=PHONE, locale="zh-CN", storage_state=context.storage_state())
            violations_on_phone = csp_violations(phone)
            small = phone.new_page()
            small.goto(demo.base + "/board")
            expect(small.locator(".attention")).to_be_visible()
            small.screenshot(path=str(tmp_path / "console-board-phone.png"), full_page=False)
            small.goto(demo.base + "/reports")
            small.screenshot(path=str(tmp_path / "console-report-phone.png"), full_page=False)
            phone.close()

            # A notice scheduled for tomorrow morning waits, shows its time and status, and is cancelled.
            # The demo's today is the day after the fortnight it played, which began the day after the register.
            tomorrow = (moment.astimezone(shanghai).date() + timedelta(days=HISTORY_DAYS + 2)).isoformat()
            page.goto(demo.base + "/notices/new")
            page.select_option("select[name=target]", index=1)
            page.fill("textarea[name=body]", "明天上午10点在社区活动室打流感疫苗。")
            page.fill("input[name=start_date]", tomorrow)
            page.fill("input[name=start_time]", "10:00")
            schedule_button = page.locator("button.send")
            expect(schedule_button).to_contain_text(f"定时发送：{tomorrow} 10:00 开始")
            schedule_button.click()
            expect(page.locator("p.status")).to_contain_text("定时，未开始")
            check_accessibility(page)
            page.click("text=取消这个通知")
            expect(page.locator("p.status")).to_contain_text("已取消")

            # Every page of the console, by axe-core: no serious or critical accessibility violation.
            page.goto(demo.base + "/register?q=" + residents[0]["name"])
            resident_page = page.locator("main a[href^='/register/residents/']").first.get_attribute("href")
            assert resident_page
            page.goto(demo.base + "/people/liaisons")
            stop_liaison = page.locator("a[href$='/deactivate']").first.get_attribute("href")
            assert stop_liaison  # the page that shows what stopping a liaison would do, before it is done
            liaison_pages = (
                stop_liaison,
                stop_liaison.replace("/deactivate", "/edit"),
                stop_liaison.replace("/deactivate", "/greeting"),
            )
            for path in (
                *PAGES,
                task_page,
                resident_page,
                resident_page + "/edit",
                resident_page + "/access",
                *liaison_pages,
            ):
                page.goto(path if path.startswith("http") else demo.base + path)
                check_accessibility(page)
            assert severe == [], "\n".join(severe)

            # A clerk texts a resident from their page: the page says it went to the gateway; the SMS view lists it.
            page.goto(demo.base + resident_page)
            page.select_option("#sms-to", "resident")
            page.fill("#sms-body", "您好，社区明天上午来送药。")
            page.click("#send-sms button[type=submit]")
            expect(page.locator("#send-sms [role=status]")).to_contain_text("短信已交给网关")
            page.goto(demo.base + "/messages/sent")
            expect(page.locator("#message-list")).to_contain_text("您好，社区明天上午来送药。")

            # A clerk adds the resident's daughter to the care circle with the resident's consent, told by call;
            # the section, with a contact in it, passes axe too.
            page.goto(demo.base + resident_page)
            page.fill("#cc-name", "王芳")
            page.fill("#cc-relation", "女儿")
            page.fill("#cc-phone", "13700000071")
            page.select_option("#cc-consent", "in_person")
            page.select_option("#cc-tell-by", "call")  # she would rather hear it: told by an automated call
            page.click("#circle-add button[type=submit]")
            expect(page.locator("#circle [role=status]")).to_contain_text("关怀圈已保存")
            expect(page.locator("#circle")).to_contain_text("女儿 王芳")
            expect(page.locator("#circle")).to_contain_text("会接到电话（自动语音）")
            check_accessibility(page)
            assert severe == [], "\n".join(severe)

            # Sign out: the console is closed again.
            page.click("form.signout button[type=submit]")
            expect(page).to_have_url(demo.base + "/login")
            page.goto(demo.base + "/tasks")
            expect(page).to_have_url(re.compile(r"/login\?next=/tasks"))
            assert violations == [] and violations_on_phone == [], violations + violations_on_phone
        finally:
            browser.close()
    for name in ("console-board.png", "console-board-phone.png", "console-report.png", "console-report-phone.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("UPDATE_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / name, SCREENSHOTS / name)
