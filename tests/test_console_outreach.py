"""Calls and notices in the console: placing check-in calls to a selection within scope, and notices (防控信息)
previewed, sent once per phone and channel, handed to the local gateway by a real worker, and followed.

Real parts: SQLite, redis-server, RQ's SimpleWorker, the app through Starlette's TestClient, the local gateway.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import ColumnElement, func, select, true, update
from starlette.testclient import TestClient

from dispatch import notices, register
from dispatch.exceptions import NotFound
from dispatch.models import (
    AuditEntry,
    Community,
    Grid,
    LocalOutboxEntry,
    Notice,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentCategory,
    ResidentStatus,
    StaffRole,
    StaffUser,
)
from dispatch.staff import household_scope
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.conftest import PHONES, Clock, at, local_outbox, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in

HOME, AWAY = "幸福里社区", "光明社区"
# A register of two communities. 幸福里: grid 1 has an SMS reader, her husband on the same phone, a landline, an
# opted-out, a moved-away and a paused resident; grid 2 an SMS reader and a voice resident with a mobile.
P = {
    "梁阿姨": "+8613900000101",
    "梁伯": "+8613900000101",  # shares her phone
    "孙爷爷": "+8637166881101",  # a landline: voice
    "周阿姨": "+8613900000103",  # opted out
    "吴叔": "+8613900000104",  # moved away
    "郑阿婆": "+8613900000105",  # paused
    "王大爷": "+8613900000107",  # grid 2, SMS
    "陈伯": "+8613900000108",  # grid 2, voice on a mobile
    "何奶奶": "+8613900000109",  # 光明社区
}
BODY = 2 * (
    "各位居民：明天上午8点到11点在小区东门做核酸检测，请带好身份证、戴好口罩。"
    "行动不便的老人请拨打社区热线，我们上门采样。"
)


@pytest.fixture
def two_communities(services: Services) -> dict[str, int]:
    ids: dict[str, int] = {}
    places = {
        "梁阿姨": (HOME, "第1网格", "1"), "梁伯": (HOME, "第1网格", "1"), "孙爷爷": (HOME, "第1网格", "2"),
        "周阿姨": (HOME, "第1网格", "3"), "吴叔": (HOME, "第1网格", "4"), "郑阿婆": (HOME, "第1网格", "5"),
        "王大爷": (HOME, "第2网格", "6"), "陈伯": (HOME, "第2网格", "7"), "何奶奶": (AWAY, "第1网格", "8"),
    }  # fmt: skip
    with services.sessions.begin() as session:
        for name, (community, grid, room) in places.items():
            resident = register.add_resident(
                session, name=name, phones=[P[name]], region="CN", channel="voice" if name == "陈伯" else None,
                address=register.Address(community, "1号楼", "1单元", room),
            )  # fmt: skip
            household = resident.household
            assert household.community is not None
            household.grid = register.find_or_create_grid(session, household.community, grid)
            resident.categories = [ResidentCategory.ELDERLY_ALONE] if name != "王大爷" else []
            ids[name] = resident.id
        for name, status in (("周阿姨", ResidentStatus.OPTED_OUT), ("吴叔", ResidentStatus.MOVED_AWAY),
                             ("郑阿婆", ResidentStatus.PAUSED)):  # fmt: skip
            session.get_one(Resident, ids[name]).status = status
    return ids


def outbound(services: Services) -> list[OutboundMessage]:
    with services.readonly() as session:
        return list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


def count(services: Services, model: type) -> int:
    with services.readonly() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def scope_of(services: Services, username: str) -> ColumnElement[bool]:
    with services.readonly() as session:
        return household_scope(session.scalars(select(StaffUser).where(StaffUser.username == username)).one())


# ── Notices: the domain ────────────────────────────────────────────────────────────────────────────────────


def test_the_preview_counts_people_segments_and_time_exactly(
    services: Services, two_communities: dict[str, int]
) -> None:
    with services.readonly() as session:
        found = notices.preview(session, true(), target_kind="community", target=HOME, channels="sms",
                                body=BODY, sms_per_second=0.5, calls_per_second=0.25, now=at("10:00"))  # fmt: skip
    # 梁阿姨 and 梁伯 share one SMS; 王大爷 one; 孙爷爷 (landline) and 陈伯 (voice) are called instead.
    assert (found.residents, found.sms, found.calls) == (5, 2, 2)
    assert found.skipped == {"moved_away": 1, "opted_out": 1, "paused": 1}
    assert len(BODY) == 120 and (found.encoding, found.characters, found.segments) == ("UCS-2", 120, 2)
    assert (found.sms_seconds, found.call_seconds, found.seconds) == (4.0, 8.0, 12.0)
    assert found.problems == ()
    as_json = found.as_dict()
    assert as_json["sms_segments"] == 4 and as_json["ok"] and not as_json["sms_unlimited"]

    with services.readonly() as session:
        both = notices.preview(session, true(), target_kind="grid", target=f"{HOME}/第1网格",
                               channels="both", body="Test", sms_per_second=0, calls_per_second=0,
                               now=at("10:00"))  # fmt: skip
    assert (both.residents, both.sms, both.calls, both.encoding, both.segments) == (3, 1, 2, "GSM-7", 1)
    assert both.seconds == 0 and both.as_dict()["sms_unlimited"] and both.as_dict()["calls_unlimited"]

    with services.readonly() as session:
        bad = notices.preview(session, true(), target_kind="category", target="elderly_alone",
                              channels="call", body="x" * 301, sms_per_second=0, calls_per_second=0.01,
                              now=at("20:00"))  # fmt: skip
    # Everyone old and alone in both communities, by call (4 calls at 0.01/s end at 20:06:40, before quiet hours):
    # refused for the length only.
    assert (bad.residents, bad.calls) == (5, 4)
    assert [p.code for p in bad.problems] == ["body_too_long"] and bad.problems[0].fields == {
        "length": 301,
        "limit": 300,
    }


def test_calls_never_ring_in_quiet_hours(services: Services, two_communities: dict[str, int]) -> None:
    where = true()
    with services.readonly() as session:
        late = notices.preview(session, where, target_kind="community", target=HOME, channels="both", body="明早检测",
                               sms_per_second=0, calls_per_second=0, now=at("22:30"))  # fmt: skip
        running_late = notices.preview(session, where, target_kind="community", target=HOME, channels="call",
                                       body="明早检测", sms_per_second=0, calls_per_second=0.001,
                                       now=at("20:30"))  # 4 calls take 67 minutes: past 21:00  # fmt: skip
        by_sms = notices.preview(session, where, target_kind="community", target=HOME, channels="sms",
                                 body="明早检测", sms_per_second=0, calls_per_second=0, now=at("22:30"))  # fmt: skip
    assert [p.code for p in late.problems] == ["quiet_hours"]
    assert [p.code for p in running_late.problems] == ["quiet_hours"]
    # By SMS at night: the SMS readers get it; the two who can only be called are left for the morning, and told.
    assert (by_sms.problems, by_sms.sms, by_sms.calls, by_sms.residents) == ((), 2, 0, 3)
    assert by_sms.skipped["quiet_hours"] == 2


def test_sending_decides_one_copy_per_phone_and_channel(services: Services, two_communities: dict[str, int]) -> None:
    make_user(services)
    with services.sessions.begin() as session:
        admin = session.scalars(select(StaffUser)).one()
        notice, ids = notices.send_notice(session, actor=admin, where=household_scope(admin),
                                          target_kind="community", target=HOME, channels="both", body=f"  {BODY}  ",
                                          now=at("10:00"))  # fmt: skip
    rows = outbound(services)
    assert [r.id for r in rows] == ids and {r.notice_id for r in rows} == {notice.id}
    keys = [r.dedupe_key for r in rows]
    assert keys == [
        f"notice:{notice.id}:sms:{P['梁阿姨']}", f"notice:{notice.id}:sms:{P['王大爷']}",
        f"notice:{notice.id}:call:{P['梁阿姨']}", f"notice:{notice.id}:call:{P['孙爷爷']}",
        f"notice:{notice.id}:call:{P['王大爷']}", f"notice:{notice.id}:call:{P['陈伯']}",
    ]  # fmt: skip
    assert [r.kind for r in rows] == ["sms", "sms", "call", "call", "call", "call"]
    assert all(r.body == BODY for r in rows)  # trimmed
    assert P["周阿姨"] not in {r.to_phone for r in rows} and P["何奶奶"] not in {r.to_phone for r in rows}
    with services.readonly() as session:
        stored = session.get_one(Notice, notice.id)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.object_kind == "notice")).one()
    assert (stored.recipients, stored.community_id is not None, stored.created_by) == (6, True, "staff:1")
    assert (entry.action, entry.object_id) == ("send", notice.id)
    assert "+86" not in entry.detail and "13900" not in entry.detail and "residents 5, sms 2, calls 4" in entry.detail


# ── Notices: through the console, the worker and the local gateway ───────────────────────────────────────────


def send_form(client: TestClient, token: str, target: str, key: str, body: str = BODY, channels: str = "sms"):  # type: ignore[no-untyped-def]
    return client.post("/notices/new", data={"csrf_token": token, "target": target, "channels": channels,
                                             "body": body, "request_key": key, "step": "send"},
                       follow_redirects=False)  # fmt: skip


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

    preview = client.post("/notices/preview", data={"target": f"community:{HOME}", "channels": "sms", "body": BODY},
                          headers={"X-CSRF-Token": token, "accept": "application/json"})  # fmt: skip
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
    assert sorted(handed) == sorted([("sms", P["梁阿姨"]), ("sms", P["王大爷"]), ("call", P["孙爷爷"]),
                                     ("call", P["陈伯"])])  # fmt: skip
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
    preview = client.post("/notices/preview", data={"target": f"community:{AWAY}", "channels": "sms", "body": "x"},
                          headers={"X-CSRF-Token": token})  # fmt: skip
    assert preview.status_code == 404
    # A category notice from the clerk reaches only her community's residents of that category.
    assert send_form(client, token, "category:elderly_alone", "c" * 16).headers["location"] == "/notices/2"
    assert P["何奶奶"] not in {r.to_phone for r in outbound(services) if r.notice_id == 2}
    assert {r.to_phone for r in outbound(services) if r.notice_id == 2} == {P["梁阿姨"], P["孙爷爷"], P["陈伯"]}
    assert client.get("/notices/2").status_code == 200
    client.cookies.clear()

    token = sign_in(client, "leader")
    refused = send_form(client, token, f"community:{HOME}", "d" * 16)  # more than their grid
    assert refused.status_code == 400 and "outside your part of the register" in refused.text
    assert send_form(client, token, f"grid:{HOME}/第2网格", "d" * 16).status_code == 404
    assert client.get("/notices/1").status_code == 404
    assert count(services, Notice) == 2
    with services.readonly() as session:
        with pytest.raises(NotFound):
            notices.notice_progress(session, 1, scope_of(services, "clerk"))
        assert [n.id for n in notices.list_notices(session, scope_of(services, "clerk"))] == [2]


# ── Calls ──────────────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def morning(client: TestClient, services: Services, clock: Clock, town: dict[str, int]) -> dict[str, int]:
    """The town of nine in 幸福里社区/第1网格, one more resident in 第2网格 and one in 光明社区; 09:00 check-ins
    sent (the landline's is a call), 梁阿姨 answered fine. Everyone else is not reached at 09:05."""
    with services.sessions.begin() as session:
        for name, phone, community, grid in (("钱伯", "+8613900000201", HOME, "第2网格"),
                                             ("何奶奶", "+8613900000202", AWAY, "第1网格")):  # fmt: skip
            resident = register.add_resident(session, name=name, phones=[phone], region="CN",
                                             address=register.Address(community, "9号楼", "1单元", "901"))  # fmt: skip
            assert resident.household.community is not None
            resident.household.grid = register.find_or_create_grid(session, resident.household.community, grid)
            town[name] = resident.id
        session.execute(update(Resident).values(created_at=at("10:00", date(2030, 2, 25))))
    clock.now = at("09:00")
    checkin_jobs.checkin_tick()
    run_worker(services)
    clock.now = at("09:05")
    assert post_signed(client, services, "/twilio/sms", sms_params("1", from_phone=PHONES["梁阿姨"])).status_code == 200
    run_worker(services)
    return town


def grid_id(services: Services, community: str, grid: str) -> int:
    with services.readonly() as session:
        return session.scalars(
            select(Grid.id).join(Grid.community).where(Grid.name == grid, Community.name == community)
        ).one()


def staff_calls(services: Services) -> list[LocalOutboxEntry]:
    """Calls handed to the gateway, except the 09:00 check-in call to the landline."""
    return [e for e in local_outbox(services) if e.kind == "call"][1:]


def test_the_calls_page_calls_the_unreached_of_one_grid_once(
    client: TestClient, services: Services, morning: dict[str, int]
) -> None:
    make_user(services, "clerk", StaffRole.CLERK, community=HOME)
    token = sign_in(client, "clerk")
    grid = grid_id(services, HOME, "第1网格")
    page = client.get("/calls")
    assert page.status_code == 200 and f"{HOME} · 第2网格" in page.text and AWAY not in page.text

    looked = client.get("/calls", params={"not_reached": "1", "grid": grid})
    assert looked.status_code == 200 and "选中 7 位居民" in looked.text and "现在拨打这 7 位" in looked.text
    assert "钱伯" not in looked.text and "梁阿姨" not in looked.text and "赵姐" in looked.text
    assert count(services, AuditEntry) == 0 and len(staff_calls(services)) == 0  # looking calls nobody

    form = {"csrf_token": token, "not_reached": "1", "grid": str(grid)}
    placed = client.post("/calls", data=form)
    assert placed.status_code == 200 and "已拨打 6 位" in placed.text
    assert "已有电话正在打给TA" in placed.text  # the landline's check-in call is still on its way
    run_worker(services)
    called = {e.to_phone for e in staff_calls(services)}
    expected = {PHONES[n] for n in ("王大爷", "刘奶奶", "陈伯", "赵姐", "吴叔", "郑阿婆")}
    assert called == expected and all("/twilio/voice/checkin?o=" in e.body for e in staff_calls(services))

    again = client.post("/calls", data=form)  # a second click
    run_worker(services)
    assert again.status_code == 200 and "这次没有拨打任何人" in again.text and "没有拨打 7 位" in again.text
    assert len(staff_calls(services)) == 6
    with services.readonly() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.action, e.object_kind) for e in entries] == [("call", "call")] * 2
    assert entries[0].detail == "not_reached community=幸福里社区 grid=第1网格; selected 7, called 6, skipped 1"
    assert entries[1].detail.endswith("called 0, skipped 7") and "+86" not in entries[1].detail


