"""Notices (防控信息) in the console: previewed, sent once per phone and channel, handed to the local gateway by a
real worker, and followed, within scope. The domain's own rules: `test_notices`; check-in calls from the console:
`test_console_calls`.

Real parts: SQLite, redis-server, RQ's SimpleWorker, the app through Starlette's TestClient, the local gateway.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from dispatch import notices
from dispatch.exceptions import NotFound
from dispatch.models import Notice, OutboundStatus, StaffRole
from hotline.services import Services
from tests.conftest import Clock, at, local_outbox, post_signed, run_worker
from tests.console_helpers import make_user, sign_in
from tests.outreach_helpers import AWAY, BODY, HOME, P, count, make_two_communities, outbound, scope_of


@pytest.fixture
def two_communities(services: Services) -> dict[str, int]:
    return make_two_communities(services)


def send_form(client: TestClient, token: str, target: str, key: str, body: str = BODY, channels: str = "sms"):  # type: ignore[no-untyped-def]
    return client.post(
        "/notices/new",
        data={
            "csrf_token": token,
            "target": target,
            "channels": channels,
            "body": body,
            "request_key": key,
            "step": "send",
        },
        follow_redirects=False,
    )


def test_a_notice_from_the_console_goes_out_once_and_shows_its_progress(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    make_user(services, "clerk", StaffRole.CLERK, community=HOME)
    token = sign_in(client, "clerk")
    form = client.get("/notices/new")
    assert form.status_code == 200 and f"community:{HOME}" in form.text and f"grid:{HOME}/第2网格" in form.text
    assert AWAY not in form.text
    key = form.text.split('name="request_key" value="')[1].split('"')[0]

    preview = client.post(
        "/notices/preview",
        data={"target": f"community:{HOME}", "channels": "sms", "body": BODY},
        headers={"X-CSRF-Token": token, "accept": "application/json"},
    )
    assert preview.status_code == 200
    figures = preview.json()["preview"]
    assert (figures["residents"], figures["sms"], figures["calls"], figures["segments"]) == (5, 2, 2, 2)
    assert figures["encoding"] == "UCS-2" and figures["sms_unlimited"]  # the local gateway has no rate
    assert "覆盖 5 位居民" in preview.json()["html"] and "不限速" in preview.json()["html"]
    assert "确认发送（2 条短信，2 通电话）" in preview.json()["html"]

    first = send_form(client, token, f"community:{HOME}", key)
    again = send_form(client, token, f"community:{HOME}", key)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == "/notices/1"
    assert count(services, Notice) == 1 and len(outbound(services)) == 4
    assert all(r.notice_id == 1 and r.status == OutboundStatus.PENDING for r in outbound(services))

    waiting = client.get("/notices/1?part=1")
    assert waiting.status_code == 200 and "正在发送" in waiting.text
    run_worker(services)  # the real worker path: campaign batches, to the local gateway
    handed = [(e.kind, e.to_phone) for e in local_outbox(services)]
    assert sorted(handed) == sorted(
        [("sms", P["梁阿姨"]), ("sms", P["王大爷"]), ("call", P["孙爷爷"]), ("call", P["陈伯"])]
    )
    assert [e.body for e in local_outbox(services) if e.kind == "sms"] == [BODY, BODY]
    assert all("/twilio/voice/message?o=" in e.body for e in local_outbox(services) if e.kind == "call")

    with services.readonly() as session:
        progress = notices.notice_progress(session, 1, scope_of(services, "clerk"))
    assert progress.done and progress.counts == {
        "sms": {"pending": 0, "sent": 2, "delivered": 0, "failed": 0, "total": 2},
        "call": {"pending": 0, "sent": 2, "delivered": 0, "failed": 0, "total": 2},
    }
    # A delivery report moves one SMS on; the page shows it.
    sms = next(r for r in outbound(services) if r.kind == "sms")
    report = {"MessageSid": sms.provider_sid or "", "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
    assert post_signed(client, services, f"/twilio/status?o={sms.id}", report).status_code in (200, 204)
    part = client.get("/notices/1?part=1")
    assert '<td class="delivered">1</td>' in part.text and "全部发完" in part.text
    listing = client.get("/notices")
    assert "短信 2/2" in listing.text and "电话 2/2" in listing.text and "社区：幸福里社区" in listing.text
    page = client.get("/notices/1")
    assert page.status_code == 200 and BODY in page.text and 'data-refresh="/notices/1?part=1"' in page.text
    run_worker(services)
    assert len(local_outbox(services)) == 4  # nothing went twice


def test_an_empty_or_long_text_or_a_night_call_is_refused_and_sends_nothing(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    make_user(services)
    token = sign_in(client)
    clock.now = at("10:00")
    empty = send_form(client, token, f"community:{HOME}", "k" * 16, body="   ")
    assert empty.status_code == 400 and "请写通知内容" in empty.text
    long = send_form(client, token, f"community:{HOME}", "k" * 16, body="通" * 301)
    assert long.status_code == 400 and "内容有 301 字，最多 300 字" in long.text
    clock.now = at("23:00")
    night = send_form(client, token, f"community:{HOME}", "k" * 16, channels="call")
    assert night.status_code == 400 and "21:00–07:00 是夜间免打扰时段" in night.text
    assert count(services, Notice) == 0 and outbound(services) == []


def test_a_clerk_cannot_send_to_or_read_another_community(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    make_user(services)
    make_user(services, "clerk", StaffRole.CLERK, community=HOME)
    make_user(services, "leader", StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格")
    token = sign_in(client)
    assert send_form(client, token, f"community:{AWAY}", "a" * 16).headers["location"] == "/notices/1"
    client.cookies.clear()

    token = sign_in(client, "clerk")
    assert client.get("/notices/1").status_code == 404  # another community's notice, by id
    assert client.get("/notices/1?part=1").status_code == 404
    assert client.get("/notices/99").status_code == 404  # the same answer as a missing one
    assert AWAY not in client.get("/notices").text
    assert send_form(client, token, f"community:{AWAY}", "b" * 16).status_code == 404
    assert send_form(client, token, f"grid:{AWAY}/第1网格", "b" * 16).status_code == 404
    preview = client.post(
        "/notices/preview",
        data={"target": f"community:{AWAY}", "channels": "sms", "body": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert preview.status_code == 404
    # A category notice from the clerk reaches only her community's residents of that category.
    assert send_form(client, token, "category:elderly_alone", "c" * 16).headers["location"] == "/notices/2"
    assert P["何奶奶"] not in {r.to_phone for r in outbound(services) if r.notice_id == 2}
    assert {r.to_phone for r in outbound(services) if r.notice_id == 2} == {P["梁阿姨"], P["孙爷爷"], P["陈伯"]}
    assert client.get("/notices/2").status_code == 200
    client.cookies.clear()

    token = sign_in(client, "leader")
    refused = send_form(client, token, f"community:{HOME}", "d" * 16)  # more than their grid
    assert refused.status_code == 400 and f"“{HOME}”有一部分不在您负责的范围内" in refused.text
    assert "outside your part" not in refused.text, "in the staff member's words, not the domain's English"
    assert send_form(client, token, f"grid:{HOME}/第2网格", "d" * 16).status_code == 404
    assert client.get("/notices/1").status_code == 404
    assert count(services, Notice) == 2
    with services.readonly() as session:
        with pytest.raises(NotFound):
            notices.notice_progress(session, 1, scope_of(services, "clerk"))
        assert [n.id for n in notices.list_notices(session, scope_of(services, "clerk"))] == [2]


def test_rates_in_settings_reach_the_preview_page(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    services.settings = replace(services.settings, sms_per_second=0.5, calls_per_second=0.25)
    make_user(services)
    token = sign_in(client)
    shown = client.post(
        "/notices/new",
        data={
            "csrf_token": token,
            "target": f"community:{HOME}",
            "channels": "sms",
            "body": BODY,
            "step": "preview",
            "request_key": "r" * 16,
        },
    )
    assert shown.status_code == 200
    assert "每条 2 段，共 4 段" in shown.text and "含中文，按 UCS-2 计费" in shown.text
    assert "短信每秒 0.5 条：约 0 分 4 秒" in shown.text and "电话每秒 0.25 通：约 0 分 8 秒" in shown.text
    assert "全部交出去约需 0 分 12 秒" in shown.text and 'value="rrrrrrrrrrrrrrrr"' in shown.text
    assert count(services, Notice) == 0
