"""Who is who in the demo's past: the residents who text, and the households whose errands are told on purpose
(left plain by the demo's care, `dispatch.demo_care`); and the past's span and its ten-minute step."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import demo_people as people
from dispatch.checkins.plans import first_phones
from dispatch.context import DispatchContext
from dispatch.models import (
    AbsenceReason,
    Channel,
    Resident,
    ResidentStatus,
    RingMode,
)

DAYS = 14
STORIES = 6  # residents whose errands are told on purpose (`dispatch.demo_history.stories`)
STEP = timedelta(minutes=10)  # people's answers fall on ten-minute marks: fewer moments to play, same story


def cast_of(session: Session) -> tuple[dict[int, tuple[str, bool]], list[int], dict[int, int]]:
    """The active residents' first numbers, those who text from a mobile (by id), and everyone's household."""
    active = session.scalars(select(Resident.id).where(Resident.status == ResidentStatus.ACTIVE)).all()
    phones = first_phones(session, list(active))
    texting = set(session.scalars(select(Resident.id).where(Resident.channel == Channel.SMS)))
    texters = [r for r in sorted(phones) if r in texting and not phones[r][1]]
    homes = {row.id: row.household_id for row in session.execute(select(Resident.id, Resident.household_id))}
    return phones, texters, homes


def story_households(session: Session) -> set[int]:
    """The households whose errands the past tells on purpose (`dispatch.demo_history.stories`): the demo's care
    leaves them plain."""
    _, texters, homes = cast_of(session)
    return {homes[r] for r in texters[-STORIES:]}


class Past(Protocol):
    """The past being played, as its care and its stories (`care_past`, `stories`) use it: when an act happens, the
    local time of a day, a new call or message id, a resident's text, and who is who."""

    context: DispatchContext
    rng: random.Random
    hotline_phone: str
    staff_username: str
    ringers: list[tuple[int, RingMode, str]]  # residents in a ring mode: id, mode, number
    away: list[tuple[AbsenceReason, int]]  # residents staff set away in the past: why, id
    tellers: list[str]  # the numbers whose errands are told on purpose
    liaisons: dict[str, int]  # active liaisons: number → id
    inbox: list[tuple[str, str, str]]  # (SID, from phone, words) to store and take in at this moment

    def at(self, when: datetime, act: Callable[[Session, datetime], None]) -> None: ...

    def local(self, day: date, hhmm: str) -> datetime: ...

    def sid(self, prefix: str) -> str: ...

    def text(self, when: datetime, phone: str, words: str, story: people.Story | None = None) -> None: ...
