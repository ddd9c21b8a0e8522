"""The fault run's register in three communities, one per channel: the benchmarks' generated register (one
community, on the hotline's default gateway, Twilio), with two more communities, each with its own grid, taking
every third liaison and the households that liaison serves. Each community chose its SMS gateway."""

from __future__ import annotations

from sqlalchemy import Engine, insert, update

from benchmarks.register_fixture import HOUSEHOLDS_PER_GRID, HOUSEHOLDS_PER_LIAISON
from dispatch.models import Community, Grid, Household, Liaison
from tests.chaos.providers import Channel

RESIDENT_PHONE_BASE = 13900000000  # benchmarks.register_fixture: resident i has +86 (13900000000 + i)


def channel_index(resident: int) -> int:
    """Which channel (0: the first, the default's) resident `resident` (0-based) is on: by their liaison, in turn."""
    return (resident // HOUSEHOLDS_PER_LIAISON) % 3


def resident_of(phone: str) -> int | None:
    """The resident (0-based) a generated mobile number belongs to, or None for any other number."""
    digits = phone.removeprefix("+86")
    if not digits.isdigit() or not 0 <= int(digits) - RESIDENT_PHONE_BASE < 10**7:
        return None
    return int(digits) - RESIDENT_PHONE_BASE


def split_register(engine: Engine, residents: int, channels: list[Channel]) -> None:
    """Give each channel after the first its own community (with the id the channel names) and grid, and move to
    it the liaisons whose turn it is (`channel_index`) and their households."""
    liaisons = -(-residents // HOUSEHOLDS_PER_LIAISON)
    grids = -(-residents // HOUSEHOLDS_PER_GRID)
    with engine.begin() as conn:
        conn.execute(update(Community).where(Community.id == channels[0].community_id).values(sms_gateway=None))
        for index, channel in enumerate(channels[1:], start=1):
            conn.execute(
                insert(Community),
                [{"id": channel.community_id, "name": f"{channel.name}社区", "sms_gateway": channel.name}],
            )
            grid_id = grids + index  # ids given, as the generated register's are (a sequence would not know them)
            conn.execute(insert(Grid), [{"id": grid_id, "community_id": channel.community_id, "name": "第1网格"}])
            ours = [i for i in range(liaisons) if i % 3 == index]
            conn.execute(update(Liaison).where(Liaison.id.in_([i + 1 for i in ours])).values(grid_id=grid_id))
            households = [r + 1 for r in range(residents) if channel_index(r) == index]
            conn.execute(
                update(Household)
                .where(Household.id.in_(households))
                .values(community_id=channel.community_id, grid_id=grid_id)
            )
