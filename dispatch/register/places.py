"""The register's communities and grids as staff pick them in the console: ids and names, by name."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch.models import Community, Grid, Household


def all_communities(session: Session) -> list[tuple[int, str]]:
    """Every community, as (id, name), by name."""
    return [
        (row.id, row.name) for row in session.execute(select(Community.id, Community.name).order_by(Community.name))
    ]


def community_choice(session: Session, community_id: int | None) -> list[tuple[int, str]]:
    """The one community with this id, as (id, name); none for no id or an unknown one."""
    query = select(Community.id, Community.name).where(Community.id == community_id).order_by(Community.name)
    return [(row.id, row.name) for row in session.execute(query)]


def community_name(session: Session, community_id: int | None) -> str | None:
    """The community's name; None for no id or an unknown one."""
    return session.scalar(select(Community.name).where(Community.id == community_id))


def grid_name(session: Session, grid_id: int) -> str | None:
    """The grid's name; None if there is no such grid."""
    grid = session.get(Grid, grid_id)
    return grid.name if grid is not None else None


def grids_in_scope(session: Session, where: ColumnElement[bool]) -> list[tuple[int, str]]:
    """The grids of the households `where` selects, as (id, name), by name."""
    ids = select(Household.grid_id).where(where)
    return [(g.id, g.name) for g in session.scalars(select(Grid).where(Grid.id.in_(ids)).order_by(Grid.name))]
