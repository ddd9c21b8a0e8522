"""Reports, the domain: one day of two communities at known times gives exact counts, the median and 90th percentile as
statistics computes them, the coverage trend, the CSV, and each account's scope."""

from __future__ import annotations

import csv
import io
import random
import statistics
from datetime import date, timedelta

import pytest
from sqlalchemy import select, true
from starlette.testclient import TestClient

from dispatch.models import StaffRole, StaffUser, Task
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
from hotline.services import Services
from tests.conftest import DAY, LIAISON_PHONE, ZONE, Clock, at, post_signed, run_worker, sms_params
from tests.console_helpers import make_user
from tests.reports_helpers import HOME, PEACE, make_day_of_data


@pytest.fixture
def day_of_data(services: Services) -> dict[str, int]:
    return make_day_of_data(services)


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
        (0, 5, 2),
        (5, 15, 2),
        (15, 30, 0),
        (30, 60, 0),
        (60, 120, 2),
        (120, None, 2),
    ]


# ── The domain report ───────────────────────────────────────────────────────────────────────────────────────


def test_the_daily_report_counts_each_community_exactly(services: Services, day_of_data: dict[str, int]) -> None:
    report = _report(services)
    assert [c.community for c in report.communities] == [PEACE, HOME]  # sorted by name
    peace, home = report.communities
    assert home.standings == {
        "due": 5,
        "fine": 1,
        "needs": 1,
        "unwell": 1,
        "not_reached": 1,
        "visit_pending": 1,
        "visited": 0,
    }
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
        trend = coverage_trend(session, end=DAY + timedelta(days=1), days=14, zone=ZONE, where=true(), now=at("13:00"))
        with pytest.raises(ValueError, match="days"):
            coverage_trend(session, end=DAY, days=0, zone=ZONE, where=true())
    assert len(trend) == 14 and trend[0].day == DAY - timedelta(days=12) and trend[-1].day == DAY + timedelta(days=1)
    by_day = {d.day: d for d in trend}
    assert by_day[DAY - timedelta(days=1)].as_dict() == {
        "day": "2030-03-03",
        "due": 2,
        "standings": {"fine": 1, "needs": 0, "unwell": 0, "not_reached": 1, "visit_pending": 0, "visited": 0},
    }
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
        ("2030-03-03", PEACE),
        ("2030-03-03", HOME),
        ("2030-03-03", "total"),
        ("2030-03-04", PEACE),
        ("2030-03-04", HOME),
        ("2030-03-04", "total"),
    ]
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
