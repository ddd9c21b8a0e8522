"""The base of every model: naming convention, UTC timestamps, the declarative base."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    DateTime,
    Dialect,
    MetaData,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _real_now() -> datetime:
    return datetime.now(UTC)


_now: Callable[[], datetime] = _real_now
_speed = 1.0  # simulated seconds per real second


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC. Every stored time is UTC. The demo's fast clock, if set, answers instead."""
    return _now()


def set_clock(now: Callable[[], datetime] | None, speed: float = 1.0) -> None:
    """Make `utcnow` answer with `now` in this process (the demo's fast clock, `speed` times faster than real
    time); None: real time again."""
    global _now, _speed
    _now, _speed = (now, speed) if now is not None else (_real_now, 1.0)


def clock_span(real: timedelta) -> timedelta:
    """A span of real time (a lease, a grace, how long a retry may take) as `utcnow` counts it.

    The check-in day and the ladder run on the clock; the machinery does not. Under the demo's fast clock, a send
    still takes real seconds: a five-minute lease read on a clock 3,600 times faster would lapse in 83 ms, and
    sends still under way would be taken for abandoned.
    """
    return real * _speed


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use dispatch.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
