"""Which gateway carries a message: the one its recipient's community chose, for SMS and for calls.

A street office may run communities on different channels: one with its own SIM in an Android phone, another on
Tencent Cloud SMS. A message goes through its recipient's community's choice. The community is found from what
the message is about (a check-in, a task) or else from whose number it goes to (a resident, a liaison, a
resident's family contact, a grid leader, a clerk). A number no community claims, or a community that chose
nothing, gets the hotline's own.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import (
    Checkin,
    CircleContact,
    Community,
    Grid,
    Household,
    Liaison,
    OutboundMessage,
    Resident,
    ResidentPhone,
    Task,
)


@dataclass(frozen=True)
class CommunityChoice:
    """A community's choice of gateways; None where it chose none (the hotline's own then)."""

    sms: str | None = None
    calls: str | None = None


NO_CHOICE = CommunityChoice()


def _choice_query() -> Select[str | None, str | None]:
    """The query of `choice_for`, built once: its one parameter is the outbound message's id, `oid`."""
    message = select(OutboundMessage).where(OutboundMessage.id == bindparam("oid")).subquery()
    phone = select(message.c.to_phone).scalar_subquery()
    of_checkin = (
        select(Household.community_id)
        .join(Checkin, Checkin.household_id == Household.id)
        .where(Checkin.id == select(message.c.checkin_id).scalar_subquery())
    )
    of_task = (
        select(Household.community_id)
        .join(Task, Task.household_id == Household.id)
        .where(Task.id == select(message.c.task_id).scalar_subquery())
    )
    of_resident = (
        select(Household.community_id)
        .join(Resident, Resident.household_id == Household.id)
        .join(ResidentPhone, ResidentPhone.resident_id == Resident.id)
        .where(ResidentPhone.phone == phone, Household.community_id.is_not(None))
        .limit(1)
    )
    of_liaison = (
        select(Household.community_id)
        .join(Liaison, or_(Liaison.id == Household.primary_liaison_id, Liaison.id == Household.backup_liaison_id))
        .where(Liaison.phone == phone, Household.community_id.is_not(None))
        .limit(1)
    )
    of_circle = (  # a resident's family contact: the resident's community
        select(Household.community_id)
        .join(Resident, Resident.household_id == Household.id)
        .join(CircleContact, CircleContact.resident_id == Resident.id)
        .where(CircleContact.phone == phone, Household.community_id.is_not(None))
        .limit(1)
    )
    of_leader = select(Grid.community_id).where(Grid.leader_phone == phone).limit(1)
    of_office = select(Community.id).where(or_(Community.clerk_phone == phone, Community.duty_phone == phone)).limit(1)
    found = (of_checkin, of_task, of_resident, of_liaison, of_circle, of_leader, of_office)
    community_id = func.coalesce(*(query.scalar_subquery() for query in found))
    return select(Community.sms_gateway, Community.call_gateway).where(Community.id == community_id)


_CHOICE = _choice_query()
_ANY_CHOICE = select(exists().where(or_(Community.sms_gateway.is_not(None), Community.call_gateway.is_not(None))))


def any_choice(session: Session) -> bool:
    """True if some community chose a gateway of its own: else every message takes the hotline's own."""
    return bool(session.scalar(_ANY_CHOICE))


def choice_for(session: Session, outbound_id: int) -> CommunityChoice:
    """The choice of the community an outbound message's recipient belongs to: nothing to find (one cheap read)
    while no community chose anything, else one round trip."""
    if not any_choice(session):
        return NO_CHOICE
    row = session.execute(_CHOICE, {"oid": outbound_id}).one_or_none()
    return CommunityChoice(row.sms_gateway, row.call_gateway) if row else NO_CHOICE


def choices_for(session: Session, outbound_ids: list[int]) -> dict[int, CommunityChoice]:
    """`choice_for` for many messages: one cheap read while no community chose anything."""
    if not any_choice(session):
        return dict.fromkeys(outbound_ids, NO_CHOICE)
    return {outbound_id: choice_for(session, outbound_id) for outbound_id in outbound_ids}


@dataclass(frozen=True)
class CommunityChannels:
    """One community and its choice, for the channels page."""

    id: int
    name: str
    choice: CommunityChoice


def all_choices(session: Session) -> list[CommunityChannels]:
    """Every community with its choice, by name."""
    rows = session.execute(
        select(Community.id, Community.name, Community.sms_gateway, Community.call_gateway).order_by(Community.name)
    )
    return [CommunityChannels(r.id, r.name, CommunityChoice(r.sms_gateway, r.call_gateway)) for r in rows]


def choose(
    session: Session, community_id: int, choice: CommunityChoice, *, sms_choices: Set[str], call_choices: Set[str]
) -> Community:
    """Set a community's gateways, each one the hotline is set up with, or None for the hotline's own.

    Raises:
        NotFound: no such community.
        InvalidAction: a gateway the hotline is not set up with (HOTLINE_GATEWAYS), or one that cannot do it.
    """
    community = session.get(Community, community_id)
    if community is None:
        raise NotFound("community", str(community_id))
    if choice.sms is not None and choice.sms not in sms_choices:
        raise InvalidAction(f"SMS gateway {choice.sms!r} is not one of {', '.join(sorted(sms_choices))}")
    if choice.calls is not None and choice.calls not in call_choices:
        raise InvalidAction(f"call gateway {choice.calls!r} is not one of {', '.join(sorted(call_choices))}")
    community.sms_gateway, community.call_gateway = choice.sms, choice.calls
    return community
