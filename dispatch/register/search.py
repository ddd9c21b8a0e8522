"""Finding residents in the register: by name, by phone in any format, or by address, within a staff scope.

A query is read three ways at once and a resident matching any of them is found:

- as a phone number, if it is only digits and `+ - ( ) .` and spaces with at least four digits: the whole
  number in any format (`138 0013 8000`, `+86 138-0013-8000`, `13800138000`), or its last digits (`8000`);
- as words, each of which must appear in the name, the community, the grid, the building, the unit or the room
  (`梁`, `3号楼 402`);
- a word written `3-2-402` (building-unit-room, as offices write addresses) matches those parts in order.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session, aliased

from dispatch.checkins.plans import first_phones
from dispatch.checkins.report import coverage
from dispatch.exceptions import InvalidPhoneNumber
from dispatch.models import Community, Grid, Household, Liaison, Resident, ResidentPhone
from dispatch.phones import mask_phone, normalize_phone

SEARCH_PAGE = 50
MAX_QUERY = 100
_PHONEISH = re.compile(r"^\+?[\d\s\-().]+$")
_ADDRESS_PARTS = re.compile(r"^([^-\s]+)-([^-\s]+)(?:-([^-\s]+))?$")


@dataclass(frozen=True)
class ResidentRow:
    """One resident as the register's list shows them. The phone is masked: the list is for finding people."""

    id: int
    name: str
    phone: str  # masked, e.g. 138****8000
    landline: bool
    community: str | None
    building: str | None
    unit: str | None
    room: str | None
    address: str
    grid: str | None
    liaison: str | None
    backup_liaison: str | None
    channel: str
    categories: tuple[str, ...]
    risk: str
    status: str


def phone_condition(text: str, region: str) -> ColumnElement[bool] | None:
    """Residents with a number matching `text` read as a phone number, or None if it does not look like one."""
    digits = re.sub(r"\D", "", text)
    if not _PHONEISH.match(text) or len(digits) < 4:
        return None
    options = [ResidentPhone.phone.endswith(digits)]
    with contextlib.suppress(InvalidPhoneNumber):
        options.append(ResidentPhone.phone == normalize_phone(text, region))
    return Resident.id.in_(select(ResidentPhone.resident_id).where(or_(*options)))


def _word_condition(word: str) -> ColumnElement[bool]:
    fields = (Resident.name, Community.name, Grid.name, Household.building, Household.unit, Household.room)
    found = [field.icontains(word, autoescape=True) for field in fields]
    parts = _ADDRESS_PARTS.match(word)
    if parts:
        building, unit, room = parts.groups()
        in_order = [Household.building.icontains(building, autoescape=True)]
        if room is None:  # 2-402: building and room, or unit and room
            in_order = [or_(in_order[0], Household.unit.icontains(building, autoescape=True)), Household.room == unit]
        else:
            in_order += [Household.unit.icontains(unit, autoescape=True), Household.room == room]
        found.append(and_(*in_order))
    return or_(*found)


def query_condition(query: str, region: str) -> ColumnElement[bool]:
    """The filter a search query stands for (see the module's doc); an empty query matches everyone."""
    text = " ".join(query.split())[:MAX_QUERY]
    if not text:
        return true()
    conditions = [and_(*(_word_condition(word) for word in text.split()))]
    phone = phone_condition(text, region)
    if phone is not None:
        conditions.append(phone)
    return or_(*conditions)


def search_residents(
    session: Session,
    where: ColumnElement[bool],
    query: str,
    *,
    region: str,
    limit: int = SEARCH_PAGE,
    offset: int = 0,
) -> list[ResidentRow]:
    """Residents in `where` (a filter on Household, see `dispatch.staff_accounts.household_scope`) matching `query`, by
    name then id, `limit` from `offset` (ask for one more than a page to know whether another follows)."""
    if limit <= 0:
        return []
    primary, backup = aliased(Liaison), aliased(Liaison)
    rows = session.execute(
        select(Resident, Household, Community.name, Grid.name, primary.name, backup.name)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(primary, primary.id == Household.primary_liaison_id)
        .outerjoin(backup, backup.id == Household.backup_liaison_id)
        .where(where, query_condition(query, region))
        .order_by(Resident.name, Resident.id)
        .limit(limit)
        .offset(max(0, offset))
    ).all()
    phones = first_phones(session, [row[0].id for row in rows]) if rows else {}
    found = []
    for resident, household, community, grid, liaison, backup_name in rows:
        phone, landline = phones.get(resident.id, (None, False))
        found.append(
            ResidentRow(
                id=resident.id,
                name=resident.name,
                phone=mask_phone(phone),
                landline=landline,
                community=community,
                building=household.building,
                unit=household.unit,
                room=household.room,
                address=" ".join(p for p in (community, household.building, household.unit, household.room) if p)
                or f"#{household.id}",
                grid=grid,
                liaison=liaison,
                backup_liaison=backup_name,
                channel=str(resident.channel),
                categories=tuple(resident.categories or ()),
                risk=str(resident.risk),
                status=str(resident.status),
            )
        )
    return found


def standings_today(session: Session, resident_ids: list[int], day: date, now: datetime) -> dict[int, str]:
    """Where each of these residents stands in today's check-ins (fine, needs, unwell, not_reached,
    visit_pending, visited), as the board counts it; residents with nothing due yet are left out."""
    if not resident_ids:
        return {}
    report = coverage(session, day, now, Resident.id.in_(resident_ids))
    return {item.resident_id: item.standing for item in report.residents}
