"""A task's history as facts staff can be told in words: who did it (a role and a name, never `liaison:3`), and
what an event's stored detail says (the liaison it went to, the rung and why it climbed, the category it was
sorted into, the words people wrote). The console words them from its catalog; nothing here is shown as is."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Community, Grid, Liaison, Resident, ResidentPhone, StaffUser, TaskPriority
from dispatch.models.console import ApiToken
from dispatch.phones import national_format

# Why a task climbed, as `escalation.climb` and `_to_duty_staff_directly` write it.
CLIMB_REASONS = {
    "not taken in time": "not_taken",
    "handed back": "handed_back",
    "no liaison": "no_liaison",
    "offer SMS not delivered": "not_delivered",
    "no household": "no_household",
}
NOBODY = "; nobody to reach"
_CLIMB = re.compile(r"rung:(\d+) (.*)")
_REF = re.compile(r"([a-z]+):(\d+)")


@dataclass(frozen=True)
class Actor:
    """Who did something. role: resident, household, liaison, staff, token, hotline (an automatic step), caller
    (an unknown number), command_line, or someone (a reference no longer known). name: "" when there is none."""

    role: str
    name: str = ""


@dataclass(frozen=True)
class EventFacts:
    """What an event's detail says. reason: a key of CLIMB_REASONS' values; why: checkin (a check-in nobody
    answered), staff (made by staff) or message; text: people's own words (a note, a reason, a liaison's reply)."""

    priority: str = ""
    why: str = ""
    person: Actor | None = None  # the liaison it was offered or assigned to; the resident it was linked to
    rung: int | None = None
    reason: str = ""
    nobody_to_reach: bool = False
    category: str = ""  # what it was sorted into
    due: datetime | None = None  # flagged: not done by then
    text: str = ""


@dataclass
class _Refs:
    """References met while reading one task's history, named in one query per kind."""

    ids: dict[str, set[int]] = field(default_factory=dict)

    def add(self, ref: str) -> None:
        found = _REF.fullmatch(ref)
        if found:
            self.ids.setdefault(found.group(1), set()).add(int(found.group(2)))


def read_detail(kind: str, detail: str) -> tuple[EventFacts, str]:
    """The facts in an event's stored detail, and the reference it names (a liaison, a resident), if any."""
    if kind in ("offered", "assigned", "linked", "owner_taken", "owner_given", "owner_released") and _REF.fullmatch(
        detail
    ):
        return EventFacts(), detail
    if kind == "created":
        priority, _, why = detail.partition("; ")
        if priority not in set(TaskPriority):
            priority, why = "", detail
        why, text = _why(why)
        return EventFacts(priority=priority, why=why, text=text), ""
    if kind == "added":
        why, text = _why(detail)
        return EventFacts(why=why, text=text), ""
    if kind == "escalated" and (climb := _CLIMB.fullmatch(detail)):
        reason = climb.group(2)
        nobody = reason.endswith(NOBODY)
        reason = reason.removesuffix(NOBODY)
        known = CLIMB_REASONS.get(reason, "")
        return EventFacts(
            rung=int(climb.group(1)), reason=known, nobody_to_reach=nobody, text="" if known else reason
        ), ""
    if kind == "flagged" and detail.startswith("not done by "):
        try:
            return EventFacts(due=datetime.fromisoformat(detail.removeprefix("not done by "))), ""
        except ValueError:
            pass
    if kind == "triaged" and "→" in detail:
        return EventFacts(category=detail.split("→", 1)[1]), ""
    return EventFacts(text=detail), ""


def _why(why: str) -> tuple[str, str]:
    """Why a task was made or added to, as (why, people's words)."""
    if why.startswith("checkin:"):
        return "checkin", ""
    if why.startswith("message:"):
        return "message", ""
    if why == "made by staff":
        return "staff", ""
    if why == "ring" or why.startswith("ring:"):  # dispatch.checkins.ring: a ring meaning "please call me back"
        return "ring", ""
    return "", why


def name_actors(session: Session, refs: set[str]) -> dict[str, Actor]:
    """Each actor reference as an Actor: "liaison:3" → liaison 张敏, "system" → the hotline. One query per kind of
    reference, however many events there are."""
    found = _Refs()
    for ref in refs:
        found.add(ref.removeprefix("staff:") if ref == "staff:cli" else ref)
    columns = {
        "liaison": (Liaison.id, Liaison.name),
        "resident": (Resident.id, Resident.name),
        "staff": (StaffUser.id, StaffUser.display_name),
        "token": (ApiToken.id, ApiToken.name),
    }
    names: dict[str, Actor] = {}
    for kind, (id_column, name_column) in columns.items():
        if kind in found.ids:
            for found_id, name in session.execute(select(id_column, name_column).where(id_column.in_(found.ids[kind]))):
                names[f"{kind}:{found_id}"] = Actor(kind, name)
    for ref in refs:
        names.setdefault(ref, _unnamed(ref))
    return names


def _unnamed(ref: str) -> Actor:
    if ref == "system":
        return Actor("hotline")
    if ref in ("cli", "staff:cli"):
        return Actor("command_line")
    if ref == "phone":
        return Actor("caller")
    kind = ref.partition(":")[0]
    return Actor(kind if kind in ("resident", "household", "liaison", "staff", "token") else "someone")


def name_phones(session: Session, phones: set[str]) -> dict[str, Actor]:
    """Whose each number is, for the messages and calls of a task: a liaison, a resident, a grid leader or a
    community's duty phone, with the number in national format; else the number alone (role "number")."""
    names: dict[str, Actor] = {}
    if not phones:
        return names
    residents = select(ResidentPhone.phone, Resident.name).join(Resident, Resident.id == ResidentPhone.resident_id)
    # In this order, later ones winning: a grid leader who is also a liaison is named as the liaison.
    _add(
        names,
        "duty_phone",
        session.execute(select(Community.duty_phone, Community.name).where(Community.duty_phone.in_(phones))).all(),
    )
    _add(
        names,
        "grid_leader",
        session.execute(select(Grid.leader_phone, Grid.leader_name).where(Grid.leader_phone.in_(phones))).all(),
    )
    _add(names, "resident", session.execute(residents.where(ResidentPhone.phone.in_(phones))).all())
    _add(names, "liaison", session.execute(select(Liaison.phone, Liaison.name).where(Liaison.phone.in_(phones))).all())
    return {phone: names.get(phone, Actor("number")) for phone in phones}


def _add(names: dict[str, Actor], role: str, rows: Iterable[tuple[str | None, str | None]]) -> None:
    for phone, name in rows:
        if phone is not None:
            names[phone] = Actor(role, name or "")


def phone_words(phone: str) -> str:
    """A number as staff read it: national format."""
    return national_format(phone) if phone else ""
