"""Check-in calls placed from the console: the unreached of one grid called once, within the staff member's scope
whatever ids the request carries. Real parts: SQLite, redis-server, RQ's SimpleWorker, the app through Starlette's
TestClient, the local gateway."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, Community, Grid, LocalOutboxEntry, OutboundMessage, Resident, StaffRole
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.conftest import PHONES, Clock, at, local_outbox, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in
from tests.outreach_helpers import AWAY, HOME, count


@pytest.fixture
def morning(client: TestClient, services: Services, clock: Clock, town: dict[str, int]) -> dict[str, int]:
    """The town of nine in 幸福里社区/第1网格, one more resident in 第2网格 and one in 光明社区; 09:00 check-ins
    sent (the landline's is a call), 梁阿姨 answered fine. Everyone else is not reached at 09:05."""
    with services.sessions.begin() as session:
        for name, phone, community, grid in (
            ("钱伯", "+8613900000201", HOME, "第2网格"),
            ("何奶奶", "+8613900000202", AWAY, "第1网格"),
        ):
            resident = register.add_resident(
                session,
                name=name,
                phones=[phone],
                region="CN",
                address=register.Address(community, "9号楼", "1单元", "901"),
            )
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
    for data in (
        {"resident_id": str(morning["何奶奶"])},
        {"resident_id": str(morning["钱伯"])},
        {"grid": str(grid_id(services, AWAY, "第1网格")), "not_reached": "1"},
        {"grid": str(grid_id(services, HOME, "第2网格"))},
        {"resident_id": "999"},
    ):
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
