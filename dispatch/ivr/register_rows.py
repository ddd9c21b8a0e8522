"""The register as a call reads it: the residents of a set of numbers, with their household, its community and
liaisons, as plain rows in one statement.

A call's step only reads these (who is calling, whom to put them through to), so they are read without the ORM:
building Resident, household and liaison objects with joined loads cost more than the statement itself, once per
batch of call steps. The statement is built once, so the database layer compiles it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from dispatch.models import Community, Household, Liaison, Resident, ResidentPhone, ResidentStatus


@dataclass(frozen=True)
class LiaisonRow:
    """A household's liaison, as a caller is put through to them."""

    id: int
    name: str
    phone: str | None
    active: bool


@dataclass(frozen=True)
class CommunityRow:
    """A household's community: whose duty phone ends a caller's chain."""

    id: int
    duty_phone: str | None
    clerk_name: str | None


@dataclass(frozen=True)
class HouseholdRow:
    id: int
    community_id: int | None
    community: CommunityRow | None
    primary_liaison: LiaisonRow | None
    backup_liaison: LiaisonRow | None  # the same object as `primary_liaison` if one liaison is both


@dataclass(frozen=True)
class ResidentOfNumber:
    """A resident registered with a number, and whether that number is a landline (takes no SMS)."""

    id: int
    name: str
    language: str
    channel: str
    status: str
    landline: bool
    household: HouseholdRow


def residents_of_numbers(session: Session, phones: Iterable[str]) -> dict[str, list[ResidentOfNumber]]:
    """Each number's residents, moved-away ones last, then by id (as `dispatch.register.find_residents_by_phone`),
    in one statement however many numbers."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    rows = session.connection().execute(_statement(), {"phones": wanted})
    liaisons: dict[int, LiaisonRow] = {}  # one object per liaison, as the ORM's identity map gives
    communities: dict[int, CommunityRow] = {}
    found: dict[tuple[str, int], ResidentOfNumber] = {}
    for row in rows:
        key = (row.phone, row.resident_id)
        if key in found:  # the same number twice for one resident: a landline if either says so
            if row.landline and not found[key].landline:
                found[key] = _with_landline(found[key])
            continue
        community = None
        if row.community_id is not None:
            community = communities.setdefault(
                row.community_id, CommunityRow(row.community_id, row.duty_phone, row.clerk_name)
            )
        household = HouseholdRow(
            row.household_id,
            row.community_id,
            community,
            _liaison(liaisons, row.primary_id, row.primary_name, row.primary_phone, row.primary_active),
            _liaison(liaisons, row.backup_id, row.backup_name, row.backup_phone, row.backup_active),
        )
        found[key] = ResidentOfNumber(
            row.resident_id, row.name, row.language, row.channel, row.status, bool(row.landline), household
        )
    residents: dict[str, list[ResidentOfNumber]] = {}
    for (phone, _), resident in found.items():
        residents.setdefault(phone, []).append(resident)
    for listed in residents.values():
        listed.sort(key=lambda r: (r.status == ResidentStatus.MOVED_AWAY, r.id))
    return residents


def _with_landline(resident: ResidentOfNumber) -> ResidentOfNumber:
    return ResidentOfNumber(
        resident.id, resident.name, resident.language, resident.channel, resident.status, True, resident.household
    )


def _liaison(
    known: dict[int, LiaisonRow], id_: int | None, name: str | None, phone: str | None, active: bool | None
) -> LiaisonRow | None:
    if id_ is None:
        return None
    return known.setdefault(id_, LiaisonRow(id_, name or "", phone, bool(active)))


@lru_cache(maxsize=1)
def _statement() -> Select:  # type: ignore[type-arg]
    """The residents of the numbers `phones` (an expanding bind parameter), one row per number and resident."""
    rp, r, h, c = (t.__table__ for t in (ResidentPhone, Resident, Household, Community))
    primary, backup = Liaison.__table__.alias("primary_liaison"), Liaison.__table__.alias("backup_liaison")
    return (
        select(
            rp.c.phone,
            rp.c.landline,
            r.c.id.label("resident_id"),
            r.c.name,
            r.c.language,
            r.c.channel,
            r.c.status,
            h.c.id.label("household_id"),
            h.c.community_id,
            c.c.duty_phone,
            c.c.clerk_name,
            primary.c.id.label("primary_id"),
            primary.c.name.label("primary_name"),
            primary.c.phone.label("primary_phone"),
            primary.c.active.label("primary_active"),
            backup.c.id.label("backup_id"),
            backup.c.name.label("backup_name"),
            backup.c.phone.label("backup_phone"),
            backup.c.active.label("backup_active"),
        )
        .select_from(
            rp.join(r, r.c.id == rp.c.resident_id)
            .join(h, h.c.id == r.c.household_id)
            .outerjoin(c, c.c.id == h.c.community_id)
            .outerjoin(primary, primary.c.id == h.c.primary_liaison_id)
            .outerjoin(backup, backup.c.id == h.c.backup_liaison_id)
        )
        .where(rp.c.phone.in_(bindparam("phones", expanding=True)))
    )
