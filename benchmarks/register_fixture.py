"""A generated register for the benchmarks, written with bulk inserts before anything is timed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert

from dispatch.models import Community, Grid, Household, Liaison, Resident, ResidentPhone

HOUSEHOLDS_PER_LIAISON = 8
HOUSEHOLDS_PER_GRID = 1000
CHUNK = 10_000  # register rows per insert: keeps generation's memory small, so the RSS figures are the campaign's


def generate_register(engine: Engine, residents: int, registered_at: datetime) -> None:
    """One community; a liaison per eight households; a household, a resident and a mobile (+86139…) each."""
    liaisons = -(-residents // HOUSEHOLDS_PER_LIAISON)
    grids = -(-residents // HOUSEHOLDS_PER_GRID)
    with engine.begin() as conn:
        conn.execute(
            insert(Community),
            [
                {
                    "id": 1,
                    "name": "基准社区",
                    "timezone": None,
                    "duty_phone": None,
                    "clerk_name": None,
                    "clerk_phone": None,
                }
            ],
        )
        conn.execute(
            insert(Grid),
            [
                {"id": g, "community_id": 1, "name": f"第{g}网格", "leader_name": None, "leader_phone": None}
                for g in range(1, grids + 1)
            ],
        )
        for start in range(0, liaisons, CHUNK):
            conn.execute(
                insert(Liaison),
                [
                    {
                        "id": i + 1,
                        "name": f"联络员{i}",
                        "phone": f"+86{13800000000 + i}",
                        "active": True,
                        "role": "volunteer",
                        "grid_id": i * HOUSEHOLDS_PER_LIAISON // HOUSEHOLDS_PER_GRID + 1,
                        "created_at": registered_at,
                    }
                    for i in range(start, min(start + CHUNK, liaisons))
                ],
            )
        for start in range(0, residents, CHUNK):
            ids = range(start, min(start + CHUNK, residents))
            conn.execute(
                insert(Household),
                [
                    {
                        "id": i + 1,
                        "community_id": 1,
                        "building": f"{i // 1000 + 1}号楼",
                        "unit": "1单元",
                        "room": str(i + 1),
                        "grid_id": i // HOUSEHOLDS_PER_GRID + 1,
                        "primary_liaison_id": i // HOUSEHOLDS_PER_LIAISON + 1,
                        "backup_liaison_id": None,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(Resident),
                [
                    {
                        "id": i + 1,
                        "name": f"居民{i}",
                        "household_id": i + 1,
                        "categories": [],
                        "language": "zh-CN",
                        "channel": "sms",
                        "risk": "none",
                        "emergency_contact_name": None,
                        "emergency_contact_phone": None,
                        "notes": "",
                        "status": "active",
                        "created_at": registered_at,
                        "updated_at": registered_at,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(ResidentPhone),
                [
                    {
                        "id": i + 1,
                        "resident_id": i + 1,
                        "phone": f"+86{13900000000 + i}",
                        "position": 0,
                        "landline": False,
                    }
                    for i in ids
                ],
            )
