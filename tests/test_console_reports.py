"""Reports in the console: one day of two communities built through the register and the check-in and task models
at known times; the page's tables and SVG charts, the CSV export, and each account's scope. The report's own
numbers: `test_reports`."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import Community, StaffRole, StaffUser
from dispatch.reports import csv_columns
from hotline.console.charts import Series, bars, legend, stacked_columns
from hotline.services import Services
from tests.conftest import Clock, at
from tests.console_helpers import make_user, sign_in
from tests.reports_helpers import HOME, PEACE, make_day_of_data


@pytest.fixture
def day_of_data(services: Services) -> dict[str, int]:
    return make_day_of_data(services)


# ── Charts ──────────────────────────────────────────────────────────────────────────────────────────────────


def test_charts_are_svg_with_a_title_text_labels_and_escaped_words() -> None:
    svg = bars(chart_id="c1", title="新任务 <b>", description="共 3 件", items=[("买菜", 2), ("买药 & 药店", 1)])
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">新任务 &lt;b&gt;</title>' in svg and "<b>" not in svg
    assert svg.count('<g class="bar">') == 2 and "<title>买菜: 2</title>" in svg and "买药 &amp; 药店" in svg
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1])  # bars in proportion
    stacked = stacked_columns(
        chart_id="c2",
        title="t",
        description="d",
        columns=[("03-03", {"fine": 1, "not_reached": 1}), ("03-04", {"fine": 4, "unwell": 2})],
        series=[
            Series("fine", "平安", "#8cc09a"),
            Series("unwell", "不舒服", "#e0a29b"),
            Series("not_reached", "未联系上", "#efc27a"),
        ],
    )
    assert stacked.count('class="part fine"') == 2 and stacked.count('class="part unwell"') == 1
    assert "<title>03-04 不舒服: 2</title>" in stacked
    words = legend([Series("fine", "平安", "#8cc09a"), Series("x", "<i>", "red")])
    assert words.count("<li>") == 2 and "平安</li>" in words and "&lt;i&gt;</li>" in words
    assert re.search(r'font-weight="600">6</text>', stacked)  # the day's total on top of its column
    empty = bars(chart_id="c3", title="t", description="d", items=[("买菜", 0)])
    assert 'width="0.0"' in empty and ">0</text>" in empty


# ── The page and the export ─────────────────────────────────────────────────────────────────────────────────


def test_the_reports_page_shows_tables_and_charts_for_an_admin(
    client: TestClient, services: Services, clock: Clock, day_of_data: dict[str, int]
) -> None:
    clock.now = at("13:00")
    make_user(services, "admin")
    sign_in(client, "admin")
    page = client.get("/reports")  # today is DAY
    assert page.status_code == 200
    html = page.text
    assert "2030-03-04 日报" in html and "今天截至 13:00" in html
    assert HOME in html and PEACE in html and "合计" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-coverage"' in html
    assert "<title>03-04 未联系上: 1</title>" in html and "<title>03-03 平安: 1</title>" in html
    assert "<title>买菜: 3</title>" in html and "<title>买药: 1</title>" in html
    assert "<title>0–5分钟: 2</title>" in html and "<title>120分钟以上: 0</title>" in html
    assert "只算当天提出的任务" in html  # the page says what the times are over
    assert "20分钟" in html and "79分钟" in html and "72分钟" in html
    # One community, chosen by an admin.
    only = client.get("/reports", params={"day": "2030-03-04", "community": day_of_data["peace"]})
    assert only.status_code == 200 and HOME not in only.text.split("reports-links", 1)[1]
    assert "<title>买菜: 1</title>" in only.text
    # In English.
    with services.sessions.begin() as session:
        session.scalars(select(StaffUser)).one().language = "en"
    english = client.get("/reports", params={"day": "2030-03-04"}).text
    assert "Report for 2030-03-04" in english and "<title>Groceries: 3</title>" in english


def test_an_empty_day_says_so_calmly(
    client: TestClient, services: Services, clock: Clock, day_of_data: dict[str, int]
) -> None:
    clock.now = at("13:00")
    make_user(services, "admin")
    sign_in(client, "admin")
    page = client.get("/reports", params={"day": "2031-01-01"})
    assert page.status_code == 200
    assert "2031-01-01 没有数据" in page.text and 'id="checkins"' not in page.text and 'id="tasks"' not in page.text
    assert "这14天没有应问候的居民" in page.text and 'id="chart-coverage"' not in page.text
    # A quiet day after busy ones: the day says no data, the fortnight's chart still shows the busy days.
    after = client.get("/reports", params={"day": "2030-03-10"})
    assert "2030-03-10 没有数据" in after.text and "<title>03-04 平安: 2</title>" in after.text


def test_bad_input_is_a_400_and_another_scope_is_a_404(
    client: TestClient, services: Services, clock: Clock, day_of_data: dict[str, int]
) -> None:
    clock.now = at("13:00")
    make_user(services, "admin")
    make_user(services, "clerk2", StaffRole.CLERK, community=PEACE)
    sign_in(client, "admin")
    assert client.get("/reports", params={"day": "2030-02-30"}).status_code == 400
    assert "日期不对" in client.get("/reports", params={"day": "yesterday"}).text
    for extreme in ("9999-12-31", "0001-01-01"):  # no day after the last nor before the first: refused, not a 500
        assert client.get("/reports", params={"day": extreme}).status_code == 400
        assert client.get("/reports.csv", params={"day": extreme, "days": "31"}).status_code == 400
    assert client.get("/reports", params={"community": "abc"}).status_code == 400
    assert client.get("/reports.csv", params={"days": "99"}).status_code == 400
    assert client.get("/reports.csv", params={"days": "9" * 5000}).status_code == 400
    assert client.get("/reports", params={"community": "999"}).status_code == 404
    assert client.get("/reports", params={"community": "9" * 40}).status_code == 404
    client.cookies.clear()
    sign_in(client, "clerk2")
    mine = client.get("/reports", params={"day": "2030-03-04"})
    assert mine.status_code == 200 and "范围：和平社区" in mine.text and HOME not in mine.text
    assert 'name="community"' not in mine.text  # no choice of community for a clerk
    # Changing the id in the URL to another community answers as a missing one does.
    other = client.get("/reports", params={"day": "2030-03-04", "community": day_of_data["home"]})
    missing = client.get("/reports", params={"day": "2030-03-04", "community": "999"})
    assert other.status_code == missing.status_code == 404 and HOME not in other.text
    assert re.sub(r"community=\d+", "", other.text) == re.sub(r"community=\d+", "", missing.text)
    assert client.get("/reports.csv", params={"day": "2030-03-04", "community": day_of_data["home"]}).status_code == 404


def test_a_grid_leaders_page_and_csv_leave_out_other_grids(
    client: TestClient, services: Services, clock: Clock, day_of_data: dict[str, int]
) -> None:
    clock.now = at("13:00")
    make_user(services, "leader2", StaffRole.GRID_LEADER, grid="第2网格")
    sign_in(client, "leader2")
    page = client.get("/reports", params={"day": "2030-03-04"})
    assert page.status_code == 200 and "范围：幸福里社区 · 第2网格" in page.text
    assert "<title>买菜: 1</title>" in page.text and "<title>上门看看: 1</title>" in page.text
    assert "<title>买药: 0</title>" in page.text and PEACE not in page.text
    export = client.get("/reports.csv", params={"day": "2030-03-04"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == [HOME, "合计"]
    header = rows[0]
    home = dict(zip(header, rows[1], strict=True))
    assert (home["应问候"], home["未联系上"], home["待上门"], home["任务：买菜"]) == ("2", "1", "1", "1")
    assert home["升级次数"] == "2" and home["接单中位数（分钟）"] == "100.0"


def test_the_csv_export_is_an_attachment_for_excel(
    client: TestClient, services: Services, clock: Clock, day_of_data: dict[str, int]
) -> None:
    clock.now = at("13:00")
    make_user(services, "admin")
    sign_in(client, "admin")
    export = client.get("/reports.csv", params={"day": "2030-03-04", "days": "2"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"] == 'attachment; filename="report-2030-03-03-to-2030-03-04.csv"'
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["日期", "社区", "问候记录：待发出", "问候记录：已发未回"]
    assert len(rows[0]) == len(csv_columns()) and len(set(rows[0])) == len(rows[0])
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("2030-03-03", PEACE),
        ("2030-03-03", HOME),
        ("2030-03-03", "合计"),
        ("2030-03-04", PEACE),
        ("2030-03-04", HOME),
        ("2030-03-04", "合计"),
    ]
    one = client.get("/reports.csv", params={"day": "2030-03-04"})
    assert one.headers["content-disposition"] == 'attachment; filename="report-2030-03-04.csv"'
    # Anonymous: no export.
    client.cookies.clear()
    assert client.get("/reports.csv", follow_redirects=False).status_code == 303
    with services.readonly() as session:
        assert session.scalar(select(Community.id).where(Community.name == HOME)) == day_of_data["home"]
