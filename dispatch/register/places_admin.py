"""Admins keeping the register's places in the console: communities and their grids (added, renamed) and each
community's directory of numbers, the hospital, health centre and pharmacy numbers the voice hotline reads out
(added, changed, removed).

Each function checks everything before it writes (`EditRefused` names each bad field), records one audit entry
in the caller's transaction, and a repeat of the same request changes nothing.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch import audit
from dispatch.audit import Actor
from dispatch.db import serialise
from dispatch.exceptions import InvalidPhoneNumber, NotFound
from dispatch.models import Community, DirectoryEntry, DirectoryKind, Grid
from dispatch.phones import parse_register_phone
from dispatch.register.edit import MAX_NAME, EditRefused, FieldProblem
from dispatch.register.people import find_or_create_community, find_or_create_grid

_T = TypeVar("_T")


def list_places(session: Session) -> list[Community]:
    """Every community by name, with its grids and directory loaded."""
    query = (
        select(Community)
        .options(selectinload(Community.grids), selectinload(Community.directory))
        .order_by(Community.name)
    )
    return list(session.scalars(query))


def _name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not name:
        raise EditRefused([FieldProblem(field, "required", "a name is needed")])
    if len(name) > MAX_NAME:
        raise EditRefused([FieldProblem(field, "too_long", f"at most {MAX_NAME} characters")])
    return name


def _get(session: Session, kind: type[_T], object_id: int, what: str) -> _T:
    found = session.get(kind, object_id)
    if found is None:
        raise NotFound(what, str(object_id))
    return found


def add_community(session: Session, actor: Actor, name: str) -> Community:
    """The community called `name`, added if new (a second click finds it).

    Raises:
        EditRefused: an empty or long name.
    """
    name = _name(name)
    known = session.scalar(select(Community.id).where(Community.name == name))
    community = find_or_create_community(session, name)
    if known is None:
        audit.record(session, actor, "create", "community", community.id)
    return community


def rename_community(session: Session, actor: Actor, community_id: int, name: str) -> bool:
    """Rename a community; True if its name changed.

    Raises:
        NotFound: no such community.
        EditRefused: an empty or long name, or another community's.
    """
    community = _get(session, Community, community_id, "community")
    name = _name(name)
    if name == community.name:
        return False
    if session.scalar(select(Community.id).where(Community.name == name)) is not None:
        raise EditRefused([FieldProblem("name", "name_taken", "another community has this name")])
    community.name = name
    audit.record(session, actor, "edit", "community", community.id, "name")
    return True


def add_grid(session: Session, actor: Actor, community_id: int, name: str) -> Grid:
    """The grid called `name` in the community, added if new (a second click finds it).

    Raises:
        NotFound: no such community.
        EditRefused: an empty or long name.
    """
    community = _get(session, Community, community_id, "community")
    name = _name(name)
    known = session.scalar(select(Grid.id).where(Grid.community_id == community.id, Grid.name == name))
    grid = find_or_create_grid(session, community, name)
    if known is None:
        audit.record(session, actor, "create", "grid", grid.id)
    return grid


def rename_grid(session: Session, actor: Actor, grid_id: int, name: str) -> bool:
    """Rename a grid; True if its name changed.

    Raises:
        NotFound: no such grid.
        EditRefused: an empty or long name, or another grid's of the same community.
    """
    grid = _get(session, Grid, grid_id, "grid")
    name = _name(name)
    if name == grid.name:
        return False
    taken = select(Grid.id).where(Grid.community_id == grid.community_id, Grid.name == name)
    if session.scalar(taken) is not None:
        raise EditRefused([FieldProblem("name", "name_taken", "another grid of this community has this name")])
    grid.name = name
    audit.record(session, actor, "edit", "grid", grid.id, "name")
    return True


def _entry_values(kind: str, name: str, phone: str, region: str) -> tuple[DirectoryKind, str, str]:
    """A directory entry's kind, name and E.164 number, or EditRefused naming every bad field."""
    problems = []
    try:
        chosen = DirectoryKind(kind)
    except ValueError:
        problems.append(FieldProblem("kind", "unknown", f"one of {', '.join(DirectoryKind)}"))
        chosen = DirectoryKind.HOSPITAL
    try:
        clean = _name(name)
    except EditRefused as exc:
        problems += exc.problems
        clean = ""
    e164 = ""
    if not phone.strip():
        problems.append(FieldProblem("phone", "required", "a number is needed"))
    else:
        try:
            e164 = parse_register_phone(phone, region).e164
        except InvalidPhoneNumber:
            problems.append(FieldProblem("phone", "bad_phone", "not a valid number of this country"))
    if problems:
        raise EditRefused(problems)
    return chosen, clean, e164


def add_directory_entry(
    session: Session, community: Community, kind: str, name: str, phone: str, region: str
) -> tuple[DirectoryEntry, bool]:
    """Add a number to a community's directory (`hotline directory add`, the console); True if new, False if
    the same entry was there already.

    Raises:
        EditRefused: an unknown kind, an empty or long name, a missing or bad number.
    """
    chosen, clean, e164 = _entry_values(kind, name, phone, region)
    serialise(session, f"directory:{community.id}")  # two adds at once: the second waits, then finds the first
    same = session.scalar(
        select(DirectoryEntry).where(
            DirectoryEntry.community_id == community.id,
            DirectoryEntry.kind == chosen,
            DirectoryEntry.name == clean,
            DirectoryEntry.phone == e164,
        )
    )
    if same is not None:
        return same, False
    entry = DirectoryEntry(community=community, kind=chosen, name=clean, phone=e164)
    session.add(entry)
    session.flush()
    return entry, True


def add_entry(
    session: Session, actor: Actor, community_id: int, kind: str, name: str, phone: str, region: str
) -> DirectoryEntry:
    """Staff adding a number to a community's directory, audited once.

    Raises:
        NotFound: no such community.
        EditRefused: as `add_directory_entry`.
    """
    community = _get(session, Community, community_id, "community")
    entry, new = add_directory_entry(session, community, kind, name, phone, region)
    if new:
        audit.record(session, actor, "create", "directory", entry.id)
    return entry


def update_entry(session: Session, actor: Actor, entry_id: int, kind: str, name: str, phone: str, region: str) -> bool:
    """Change a directory entry; True if anything changed.

    Raises:
        NotFound: no such entry.
        EditRefused: as `add_directory_entry`; nothing was changed.
    """
    entry = _get(session, DirectoryEntry, entry_id, "directory entry")
    chosen, clean, e164 = _entry_values(kind, name, phone, region)
    changed = [
        field
        for field, old, new in (("kind", entry.kind, chosen), ("name", entry.name, clean), ("phone", entry.phone, e164))
        if old != new
    ]
    if changed:
        entry.kind, entry.name, entry.phone = chosen, clean, e164
        audit.record(session, actor, "edit", "directory", entry.id, ", ".join(changed))
    return bool(changed)


def remove_entry(session: Session, actor: Actor, entry_id: int) -> bool:
    """Take a number out of the directory; False if it was gone already (a second click)."""
    entry = session.get(DirectoryEntry, entry_id)
    if entry is None:
        return False
    audit.record(session, actor, "remove", "directory", entry.id, f"community:{entry.community_id}")
    session.delete(entry)
    return True
