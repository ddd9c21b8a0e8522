"""What the console's register tests share: a register of two communities with their staff, and how to read the pages
and the audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, StaffRole
from hotline.services import Services
from tests.console_helpers import make_user, sign_in

HOME = register.Address("幸福里社区", "3号楼", "2单元", "402")


@dataclass
class Principal:
    """Whoever acts, as the domain sees them (a staff account or an API token)."""

    role: str
    community_id: int | None = None
    grid_id: int | None = None
    audit_ref: str = "staff:99"
    audit_name: str = "tester"


ADMIN = Principal("admin")


def make_people(services: Services) -> dict[str, int]:
    """Two grids of 幸福里社区 and a second community: 梁阿姨 (grid 1, 张敏 with 李强 as backup), 王大爷 (grid 2,
    王五), 赵奶奶 (和平社区). Staff: an admin, a clerk of 幸福里社区, the leader of its grid 1."""
    with services.sessions.begin() as session:
        community = register.find_or_create_community(session, "幸福里社区")
        grid1 = register.find_or_create_grid(session, community, "第1网格")
        grid2 = register.find_or_create_grid(session, community, "第2网格")
        zhang = register.add_liaison(session, name="张敏", phone="13912345678", region="CN", grid=grid1)
        li = register.add_liaison(session, name="李强", phone="13912345679", region="CN", grid=grid1)
        wang = register.add_liaison(session, name="王五", phone="13912345680", region="CN", grid=grid2)
        liang = register.add_resident(
            session,
            name="梁阿姨",
            phones=["13800138000"],
            liaison_phone="13912345678",
            backup_liaison_phone="13912345679",
            address=HOME,
            region="CN",
        )
        liang.household.grid = grid1
        away = register.Address("幸福里社区", "9号楼", "1单元", "101")
        daye = register.add_resident(
            session, name="王大爷", phones=["13800138001"], liaison_phone="13912345680", address=away, region="CN"
        )
        daye.household.grid = grid2
        elsewhere = register.Address("和平社区", "1号楼", "1单元", "101")
        zhao = register.add_resident(session, name="赵奶奶", phones=["13800138002"], address=elsewhere, region="CN")
        ids = {
            "梁阿姨": liang.id,
            "王大爷": daye.id,
            "赵奶奶": zhao.id,
            "张敏": zhang.id,
            "李强": li.id,
            "王五": wang.id,
        }
    make_user(services, "admin", StaffRole.ADMIN)
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid="第1网格")
    return ids


def found(page: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-resident="(\d+)"', page)}


def as_user(client: TestClient, username: str) -> str:
    client.cookies.clear()
    return sign_in(client, username)


def audit_entries(services: Services, action: str | None = None) -> list[AuditEntry]:
    with services.readonly() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))
