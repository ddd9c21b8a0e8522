"""Scheduled notices in the console and the API: a start time typed in the hotline's local time, refused in quiet
hours or the past in words, listed with its time and status, cancelled before it starts and not after. The
domain's rules and the scheduler: `test_notice_schedule`.

Real parts: SQLite or PostgreSQL, redis-server, RQ's SimpleWorker, the app through Starlette's TestClient.
"""

from __future__ import annotations

import pytest
from rq import Queue
from starlette.testclient import TestClient

from dispatch.models import Notice, StaffRole
from dispatch.tokens import create_token
from hotline.services import Services
from tests.conftest import Clock, at, local_outbox, run_worker
from tests.console_helpers import make_user, sign_in
from tests.outreach_helpers import HOME, count, make_two_communities, outbound
from workers.queues import MAINTENANCE

TEXT = "明天上午9点在社区活动室打流感疫苗，请带医保卡。"
DAY = at("10:00").date().isoformat()  # the test day, in the hotline's timezone
API = "/api/v1"


@pytest.fixture
def two_communities(services: Services) -> dict[str, int]:
    return make_two_communities(services)


def form(client: TestClient, token: str, key: str, start_time: str, start_date: str = DAY, step: str = "send"):  # type: ignore[no-untyped-def]
    data = {
        "csrf_token": token,
        "target": f"community:{HOME}",
        "channels": "sms",
        "body": TEXT,
        "request_key": key,
        "step": step,
        "start_date": start_date,
        "start_time": start_time,
    }
    return client.post("/notices/new", data=data, follow_redirects=False)


def start_due(services: Services) -> None:
    Queue(MAINTENANCE, connection=services.redis).enqueue("hotline.jobs.notices.start_due_notices")
    run_worker(services)


def test_a_clerk_schedules_a_notice_sees_it_waiting_and_cancels_it(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    make_user(services, "clerk", StaffRole.CLERK, community=HOME)
    token = sign_in(client, "clerk")
    page = client.get("/notices/new")
    assert 'name="start_date"' in page.text and "24 小时制" in page.text and "夜间 21:00–07:00 不能定时" in page.text

    night = form(client, token, "k" * 16, "22:30")
    assert night.status_code == 400
    assert "21:00–07:00 是夜间免打扰时段，不能定在这时开始。请选 07:00 到 21:00 之间的时间。" in night.text
    past = form(client, token, "k" * 16, "09:00")
    assert past.status_code == 400 and "这个时间已经过了" in past.text
    for bad in ("9点半", "24:00", ""):
        wrong = form(client, token, "k" * 16, bad)
        assert wrong.status_code == 400 and "开始时间要同时填日期和时间" in wrong.text, bad
    assert count(services, Notice) == 0

    preview = form(client, token, "k" * 16, "14:30", step="preview")
    assert f"定时发送：{DAY} 14:30 开始（2 条短信，2 通电话）" in preview.text
    first = form(client, token, "k" * 16, "14:30")
    again = form(client, token, "k" * 16, "14:30")  # a double click
    assert first.status_code == again.status_code == 303 and first.headers["location"] == "/notices/1"
    assert count(services, Notice) == 1 and outbound(services) == []
    shown = client.get("/notices/1")
    assert "状态：定时，未开始" in shown.text and f"定于 {DAY} 14:30 开始" in shown.text
    assert 'action="/notices/1/cancel"' in shown.text and "取消这个通知" in shown.text
    listing = client.get("/notices")
    assert "定时，未开始" in listing.text and "14:30" in listing.text

    # A grid leader sees the community's notice but may not cancel it: only its author, the community's clerk or
    # an admin may.
    client.cookies.clear()
    make_user(services, "leader", StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格")
    leader = sign_in(client, "leader")
    refused = client.post("/notices/1/cancel", data={"csrf_token": leader})
    assert refused.status_code == 409 and "只有发通知的人、本社区的工作人员或管理员可以取消" in refused.text
    assert "状态：定时，未开始" in client.get("/notices/1").text
    client.cookies.clear()
    token = sign_in(client, "clerk")

    cancelled = client.post("/notices/1/cancel", data={"csrf_token": token}, follow_redirects=False)
    repeated = client.post("/notices/1/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert cancelled.status_code == repeated.status_code == 303
    shown = client.get("/notices/1")
    assert "状态：已取消" in shown.text and "取消这个通知" not in shown.text
    clock.now = at("14:30")
    start_due(services)
    assert outbound(services) == [] and local_outbox(services) == []


def test_a_notice_that_has_started_cannot_be_cancelled(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    make_user(services)
    token = sign_in(client)
    assert form(client, token, "s" * 16, "10:30").headers["location"] == "/notices/1"
    clock.now = at("10:30")
    start_due(services)
    assert len(local_outbox(services)) == 4
    late = client.post("/notices/1/cancel", data={"csrf_token": token})
    assert late.status_code == 409 and "取消不了：这个通知已经开始发送了。" in late.text
    assert "状态：已发完" in client.get("/notices/1").text
    assert "已发完" in client.get("/notices").text


def test_the_api_schedules_and_cancels_a_notice(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    with services.sessions.begin() as session:
        _, secret = create_token(session, name="clerk app", role=StaffRole.CLERK, community=HOME)
    headers = {"Authorization": f"Bearer {secret}"}
    notice = {"target_kind": "community", "target": HOME, "body": TEXT}

    night = client.post(f"{API}/notices", json={**notice, "starts_at": f"{DAY}T22:30"}, headers=headers)
    assert night.status_code == 409 and "quiet hours (21:00-07:00)" in night.json()["error"]
    bad = client.post(f"{API}/notices", json={**notice, "starts_at": f"{DAY}T9:30"}, headers=headers)
    assert bad.status_code == 422 and "YYYY-MM-DDTHH:MM" in bad.json()["error"]
    preview = client.post(f"{API}/notices/preview", json={**notice, "starts_at": f"{DAY}T09:00"}, headers=headers)
    assert [p["code"] for p in preview.json()["problems"]] == ["start_past"]

    keyed = {**headers, "Idempotency-Key": "api-key-0001"}
    made = client.post(f"{API}/notices", json={**notice, "starts_at": f"{DAY}T15:00"}, headers=keyed)
    again = client.post(f"{API}/notices", json={**notice, "starts_at": f"{DAY}T15:00"}, headers=keyed)
    assert made.status_code == again.status_code == 200
    body = made.json()["notice"]
    assert again.json()["notice"]["id"] == body["id"] and made.json()["messages_decided"] == 0
    assert (body["status"], body["starts_at"], body["started_at"]) == ("scheduled", at("15:00").isoformat(), None)
    assert count(services, Notice) == 1 and outbound(services) == []

    cancelled = client.post(f"{API}/notices/{body['id']}/cancel", headers=headers)
    repeated = client.post(f"{API}/notices/{body['id']}/cancel", headers=headers)
    assert cancelled.status_code == repeated.status_code == 200
    assert (cancelled.json()["cancelled_now"], repeated.json()["cancelled_now"]) == (True, False)
    assert repeated.json()["notice"]["status"] == "cancelled"

    sent = client.post(f"{API}/notices", json=notice, headers=headers).json()["notice"]
    late = client.post(f"{API}/notices/{sent['id']}/cancel", headers=headers)
    assert late.status_code == 409 and "already started" in late.json()["error"]
    assert client.post(f"{API}/notices/99/cancel", headers=headers).status_code == 404
