"""The register as the first loop needs it: liaisons, and residents each with one liaison."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.exceptions import AlreadyRegistered, NotFound
from dispatch.models import Liaison, Resident
from dispatch.phones import mask_phone, normalize_phone


def _check_phone_free(session: Session, phone: str) -> None:
    liaison = session.scalar(select(Liaison).where(Liaison.phone == phone))
    if liaison is not None:
        raise AlreadyRegistered(mask_phone(phone), f"liaison {liaison.name}")
    resident = session.scalar(select(Resident).where(Resident.phone == phone))
    if resident is not None:
        raise AlreadyRegistered(mask_phone(phone), f"resident {resident.name}")


def add_liaison(session: Session, *, name: str, phone: str, region: str) -> Liaison:
    """Register a liaison.

    Raises:
        InvalidPhoneNumber: `phone` is not a valid number.
        AlreadyRegistered: someone in the register already has that number.
        ValueError: `name` is empty.
    """
    name = name.strip()
    if not name:
        raise ValueError("a liaison needs a name")
    e164 = normalize_phone(phone, region)
    _check_phone_free(session, e164)
    liaison = Liaison(name=name, phone=e164)
    session.add(liaison)
    session.flush()
    return liaison


def add_resident(
    session: Session, *, name: str, phone: str, liaison_phone: str | None, region: str, language: str = "zh-CN"
) -> Resident:
    """Register a resident, with the liaison who serves them.

    Raises:
        InvalidPhoneNumber: a number is not valid.
        AlreadyRegistered: someone in the register already has the resident's number.
        NotFound: no liaison has `liaison_phone`.
        ValueError: `name` is empty.
    """
    name = name.strip()
    if not name:
        raise ValueError("a resident needs a name")
    e164 = normalize_phone(phone, region)
    liaison = None
    if liaison_phone is not None:
        liaison_e164 = normalize_phone(liaison_phone, region)
        liaison = session.scalar(select(Liaison).where(Liaison.phone == liaison_e164))
        if liaison is None:
            raise NotFound("liaison with phone", mask_phone(liaison_e164))
    _check_phone_free(session, e164)
    resident = Resident(name=name, phone=e164, liaison=liaison, language=language)
    session.add(resident)
    session.flush()
    return resident


def find_liaison_by_phone(session: Session, phone: str) -> Liaison | None:
    """The liaison whose number is `phone` (E.164), if any."""
    return session.scalar(select(Liaison).where(Liaison.phone == phone))


def find_resident_by_phone(session: Session, phone: str) -> Resident | None:
    """The resident whose number is `phone` (E.164), if any."""
    return session.scalar(select(Resident).where(Resident.phone == phone))


def list_liaisons(session: Session) -> list[Liaison]:
    """Every liaison, by name."""
    return list(session.scalars(select(Liaison).order_by(Liaison.name, Liaison.id)))


def list_residents(session: Session) -> list[Resident]:
    """Every resident, by name."""
    return list(session.scalars(select(Resident).order_by(Resident.name, Resident.id)))
