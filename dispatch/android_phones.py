"""The phones of SMS Gateway for Android, as the database knows them.

Which phone takes the next SMS: never one past its SIM's daily limit (counted here, in the database, whatever
Redis or a worker thinks), and a quiet one (no webhook of any kind for too long) only when no phone that is heard
from can take it. Each phone's health, for staff. And the message id the phone is given for one of our rows: the
same on every try of that row, so a repeated send is refused by the phone (409), never sent twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dispatch.models import AndroidPhone, OutboundMessage

_MESSAGE_ID = re.compile(r"^hl([1-9][0-9]{0,17})-[0-9a-z]{1,12}\Z")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class PhoneHealth:
    """One phone as staff see it."""

    name: str
    last_heard_at: datetime | None  # None: never heard from
    last_event: str | None
    given_today: int
    daily_limit: int
    quiet: bool  # nothing heard for longer than the quiet setting (or never): no new work while another can take it

    @property
    def full(self) -> bool:
        return self.given_today >= self.daily_limit


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if number == 0:
            return digits


def message_id(session: Session, outbound_id: int) -> str | None:
    """The id the phone is given for our row `outbound_id`: `hl<id>-<when the row was made>`, or None if there is
    no such row.

    The row's id alone would repeat after a database is restored from a backup or set up anew beside phones that
    remember the ids they were given; the phone would then refuse a new SMS as a repeat of an old one. With the
    row's creation time (in milliseconds) the id is the same on every try of one row, and only of that row.
    """
    created = session.scalar(select(OutboundMessage.created_at).where(OutboundMessage.id == outbound_id))
    if created is None:
        return None
    return f"hl{outbound_id}-{_base36(int(created.timestamp() * 1000))}"


def outbound_id_of(phone_message_id: str) -> int | None:
    """Our row's id from a message id made by `message_id`; None for any other id."""
    found = _MESSAGE_ID.match(phone_message_id or "")
    return int(found.group(1)) if found else None


def _ensure(session: Session, names: Sequence[str], now: datetime) -> None:
    """A row for each phone named, made once, whoever asks first (two workers at once make one)."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    rows = [{"name": name, "given": 0, "created_at": now} for name in names]
    if rows:
        session.execute(insert(AndroidPhone).on_conflict_do_nothing(), rows)


def reserve(
    session: Session, candidates: Sequence[tuple[str, int]], *, today: date, quiet_before: datetime, now: datetime
) -> str | None:
    """Count one SMS against the first phone that can take it, and name it.

    Args:
        candidates: (phone name, its SIM's daily limit), in the order of preference.
        today: The community's local date: what "given today" counts.
        quiet_before: A phone last heard from before this (or, never heard from, made before this) is quiet: it
            comes after every phone that is heard from.
        now: Now, for the rows made here.

    Returns:
        The phone's name, or None when every phone has reached its daily limit. The count is one UPDATE that
        checks the limit, so two workers at once can never take a phone past it.
    """
    names = [name for name, _ in candidates]
    _ensure(session, names, now)
    rows = session.execute(
        select(AndroidPhone.name, AndroidPhone.last_heard_at, AndroidPhone.created_at).where(
            AndroidPhone.name.in_(names)
        )
    )
    heard = {row.name: row.last_heard_at or row.created_at for row in rows}
    for name, limit in sorted(candidates, key=lambda c: heard[c[0]] < quiet_before):  # stable: heard ones first
        counted = session.execute(
            update(AndroidPhone)
            .where(
                AndroidPhone.name == name,
                or_(AndroidPhone.given_on.is_(None), AndroidPhone.given_on != today, AndroidPhone.given < limit),
            )
            .values(given=case((AndroidPhone.given_on == today, AndroidPhone.given + 1), else_=1), given_on=today)
        )
        if counted.rowcount == 1:  # type: ignore[attr-defined]
            return name
    return None


def release(session: Session, name: str, today: date) -> None:
    """Take back one SMS counted by `reserve` that the phone did not take (refused, unreachable, or a repeat)."""
    session.execute(
        update(AndroidPhone)
        .where(AndroidPhone.name == name, AndroidPhone.given_on == today, AndroidPhone.given > 0)
        .values(given=AndroidPhone.given - 1)
    )


def mark_heard(session: Session, name: str, event: str, now: datetime) -> None:
    """The phone sent us a signed webhook (any event, a `system:ping` too): it is alive."""
    _ensure(session, [name], now)
    session.execute(
        update(AndroidPhone).where(AndroidPhone.name == name).values(last_heard_at=now, last_event=event[:32])
    )


def health(
    session: Session, phones: Sequence[tuple[str, int]], *, today: date, quiet_before: datetime
) -> list[PhoneHealth]:
    """Each configured phone (name, daily limit) as staff see it, in the order given. A phone the database has
    never seen (never given work, never heard from) is quiet."""
    names = [name for name, _ in phones]
    rows = {row.name: row for row in session.scalars(select(AndroidPhone).where(AndroidPhone.name.in_(names)))}
    found = []
    for name, limit in phones:
        row = rows.get(name)
        if row is None:
            found.append(PhoneHealth(name, None, None, 0, limit, quiet=True))
            continue
        found.append(
            PhoneHealth(
                name,
                row.last_heard_at,
                row.last_event,
                row.given if row.given_on == today else 0,
                limit,
                quiet=(row.last_heard_at or row.created_at) < quiet_before,
            )
        )
    return found
