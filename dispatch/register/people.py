"""The people in the register: residents, liaisons, and the households that tie them together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from dispatch.exceptions import AlreadyRegistered, NotFound
from dispatch.models import (
    Channel,
    Community,
    Grid,
    Household,
    Liaison,
    LiaisonRole,
    Resident,
    ResidentPhone,
    ResidentStatus,
)
from dispatch.phones import mask_phone, parse_register_phone


def add_liaison(
    session: Session,
    *,
    name: str,
    phone: str | None,
    region: str,
    role: LiaisonRole = LiaisonRole.VOLUNTEER,
    grid: Grid | None = None,
) -> Liaison:
    """Register a liaison.

    Raises:
        InvalidPhoneNumber: `phone` is not a valid number of `region`.
        AlreadyRegistered: another liaison already has that number.
        ValueError: `name` is empty.
    """
    name = name.strip()
    if not name:
        raise ValueError("a liaison needs a name")
    e164 = parse_register_phone(phone, region).e164 if phone else None
    if e164 is not None:
        other = find_liaison_by_phone(session, e164)
        if other is not None:
            raise AlreadyRegistered(mask_phone(e164), f"liaison {other.name}")
    liaison = Liaison(name=name, phone=e164, role=role, grid=grid)
    session.add(liaison)
    session.flush()
    return liaison


def find_or_create_community(session: Session, name: str) -> Community:
    """The community called `name`, created if new."""
    community = session.scalar(select(Community).where(Community.name == name))
    if community is None:
        community = Community(name=name)
        session.add(community)
        session.flush()
    return community


def find_or_create_grid(session: Session, community: Community, name: str) -> Grid:
    """The grid called `name` in `community`, created if new."""
    grid = session.scalar(select(Grid).where(Grid.community_id == community.id, Grid.name == name))
    if grid is None:
        grid = Grid(community=community, name=name)
        session.add(grid)
        session.flush()
    return grid


@dataclass(frozen=True)
class Address:
    """Where a household lives. Unknown parts are None."""

    community: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None

    @property
    def complete(self) -> bool:
        """True if every part is known, so two residents with it share a household."""
        return None not in (self.community, self.building, self.unit, self.room)


def find_or_create_household(session: Session, address: Address, grid_name: str | None = None) -> Household:
    """The household at `address`; a new one if the address is new or incomplete."""
    community = find_or_create_community(session, address.community) if address.community else None
    household = None
    if address.complete and community is not None:
        household = session.scalar(
            select(Household).where(
                Household.community_id == community.id,
                Household.building == address.building,
                Household.unit == address.unit,
                Household.room == address.room,
            )
        )
    if household is None:
        household = Household(community=community, building=address.building, unit=address.unit, room=address.room)
        session.add(household)
    if grid_name and community is not None:
        household.grid = find_or_create_grid(session, community, grid_name)
    session.flush()
    return household


def liaison_by_phone_or_fail(session: Session, phone: str, region: str) -> Liaison:
    """The liaison with `phone` (any format).

    Raises:
        InvalidPhoneNumber, NotFound.
    """
    e164 = parse_register_phone(phone, region).e164
    liaison = find_liaison_by_phone(session, e164)
    if liaison is None:
        raise NotFound("liaison with phone", mask_phone(e164))
    return liaison


def add_resident(
    session: Session,
    *,
    name: str,
    phones: Sequence[str],
    region: str,
    liaison_phone: str | None = None,
    backup_liaison_phone: str | None = None,
    address: Address | None = None,
    language: str = "zh-CN",
    channel: Channel | None = None,
) -> Resident:
    """Register a resident in the household at `address`, which `liaison_phone` serves.

    A number may be shared with other residents (a couple with one phone). The channel defaults to voice when
    the first number is a landline, since a landline cannot receive SMS.

    Raises:
        InvalidPhoneNumber: a number is not a valid number of `region`.
        AlreadyRegistered: a resident of the same name already has one of these numbers.
        NotFound: no liaison has `liaison_phone` or `backup_liaison_phone`.
        ValueError: `name` is empty, there is no phone, or a liaison would serve themselves.
    """
    name = name.strip()
    if not name:
        raise ValueError("a resident needs a name")
    if not phones:
        raise ValueError("a resident needs at least one phone number")
    parsed = [parse_register_phone(p, region) for p in phones]
    numbers = [p.e164 for p in parsed]
    for existing in find_residents_by_phone(session, numbers):
        if existing.name == name:
            raise AlreadyRegistered(mask_phone(existing.phone), f"resident {existing.name}")
    primary = liaison_by_phone_or_fail(session, liaison_phone, region) if liaison_phone else None
    backup = liaison_by_phone_or_fail(session, backup_liaison_phone, region) if backup_liaison_phone else None
    for liaison in (primary, backup):
        if liaison is not None and liaison.phone in numbers:
            raise ValueError(f"liaison {liaison.name} cannot be their own liaison")
    if primary is not None and backup is not None and primary.id == backup.id:
        raise ValueError("the backup liaison must be someone other than the primary")

    household = find_or_create_household(session, address or Address())
    if primary is not None:
        household.primary_liaison = primary
    if backup is not None:
        household.backup_liaison = backup
    resident = Resident(
        name=name,
        household=household,
        language=language,
        channel=channel or (Channel.VOICE if parsed[0].landline else Channel.SMS),
        categories=[],
        phones=[ResidentPhone(phone=p.e164, position=i, landline=p.landline) for i, p in enumerate(parsed)],
    )
    session.add(resident)
    session.flush()
    return resident


def find_liaison_by_phone(session: Session, phone: str) -> Liaison | None:
    """The liaison whose number is `phone` (E.164), if any."""
    return session.scalar(select(Liaison).where(Liaison.phone == phone))


def find_residents_by_phone(session: Session, phones: str | Sequence[str]) -> list[Resident]:
    """Residents with any of these numbers (E.164), moved-away ones last, then by id."""
    numbers = [phones] if isinstance(phones, str) else list(phones)
    # A subquery, not DISTINCT: PostgreSQL cannot compare the JSON categories column for DISTINCT.
    with_number = select(ResidentPhone.resident_id).where(ResidentPhone.phone.in_(numbers))
    residents = session.scalars(
        select(Resident)
        .where(Resident.id.in_(with_number))
        .options(selectinload(Resident.phones), selectinload(Resident.household))
        .order_by(Resident.id)
    ).all()
    return sorted(residents, key=lambda r: (r.status == ResidentStatus.MOVED_AWAY, r.id))


@dataclass
class SenderMatch:
    """Who a number belongs to, by the rule in the README ("A number shared by several residents")."""

    residents: list[Resident] = field(default_factory=list)

    @property
    def household(self) -> Household | None:
        """The one household all matching residents live in, or None if none or several."""
        households = {r.household_id for r in self.residents}
        return self.residents[0].household if len(households) == 1 else None

    @property
    def community(self) -> Community | None:
        """The one community all matching residents live in, or None if none or several."""
        communities = {r.household.community_id for r in self.residents}
        return self.residents[0].household.community if len(communities) == 1 else None

    @property
    def resident(self) -> Resident | None:
        """The one resident, if the number is theirs alone."""
        return self.residents[0] if len(self.residents) == 1 else None


def match_sender(session: Session, phone: str) -> SenderMatch:
    """The residents a message from `phone` may be from. Moved-away residents count only if no one else does."""
    residents = find_residents_by_phone(session, phone)
    current = [r for r in residents if r.status != ResidentStatus.MOVED_AWAY]
    return SenderMatch(current or residents)


def sole_community(session: Session) -> Community | None:
    """The community, if the hotline serves just one: whose duty staff and numbers serve callers we do not know."""
    communities = session.scalars(select(Community).limit(2)).all()
    return communities[0] if len(communities) == 1 else None


def list_liaisons(session: Session) -> list[Liaison]:
    """Every liaison, by name."""
    return list(session.scalars(select(Liaison).order_by(Liaison.name, Liaison.id)))


def list_residents(session: Session) -> list[Resident]:
    """Every resident, by name, with phones and household loaded."""
    return list(
        session.scalars(
            select(Resident)
            .options(
                selectinload(Resident.phones),
                selectinload(Resident.household).selectinload(Household.primary_liaison),
            )
            .order_by(Resident.name, Resident.id)
        )
    )


def households_served_by(session: Session, liaison: Liaison) -> list[Household]:
    """Households where `liaison` is primary or backup."""
    return list(
        session.scalars(
            select(Household)
            .where(or_(Household.primary_liaison_id == liaison.id, Household.backup_liaison_id == liaison.id))
            .order_by(Household.id)
        )
    )
