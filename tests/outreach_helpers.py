"""What the notice and call tests share: a register of two communities, and how to count what was decided."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from dispatch import register
from dispatch.models import OutboundMessage, Resident, ResidentCategory, ResidentStatus, StaffUser
from dispatch.staff_accounts import household_scope
from hotline.services import Services

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


def make_two_communities(services: Services) -> dict[str, int]:
    ids: dict[str, int] = {}
    places = {
        "梁阿姨": (HOME, "第1网格", "1"),
        "梁伯": (HOME, "第1网格", "1"),
        "孙爷爷": (HOME, "第1网格", "2"),
        "周阿姨": (HOME, "第1网格", "3"),
        "吴叔": (HOME, "第1网格", "4"),
        "郑阿婆": (HOME, "第1网格", "5"),
        "王大爷": (HOME, "第2网格", "6"),
        "陈伯": (HOME, "第2网格", "7"),
        "何奶奶": (AWAY, "第1网格", "8"),
    }
    with services.sessions.begin() as session:
        for name, (community, grid, room) in places.items():
            resident = register.add_resident(
                session,
                name=name,
                phones=[P[name]],
                region="CN",
                channel="voice" if name == "陈伯" else None,
                address=register.Address(community, "1号楼", "1单元", room),
            )
            household = resident.household
            assert household.community is not None
            household.grid = register.find_or_create_grid(session, household.community, grid)
            resident.categories = [ResidentCategory.ELDERLY_ALONE] if name != "王大爷" else []
            ids[name] = resident.id
        for name, status in (
            ("周阿姨", ResidentStatus.OPTED_OUT),
            ("吴叔", ResidentStatus.MOVED_AWAY),
            ("郑阿婆", ResidentStatus.PAUSED),
        ):
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
