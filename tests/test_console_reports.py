"""Reports: one day of two communities built through the register and the check-in and task models at known
times; exact counts, the median and 90th percentile, the SVG charts, the CSV, and each account's scope."""

from __future__ import annotations

import csv
import io
import random
import re
import statistics
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, true
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import (
    Checkin,
    CheckinStatus,
    Community,
    Resident,
    StaffRole,
    StaffUser,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.reports import (
    DailyReport,
    Durations,
    coverage_trend,
    csv_columns,
    daily_report,
    histogram,
    percentile,
    report_csv,
)
from dispatch.staff_accounts import household_scope
from hotline.console.charts import Series, bars, legend, stacked_columns
from hotline.services import Services
from tests.conftest import DAY, LIAISON_PHONE, ZONE, Clock, at, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in

HOME, PEACE = "幸福里社区", "和平社区"
# name: (community, grid, building, phone)
PEOPLE = {
    "梁阿姨": (HOME, "第1网格", "1号楼", "+8613900000001"),
    "王大爷": (HOME, "第1网格", "1号楼", "+8613900000002"),
    "刘奶奶": (HOME, "第1网格", "1号楼", "+8613900000003"),
    "赵姐": (HOME, "第2网格", "9号楼", "+8613900000004"),
    "吴叔": (HOME, "第2网格", "9号楼", "+8613900000005"),
    "孙爷爷": (PEACE, "东区", "2号楼", "+8613900000006"),
}


def _checkin(session: Session, resident: Resident, hhmm: str, status: CheckinStatus, day: date = DAY) -> Checkin:
    checkin = Checkin(resident_id=resident.id, household_id=resident.household_id, local_date=day, slot=hhmm,
                      channel="sms", due_at=at(hhmm, day), status=status, sent_at=at(hhmm, day))  # fmt: skip
    session.add(checkin)
    return checkin


def _task(
    session: Session,
    resident: Resident,
    category: TaskCategory,
    created: datetime,
    accepted: datetime | None = None,
    done: datetime | None = None,
    escalated: tuple[datetime, ...] = (),
) -> Task:
    """A task with the events the domain writes: created, escalated (a rung each), accepted, done."""
    status = TaskStatus.DONE if done else TaskStatus.ACCEPTED if accepted else TaskStatus.OFFERED
    task = Task(household_id=resident.household_id, resident_id=resident.id, category=category, status=status,
                priority=TaskPriority.NORMAL, created_at=created, accepted_at=accepted)  # fmt: skip
    session.add(task)
    session.flush()
    events = [("created", created), *(("escalated", moment) for moment in escalated)]
    events += [("accepted", accepted)] if accepted else []
    events += [("done", done)] if done else []
    for kind, moment in events:
        session.add(TaskEvent(task_id=task.id, kind=kind, actor="system", channel="sms", at=moment))
    return task


@pytest.fixture
def day_of_data(services: Services) -> dict[str, int]:
    """Two communities on DAY (2030-03-04, Asia/Shanghai): 幸福里 with grids 1 and 2, 和平 with one grid.

    Check-ins at 09:00: 梁阿姨 fine (and fine again at 15:00), 王大爷 needs, 刘奶奶 unwell, 赵姐 no answer and a
    visit task waiting, 吴叔 no answer, 孙爷爷 fine. The day before: 孙爷爷 fine, 吴叔 no answer.

    Tasks, minutes from request to taken / done:
      幸福里 grid 1: 王大爷 medicine 10 / 60, 梁阿姨 groceries 4 / 120, 刘奶奶 unwell 30 / -;
                     and one made the day before (not counted) that escalated at 00:05 on DAY (counted).
      幸福里 grid 2: 吴叔 groceries 100 / 120 (escalated at 10:30), 赵姐's visit - / - (escalated at 12:30).
      和平:          孙爷爷 groceries 2 / 32.
    """
    ids: dict[str, int] = {}
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        people = {}
        for room, (name, (community, grid, building, phone)) in enumerate(PEOPLE.items(), start=101):
            resident = register.add_resident(
                session, name=name, phones=[phone], liaison_phone=LIAISON_PHONE, region="CN",
                address=register.Address(community, building, "1单元", str(room)),
            )  # fmt: skip
            household = resident.household
            assert household.community is not None
            household.grid = register.find_or_create_grid(session, household.community, grid)
            people[name] = resident
            ids[name] = resident.id
        session.flush()
        ids["home"] = people["梁阿姨"].household.community_id or 0
        ids["peace"] = people["孙爷爷"].household.community_id or 0
        for name, status in (("梁阿姨", CheckinStatus.FINE), ("王大爷", CheckinStatus.NEEDS),
                             ("刘奶奶", CheckinStatus.UNWELL), ("吴叔", CheckinStatus.SENT),
                             ("孙爷爷", CheckinStatus.FINE)):  # fmt: skip
            _checkin(session, people[name], "09:00", status)
        _checkin(session, people["梁阿姨"], "15:00", CheckinStatus.FINE)
        yesterday = DAY - timedelta(days=1)
        _checkin(session, people["孙爷爷"], "09:00", CheckinStatus.FINE, yesterday)
        _checkin(session, people["吴叔"], "09:00", CheckinStatus.SENT, yesterday)
        m = TaskCategory
        _task(session, people["王大爷"], m.MEDICINE, at("09:06"), at("09:16"), at("10:06"))
        _task(session, people["梁阿姨"], m.GROCERIES, at("09:30"), at("09:34"), at("11:30"))
        _task(session, people["刘奶奶"], m.UNWELL, at("09:07"), at("09:37"))
        _task(session, people["王大爷"], m.RUBBISH, at("23:50", yesterday), at("00:10"), escalated=(at("00:05"),))
        _task(session, people["吴叔"], m.GROCERIES, at("10:00"), at("11:40"), at("12:00"), escalated=(at("10:30"),))
        visit = _task(session, people["赵姐"], m.VISIT, at("12:00"), escalated=(at("12:30"),))
        zhao = _checkin(session, people["赵姐"], "09:00", CheckinStatus.SENT)
        zhao.visit_task_id, zhao.rung = visit.id, 2
        _task(session, people["孙爷爷"], m.GROCERIES, at("08:00"), at("08:02"), at("08:32"))
    return ids


def _report(services: Services, day: date = DAY, now: str = "13:00") -> DailyReport:
    """The whole register's report of `day`, as of `now` on DAY."""
    with services.readonly() as session:
        return daily_report(session, day=day, zone=ZONE, where=true(), now=at(now))


# ── Percentiles ──────────────────────────────────────────────────────────────────────────────────────────────


def test_percentiles_interpolate_between_the_closest_ranks_as_statistics_inclusive_does() -> None:
    assert percentile([4, 10, 30, 100], 0.5) == 20
    assert percentile([4, 10, 30, 100], 0.9) == pytest.approx(79.0)  # position 2.7: 30 + 0.7 × 70
    assert percentile([7], 0.9) == 7 and percentile([], 0.5) is None
    assert percentile([5, 1, 3], 0.5) == 3  # unsorted input
    rng = random.Random(8)
    for _ in range(200):
        values = [rng.uniform(0, 600) for _ in range(rng.randint(2, 40))]
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        assert percentile(values, 0.9) == pytest.approx(deciles[8])
        assert percentile(values, 0.5) == pytest.approx(statistics.median(values))
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile([1.0], 1.5)
    assert Durations.of([4, 10, 30, 100]) == Durations(4, 20.0, 79.0)
    assert Durations.of([]).as_dict() == {"count": 0, "median_minutes": None, "p90_minutes": None}


def test_histogram_buckets_are_closed_below_and_open_above() -> None:
    assert [(b.lower, b.upper, b.count) for b in histogram([0, 4.9, 5, 14.99, 60, 119, 120, 999])] == [
        (0, 5, 2), (5, 15, 2), (15, 30, 0), (30, 60, 0), (60, 120, 2), (120, None, 2),
    ]  # fmt: skip


# ── The domain report ───────────────────────────────────────────────────────────────────────────────────────


def test_the_daily_report_counts_each_community_exactly(services: Services, day_of_data: dict[str, int]) -> None:
    report = _report(services)
    assert [c.community for c in report.communities] == [PEACE, HOME]  # sorted by name
    peace, home = report.communities
    assert home.standings == {"due": 5, "fine": 1, "needs": 1, "unwell": 1, "not_reached": 1, "visit_pending": 1,
                              "visited": 0}  # fmt: skip
    assert home.known_percent == 60.0
    # Check-in rows due by 13:00: 梁阿姨's 15:00 is not due yet.
    assert {k: v for k, v in home.checkins.items() if v} == {"fine": 1, "needs": 1, "unwell": 1, "sent": 2}
    assert {k: v for k, v in home.tasks.items() if v} == {"groceries": 2, "medicine": 1, "unwell": 1, "visit": 1}
    assert home.tasks_total == 5  # the rubbish run made the evening before is not this day's
    assert home.to_accept == Durations(4, 20.0, 79.0)  # 4, 10, 30, 100 minutes
    assert home.to_done == Durations(3, 120.0, 120.0)  # 60, 120, 120
    assert home.escalations == 3  # 00:05 (of the day before's task), 10:30, 12:30
    assert (peace.standings["due"], peace.standings["fine"], peace.tasks["groceries"]) == (1, 1, 1)
    assert (peace.to_accept, peace.to_done, peace.escalations) == (Durations(1, 2.0, 2.0), Durations(1, 32.0, 32.0), 0)
    total = report.total
    assert total.community == "*" and total.standings["due"] == 6 and total.tasks_total == 6
    assert total.to_accept == Durations(5, 10.0, 72.0)  # 2, 4, 10, 30, 100: position 3.6 → 30 + 0.6 × 70
    assert total.to_done == Durations(4, 90.0, 120.0)  # 32, 60, 120, 120
    assert [b.count for b in report.accept_histogram] == [2, 1, 0, 1, 1, 0]
    # Later in the day the 15:00 check-in counts too.
    assert _report(services, now="18:00").communities[1].checkins["fine"] == 2
    data = report.as_dict()
    assert data["day"] == "2030-03-04" and data["timezone"] == "Asia/Shanghai" and data["empty"] is False
    assert data["total"]["to_accept"] == {"count": 5, "median_minutes": 10.0, "p90_minutes": 72.0}
    assert data["communities"][1]["tasks"]["groceries"] == 2
    assert data["accept_histogram"][0] == {"lower_minutes": 0, "upper_minutes": 5, "count": 2}


def test_a_grid_leaders_report_leaves_out_every_other_grid(services: Services, day_of_data: dict[str, int]) -> None:
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid="第1网格")
    with services.readonly() as session:
        leader = session.scalars(select(StaffUser).where(StaffUser.username == "leader1")).one()
        where = household_scope(leader)
        report = daily_report(session, day=DAY, zone=ZONE, where=where, now=at("13:00"))
        trend = coverage_trend(session, end=DAY, days=3, zone=ZONE, where=where, now=at("13:00"))
    [mine] = report.communities
    assert mine.standings["due"] == 3 and mine.standings["not_reached"] == mine.standings["visit_pending"] == 0
    assert {k: v for k, v in mine.tasks.items() if v} == {"groceries": 1, "medicine": 1, "unwell": 1}
    assert mine.to_accept == Durations(3, 10.0, 26.0)  # 4, 10, 30
    assert mine.escalations == 1
    assert [(d.day, d.due) for d in trend] == [(DAY - timedelta(days=2), 0), (DAY - timedelta(days=1), 0), (DAY, 3)]


