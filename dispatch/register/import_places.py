"""The places a register import puts people in: communities, grids and households, found or created once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Community, Grid, Household


class Places:
    """Communities, grids and households, loaded once and created as an import needs them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.communities = {c.name: c for c in session.scalars(select(Community))}
        self.grids = {(g.community_id, g.name): g for g in session.scalars(select(Grid))}
        self.households: dict[tuple[object, ...], Household] = {
            (h.community_id, h.building, h.unit, h.room): h
            for h in session.scalars(select(Household))
            if h.community_id is not None and None not in (h.building, h.unit, h.room)
        }

    def community(self, name: str) -> Community:
        if name not in self.communities:
            community = Community(name=name)
            self.session.add(community)
            self.session.flush()
            self.communities[name] = community
        return self.communities[name]

    def grid(self, community: Community, name: str) -> Grid:
        key = (community.id, name)
        if key not in self.grids:
            grid = Grid(community=community, name=name)
            self.session.add(grid)
            self.session.flush()
            self.grids[key] = grid
        return self.grids[key]

    def household(self, address: tuple[str | None, ...], current: Household | None) -> Household:
        """The household at `address`: the current one if it is already there, else found or made."""
        community = self.community(address[0]) if address[0] else None
        if current is not None and address_of(current) == address:
            return current
        key = (community.id if community else None, *address[1:])
        if community is not None and None not in key and key in self.households:
            return self.households[key]
        household = Household(community=community, building=address[1], unit=address[2], room=address[3])
        self.session.add(household)  # flushed with everything else at the end: its id is not needed before
        if community is not None and None not in key:
            self.households[key] = household
        return household


def address_of(household: Household) -> tuple[str | None, ...]:
    return (
        household.community.name if household.community else None,
        household.building,
        household.unit,
        household.room,
    )