def test_calls_stay_within_scope_whatever_ids_the_request_carries(
    client: TestClient, services: Services, morning: dict[str, int]
) -> None:
    make_user(services, "leader", StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格")
    token = sign_in(client, "leader")
    # Everyone not reached that the grid leader may see: their grid only, not 钱伯 (grid 2) or 何奶奶 (光明).
    placed = client.post("/calls", data={"csrf_token": token, "not_reached": "1"})
    assert placed.status_code == 200 and "已拨打 6 位" in placed.text
    run_worker(services)
    assert {PHONES["赵姐"]} <= {e.to_phone for e in staff_calls(services)}
    assert not {"+8613900000201", "+8613900000202"} & {e.to_phone for e in staff_calls(services)}
    before = count(services, OutboundMessage)
    for data in ({"resident_id": str(morning["何奶奶"])}, {"resident_id": str(morning["钱伯"])},
                 {"grid": str(grid_id(services, AWAY, "第1网格")), "not_reached": "1"},
                 {"grid": str(grid_id(services, HOME, "第2网格"))}, {"resident_id": "999"}):  # fmt: skip
        refused = client.post("/calls", data={"csrf_token": token, **data})
        assert refused.status_code == 404, data
        assert client.get("/calls", params=data).status_code == 404
    assert count(services, OutboundMessage) == before
    # One resident of their own, by id, as the register page posts it (she answered fine; staff may still call).
    one = client.post("/calls", data={"csrf_token": token, "resident_id": str(morning["梁阿姨"])})
    assert one.status_code == 200 and "已拨打 1 位" in one.text
    run_worker(services)
    assert PHONES["梁阿姨"] in {e.to_phone for e in staff_calls(services)}
    opted_out = client.post("/calls", data={"csrf_token": token, "resident_id": str(morning["周阿姨"])})
    assert opted_out.status_code == 200 and "已暂停、退订或搬走" in opted_out.text
    assert client.post("/calls", data={"csrf_token": token}).status_code == 400  # no filter: never everyone


def test_rates_in_settings_reach_the_preview_page(
    client: TestClient, services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    services.settings = replace(services.settings, sms_per_second=0.5, calls_per_second=0.25)
    make_user(services)
    token = sign_in(client)
    shown = client.post("/notices/new", data={"csrf_token": token, "target": f"community:{HOME}", "channels": "sms",
                                              "body": BODY, "step": "preview", "request_key": "r" * 16})  # fmt: skip
    assert shown.status_code == 200
    assert "每条 2 段，共 4 段" in shown.text and "含中文，按 UCS-2 计费" in shown.text
    assert "短信每秒 0.5 条：约 0 分 4 秒" in shown.text and "电话每秒 0.25 通：约 0 分 8 秒" in shown.text
    assert "全部交出去约需 0 分 12 秒" in shown.text and 'value="rrrrrrrrrrrrrrrr"' in shown.text
    assert count(services, Notice) == 0