def test_the_coverage_trend_has_one_entry_a_day_and_zeros_after_today(
    services: Services, day_of_data: dict[str, int]
) -> None:
    with services.readonly() as session:
        trend = coverage_trend(session, end=DAY + timedelta(days=1), days=14, zone=ZONE, where=true(),
                               now=at("13:00"))  # fmt: skip
        with pytest.raises(ValueError, match="days"):
            coverage_trend(session, end=DAY, days=0, zone=ZONE, where=true())
    assert len(trend) == 14 and trend[0].day == DAY - timedelta(days=12) and trend[-1].day == DAY + timedelta(days=1)
    by_day = {d.day: d for d in trend}
    assert by_day[DAY - timedelta(days=1)].as_dict() == {
        "day": "2030-03-03", "due": 2,
        "standings": {"fine": 1, "needs": 0, "unwell": 0, "not_reached": 1, "visit_pending": 0, "visited": 0},
    }  # fmt: skip
    assert by_day[DAY].due == 6 and by_day[DAY].standings["visit_pending"] == 1
    assert by_day[DAY + timedelta(days=1)].due == 0
    assert sum(d.due for d in trend) == 8


def test_an_empty_day_is_a_report_of_zeros(services: Services, day_of_data: dict[str, int]) -> None:
    report = _report(services, day=DAY + timedelta(days=40))
    assert report.empty and report.communities == [] and report.total.tasks_total == 0
    assert report.total.to_accept == Durations(0, None, None) and report.total.known_percent is None
    assert report.as_dict()["empty"] is True
    rows = list(csv.reader(io.StringIO(report_csv(report).decode("utf-8-sig"))))
    assert rows[0] == csv_columns() and len(rows) == 2 and rows[1][1] == "total"


