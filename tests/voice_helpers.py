"""What the voice hotline tests share: the service's duty phone, the call row of a flow, and a community directory."""

from __future__ import annotations

from sqlalchemy import select

from dispatch import register
from dispatch.models import Call, DirectoryEntry, DirectoryKind
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import RESIDENT_PHONE

SERVICE_DUTY = "+861066880000"  # HOTLINE_DUTY_PHONE


def the_call(services: Services, flow: CallFlow) -> Call:
    with services.sessions() as session:
        return session.execute(select(Call).where(Call.call_sid == flow.sid)).scalar_one()


def add_directory(services: Services) -> None:
    with services.sessions.begin() as session:
        resident = register.match_sender(session, RESIDENT_PHONE).resident
        assert resident is not None
        community = resident.household.community
        session.add(
            DirectoryEntry(community=community, kind=DirectoryKind.HOSPITAL, name="市第一医院", phone="+8637166661234")
        )
        session.add(
            DirectoryEntry(community=community, kind=DirectoryKind.PHARMACY, name="仁和药店", phone="+8637166665678")
        )
