"""What a batch of call steps reads at once, in a few statements however many calls: the register's callers of
their numbers, the calls' rows, the needs already stored for them (`hotline.webhooks.voice_hotline` reads ahead with
these before a batch's steps run). Each statement is built once, so the database layer compiles it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session, joinedload

from dispatch.models import Call, Household, InboundMessage, Liaison, Resident, ResidentPhone, ResidentStatus


@dataclass(frozen=True)
class Numbers:
    """What the register holds for a set of numbers, read at once for the steps of many calls: each number's
    residents (moved-away ones last, then by id) and its liaison."""

    phones: frozenset[str]
    residents: dict[str, list[Resident]]
    liaisons: dict[str, Liaison]


def look_up_numbers(session: Session, phones: Iterable[str]) -> Numbers:
    """The register's residents and liaisons of `phones`, in two statements however many numbers: the residents
    with their numbers, their household, its community and liaisons joined in (what `identify_caller` reads)."""
    wanted = frozenset(phones)
    residents: dict[str, list[Resident]] = {}
    for resident in _residents_of(session, sorted(wanted)):
        for number in {p.phone for p in resident.phones} & wanted:
            residents.setdefault(number, []).append(resident)
    found = session.scalars(select(Liaison).where(Liaison.phone.in_(sorted(wanted))))
    liaisons = {liaison.phone: liaison for liaison in found if liaison.phone}
    return Numbers(wanted, residents, liaisons)


def _residents_of(session: Session, phones: list[str]) -> list[Resident]:
    """As `dispatch.register.find_residents_by_phone` (moved-away residents last, then by id), in one statement."""
    found = session.scalars(_residents_statement(), {"phones": phones}).unique()
    return sorted(found, key=lambda r: (r.status == ResidentStatus.MOVED_AWAY, r.id))


@lru_cache(maxsize=1)
def _residents_statement() -> Select[Resident]:
    """Residents with any of the numbers `phones` (a bind parameter), and what `identify_caller` reads of them;
    built once."""
    with_number = select(ResidentPhone.resident_id).where(ResidentPhone.phone.in_(bindparam("phones", expanding=True)))
    household = joinedload(Resident.household)
    return (
        select(Resident)
        .where(Resident.id.in_(with_number))
        .options(
            joinedload(Resident.phones),
            household.joinedload(Household.community),
            household.joinedload(Household.primary_liaison),
            household.joinedload(Household.backup_liaison),
        )
    )


def calls_by_sid(session: Session, call_sids: Iterable[str]) -> dict[str, Call]:
    """The rows of these calls that exist, locked for update where the database can: for the steps of many calls,
    read at once."""
    wanted = sorted(set(call_sids))
    return {c.call_sid: c for c in session.scalars(select(Call).where(Call.call_sid.in_(wanted)).with_for_update())}


def needs_of_calls(session: Session, call_sids: Iterable[str]) -> set[str]:
    """The keys of the needs stored for these calls (`<CallSid>:<what>`), in one statement: for the steps of many
    calls, read at once. Each call's keys are a range of the unique index."""
    sids = sorted(set(call_sids))
    if not sids:
        return set()
    size = 1 << (len(sids) - 1).bit_length()  # 1, 2, 4, 8 …: a few statements, each built and compiled once
    params: dict[str, str] = {}
    for i, sid in enumerate(sids + [sids[-1]] * (size - len(sids))):
        params[f"lo{i}"], params[f"hi{i}"] = f"{sid}:", f"{sid};"
    return set(session.scalars(_needs_statement(size), params))


@lru_cache(maxsize=16)
def _needs_statement(size: int) -> Select[str]:
    """The keys of the needs of `size` calls, the ranges given as bind parameters lo0, hi0, lo1 …"""
    column = InboundMessage.provider_sid
    ranges = [and_(column > bindparam(f"lo{i}"), column < bindparam(f"hi{i}")) for i in range(size)]
    return select(column).where(or_(*ranges))