def test_the_csv_has_stable_keys_or_the_words_given_and_a_bom(services: Services, day_of_data: dict[str, int]) -> None:
    reports = [_report(services, day=DAY - timedelta(days=1)), _report(services)]
    body = report_csv(reports)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [(r["day"], r["community"]) for r in rows] == [
        ("2030-03-03", PEACE), ("2030-03-03", HOME), ("2030-03-03", "total"),
        ("2030-03-04", PEACE), ("2030-03-04", HOME), ("2030-03-04", "total"),
    ]  # fmt: skip
    home = rows[4]
    assert (home["due"], home["not_reached"], home["tasks_groceries"], home["tasks_total"]) == ("5", "1", "2", "5")
    assert (home["accept_median_minutes"], home["accept_p90_minutes"], home["escalations"]) == ("20.0", "79.0", "3")
    assert rows[0]["accept_median_minutes"] == ""  # nothing taken that day in 和平
    labelled = report_csv(reports[1], {"day": "日期", "total": "合计"}).decode("utf-8-sig")
    assert labelled.splitlines()[0].startswith("日期,community,") and labelled.splitlines()[-1].startswith(
        "2030-03-04,合计,"
    )


def test_a_task_made_and_taken_by_sms_is_timed_from_the_request(
    client: TestClient, services: Services, clock: Clock, community: None
) -> None:
    clock.now = at("09:30")
    assert post_signed(client, services, "/twilio/sms", sms_params("买药")).status_code == 200
    run_worker(services)
    with services.readonly() as session:
        task_id = session.scalars(select(Task.id)).one()
    for hhmm, body in (("09:42", f"接{task_id}"), ("10:10", f"完{task_id}")):
        clock.now = at(hhmm)
        reply = sms_params(body, from_phone=LIAISON_PHONE)
        assert post_signed(client, services, "/twilio/sms", reply).status_code == 200
        run_worker(services)
    report = _report(services, now="12:00")
    assert report.total.tasks["medicine"] == 1
    assert report.total.to_accept == Durations(1, 12.0, 12.0) and report.total.to_done == Durations(1, 40.0, 40.0)


