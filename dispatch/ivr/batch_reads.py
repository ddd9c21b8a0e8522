"""What a batch of call steps reads at once, in a few statements however many calls: the register's callers of
their numbers, the calls' rows, the needs already stored for them (`hotline.webhooks.voice_hotline` reads ahead with
these before a batch's steps run). Each statement is built once, so the database layer compiles it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from dispatch.ivr.register_rows import ResidentOfNumber, residents_of_numbers
from dispatch.models import Call, InboundMessage, Liaison


@dataclass(frozen=True)
class Numbers:
    """What the register holds for a set of numbers, read at once for the steps of many calls: each number's
    residents (moved-away ones last, then by id, as plain rows) and its liaison."""

    phones: frozenset[str]
    residents: dict[str, list[ResidentOfNumber]]
    liaisons: dict[str, Liaison]


def look_up_numbers(session: Session, phones: Iterable[str]) -> Numbers:
    """The register's residents and liaisons of `phones`, in two statements however many numbers (three if one
    is a liaison's): the residents with their household, community and liaisons as rows (`register_rows`), and
    which numbers are liaisons', whose records are then loaded (a liaison calling is rare; their grid is read)."""
    wanted = frozenset(phones)
    ordered = sorted(wanted)
    residents = residents_of_numbers(session, ordered)
    liaisons: dict[str, Liaison] = {}
    if ordered and (theirs := list(session.connection().execute(_liaison_phones(), {"phones": ordered}).scalars())):
        found = session.scalars(select(Liaison).where(Liaison.phone.in_(theirs)))
        liaisons = {liaison.phone: liaison for liaison in found if liaison.phone}
    return Numbers(wanted, residents, liaisons)


@lru_cache(maxsize=1)
def _liaison_phones() -> Select[str]:
    """Which of the numbers `phones` (an expanding bind parameter) are liaisons'; built once."""
    table = Liaison.__table__
    return select(table.c.phone).where(table.c.phone.in_(bindparam("phones", expanding=True)))


def calls_by_sid(session: Session, call_sids: Iterable[str], *, new_calls: bool = False) -> dict[str, Call]:
    """The rows of these calls that exist, locked for update where the database can: for the steps of many calls,
    read at once. With `new_calls` (the calls are expected to be new: their first webhooks), which exist is read
    first as plain rows, and records are loaded only for those (usually none)."""
    wanted = sorted(set(call_sids))
    if not wanted:
        return {}
    if new_calls:
        wanted = list(session.connection().execute(_existing_calls(), {"sids": wanted}).scalars())
        if not wanted:
            return {}
    return {c.call_sid: c for c in session.scalars(_calls_statement(), {"sids": wanted})}


@lru_cache(maxsize=1)
def _calls_statement() -> Select[Call]:
    """The calls of the CallSids `sids` (an expanding bind parameter), locked for update; built once."""
    return select(Call).where(Call.call_sid.in_(bindparam("sids", expanding=True))).with_for_update()


@lru_cache(maxsize=1)
def _existing_calls() -> Select[str]:
    """Which of the CallSids `sids` (an expanding bind parameter) have a row; built once."""
    table = Call.__table__
    return select(table.c.call_sid).where(table.c.call_sid.in_(bindparam("sids", expanding=True)))


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
    # Plain rows, not through the session: reading them flushes nothing of the steps run so far in the batch.
    return set(session.connection().execute(_needs_statement(size), params).scalars())


@lru_cache(maxsize=16)
def _needs_statement(size: int) -> Select[str]:
    """The keys of the needs of `size` calls, the ranges given as bind parameters lo0, hi0, lo1 …"""
    column = InboundMessage.provider_sid
    ranges = [and_(column > bindparam(f"lo{i}"), column < bindparam(f"hi{i}")) for i in range(size)]
    return select(column).where(or_(*ranges))
