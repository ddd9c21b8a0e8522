"""Stored details in words: an audit entry's detail ("callback; resident:1", "role:admin", "other→visit", "sms")
with people named by role and name and the code's values in the catalog's words, for the pages staff read."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from dispatch.models import (
    Channel,
    ResidentCategory,
    ResidentStatus,
    RiskColour,
    StaffRole,
    TaskCategory,
    TaskPriority,
    TaskStatus,
)
from dispatch.tasks.event_reading import Actor, name_actors
from dispatch.texts import MessageCatalog

REF = re.compile(r"(?<![A-Za-z_])([a-z_]+):(\d+)(?!\d)")  # liaison:3, task:12
VALUE = re.compile(
    r"(?<![A-Za-z_])[a-z][a-z_]*(?![A-Za-z_])"
)  # a lower-case word: an enum value, or an English word left as it is
# Details written in a fixed shape (a notice sent, a register imported or exported): said as one sentence.
SHAPES = (
    (
        re.compile(
            r"request=[^;]*; (?:[a-z_]+)=(?P<target>[^;]*); (?P<channels>[^;]*); residents (?P<residents>\d+), "
            r"sms (?P<sms>\d+), calls (?P<calls>\d+)"
        ),
        "detail_notice_sent",
    ),
    (
        re.compile(r"created (?P<created>\d+), updated (?P<updated>\d+), unchanged (?P<unchanged>\d+)"),
        "detail_imported",
    ),
    (re.compile(r"(?P<count>\d+) residents"), "detail_exported"),
    (re.compile(r"voicemail message:(?P<id>\d+)"), "detail_voicemail"),
)
ACTOR_KINDS = ("resident", "household", "liaison", "staff", "token")
# Where the console's catalogs word each enum's values.
WORDED: tuple[tuple[str, type[enum.Enum]], ...] = (
    ("status_", TaskStatus),
    ("history_priority_", TaskPriority),
    ("role_", StaffRole),
    ("history_channel_", Channel),
    ("register_cat_", ResidentCategory),
    ("register_risk_", RiskColour),
    ("register_status_", ResidentStatus),
)


def refs_in(details: Iterable[str]) -> set[str]:
    """The people a set of details names (`liaison:3`), to be named in one query per kind."""
    return {hit.group(0) for detail in details for hit in REF.finditer(detail) if hit.group(1) in ACTOR_KINDS}


def value_words(t: Callable[..., str], tasks_catalog: MessageCatalog, language: str) -> dict[str, str]:
    """Each enum value the console has a word for → that word (a task category by the tasks' catalog)."""
    words = {str(c): tasks_catalog.render(f"category_{c}", language) for c in TaskCategory}
    for prefix, values in WORDED:
        for member in values:
            try:
                words.setdefault(str(member.value), t(f"{prefix}{member.value}"))
            except KeyError:
                continue
    return words


def detail_in_words(detail: str, t: Callable[..., str], people: dict[str, Actor], words: dict[str, str]) -> str:
    """`detail` with each reference to a person as their role and name, other references as "#12", each value
    the catalog words as its word, and "→" between two of them kept."""

    for shape, key in SHAPES:
        if found := shape.fullmatch(detail):
            fields = found.groupdict()
            if "channels" in fields:
                fields["channels"] = "、".join(words.get(c.strip(), c.strip()) for c in fields["channels"].split(","))
            return t(key, **fields)

    def ref(hit: re.Match[str]) -> str:
        person = people.get(hit.group(0))
        if person is not None:
            return t(f"history_actor_{person.role}", name=person.name)
        return f"#{hit.group(2)}"

    def value(hit: re.Match[str]) -> str:
        return words.get(hit.group(0), hit.group(0))

    detail = REF.sub(ref, detail)
    detail = re.sub(r"(?<![A-Za-z_])(role|channel|category|status|risk):(?=[a-z])", "", detail)
    return VALUE.sub(value, detail)


def people_named(session: Session, details: Iterable[str]) -> dict[str, Actor]:
    """The people `details` name, by reference."""
    return name_actors(session, refs_in(details))