# ── Charts ──────────────────────────────────────────────────────────────────────────────────────────────────


def test_charts_are_svg_with_a_title_text_labels_and_escaped_words() -> None:
    svg = bars(chart_id="c1", title="新任务 <b>", description="共 3 件", items=[("买菜", 2), ("买药 & 药店", 1)])
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">新任务 &lt;b&gt;</title>' in svg and "<b>" not in svg
    assert svg.count('<g class="bar">') == 2 and "<title>买菜: 2</title>" in svg and "买药 &amp; 药店" in svg
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1])  # bars in proportion
    stacked = stacked_columns(
        chart_id="c2", title="t", description="d",
        columns=[("03-03", {"fine": 1, "not_reached": 1}), ("03-04", {"fine": 4, "unwell": 2})],
        series=[Series("fine", "平安", "#8cc09a"), Series("unwell", "不舒服", "#e0a29b"),
                Series("not_reached", "未联系上", "#efc27a")],
    )  # fmt: skip
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
        ("2030-03-03", PEACE), ("2030-03-03", HOME), ("2030-03-03", "合计"),
        ("2030-03-04", PEACE), ("2030-03-04", HOME), ("2030-03-04", "合计"),
    ]  # fmt: skip
    one = client.get("/reports.csv", params={"day": "2030-03-04"})
    assert one.headers["content-disposition"] == 'attachment; filename="report-2030-03-04.csv"'
    # Anonymous: no export.
    client.cookies.clear()
    assert client.get("/reports.csv", follow_redirects=False).status_code == 303
    with services.readonly() as session:
        assert session.scalar(select(Community.id).where(Community.name == HOME)) == day_of_data["home"]
