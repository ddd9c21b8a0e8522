"""A resident's medicines in a real browser (Playwright driving Debian's Chromium) against the app served by uvicorn:
a clerk records a medicine on the resident's page, sees its calendar, opens it, records a refill and stops it;
axe-core checks both pages, and no page breaks the Content-Security-Policy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dispatch.models import Resident
from hotline.app import create_app
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests import axe
from tests.browser import CHROMIUM, csp_violations, launch_chromium, served_in_thread
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
def test_a_clerk_records_a_medicine_and_reads_its_calendar(server: str, services: Services) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user(services)
    with services.readonly() as session:
        resident_id = session.scalar(select(Resident.id).where(Resident.name == "梁阿姨"))
    today = services.clock().astimezone(services.settings.timezone).date()
    severe: list[str] = []
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
            page.goto(f"{server}/register/residents/{resident_id}")
            form = page.locator("#add-medicine")
            form.get_by_label("药名").fill("降压药 氨氯地平")
            form.get_by_label("一次续药够吃几天").fill("30")
            form.get_by_label("上次续药日期").fill(today.isoformat())
            form.locator("button[type=submit]").click()
            expect(page.locator("#medicines")).to_contain_text("药已登记")
            section = page.locator("#medicines")
            expect(section).to_contain_text("降压药 氨氯地平")
            expect(section.locator("table.med-month caption")).to_contain_text(f"{today.year}年{today.month}月")
            expect(section.locator("table.med-month")).to_contain_text("续药：降压药 氨氯地平")
            if axe.available():
                severe.extend(axe.severe_violations(page))
            severe.extend(axe.low_contrast_fields(page))
            section.get_by_role("link", name="修改 / 记续药 / 停用").click()
            expect(page.locator("h1")).to_contain_text("降压药 氨氯地平")
            if axe.available():
                severe.extend(axe.severe_violations(page))
            severe.extend(axe.low_contrast_fields(page))
            page.get_by_role("button", name="记下续药").click()
            expect(page.get_by_role("status")).to_contain_text("续药已记下")
            page.get_by_role("button", name="停用", exact=True).click()
            expect(page.locator("main")).to_contain_text("这种药已停用")
            assert not violations, violations
        finally:
            browser.close()
    assert not severe, "\n".join(severe)
