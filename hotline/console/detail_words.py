"""Stored details in words: an audit entry's detail ("callback; resident:1", "role:admin", "other→visit",
"phones, channel", a notice's or a call round's counts) with people named by role and name, objects as "任务 #12"
and the code's values and field names in the catalog's words, for the pages staff read."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from dispatch.models import (
    AbsenceReason,
    Channel,
    ResidentCategory,
    ResidentStatus,
    RingMode,
    RiskColour,
    StaffRole,
    TaskCategory,
    TaskPriority,
    TaskStatus,
)
from dispatch.register.edit import EDITABLE
from dispatch.tasks.event_reading import Actor, name_actors
from dispatch.texts import MessageCatalog

Words = Callable[..., str]
REF = re.compile(r"(?<![A-Za-z_])([a-z_]+):(\d+)(?!\d)")  # liaison:3, task:12
VALUE = re.compile(r"(?<![A-Za-z_])[a-z][a-z_]*(?![A-Za-z_])")  # a lower-case word: a value or a field's name
# Details written in a fixed shape: each said as one sentence (texts/history.toml, detail_*).
SHAPES = (
    (
        re.compile(
            r"request=[^;]*; (?:[a-z_]+)=(?P<target>[^;]*); (?P<channels>[^;]*); residents (?P<residents>\d+), "
            r"sms (?P<sms>\d+), calls (?P<calls>\d+)"
        ),
        "detail_notice_sent",
    ),
    (
        re.compile(r"(?P<chosen>.*); selected (?P<selected>\d+), called (?P<called>\d+), skipped (?P<skipped>\d+)"),
        "detail_calls",
    ),
    (
        re.compile(r"created (?P<created>\d+), updated (?P<updated>\d+), unchanged (?P<unchanged>\d+)"),
        "detail_imported",
    ),
    (re.compile(r"(?P<count>\d+) residents"), "detail_exported"),
    (re.compile(r"voicemail message:(?P<id>\d+)"), "detail_voicemail"),
    # An absence set or changed, and ended (dispatch/register/away.py).
    (re.compile(r"(?P<reason>[a-z]+); return_on=(?P<back>\d{4}-\d{2}-\d{2})"), "detail_away"),
    (re.compile(r"return_on=(?P<back>\d{4}-\d{2}-\d{2})"), "detail_away_end"),
    (re.compile(r"sms=(?P<sms>\S+) calls=(?P<calls>\S+)"), "detail_channels"),
    # An SMS from staff (dispatch/staff_sms.py): to whom and how long; the form's key and the outbox row are the
    # code's, not words.
    (re.compile(r"request=[^;]*; to=(?P<to>[^;]*); segments (?P<segments>\d+); outbound:\d+"), "detail_staff_sms"),
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
    ("away_reason_", AbsenceReason),
)
# The names of what an edit changed, beside the register's fields.
FIELDS = {"primary_liaison": "register_liaison", "backup_liaison": "register_backup", "plan": "register_plan"}


def refs_in(details: Iterable[str]) -> set[str]:
    """The people a set of details names (`liaison:3`), to be named in one query per kind."""
    return {hit.group(0) for detail in details for hit in REF.finditer(detail) if hit.group(1) in ACTOR_KINDS}


def people_named(session: Session, details: Iterable[str]) -> dict[str, Actor]:
    """The people `details` name, by reference."""
    return name_actors(session, refs_in(details))


def value_words(t: Words, tasks_catalog: MessageCatalog, language: str) -> dict[str, str]:
    """Each enum value and field name the console has a word for → that word (a task category by the tasks'
    catalog; "not_reached", a call round's filter, by its own)."""
    words = {str(c): tasks_catalog.render(f"category_{c}", language) for c in TaskCategory}
    keys = {member.value: prefix + str(member.value) for prefix, values in WORDED for member in values}
    keys |= {name: f"register_field_{name}" for name in EDITABLE} | FIELDS | {"not_reached": "detail_not_reached"}
    keys |= {f"ring_mode_{mode}": f"ring_mode_{mode}" for mode in RingMode}  # dispatch.checkins.ring_settings
    for value, key in keys.items():
        try:
            words.setdefault(str(value), t(key))
        except KeyError:
            continue
    return words


def detail_in_words(detail: str, t: Words, people: dict[str, Actor], words: dict[str, str]) -> str:
    """`detail` in words: a fixed shape as its sentence; else each reference to a person as their role and name,
    to an object as its kind and number, each value and field name as the catalog's word."""
    for shape, key in SHAPES:
        if found := shape.fullmatch(detail):
            fields = {name: _plain(value, t, people, words) for name, value in found.groupdict().items()}
            if key == "detail_channels":
                fields = {name: _gateway(t, value) for name, value in found.groupdict().items()}
            return t(key, **fields)
    return _plain(detail, t, people, words)


def _plain(detail: str, t: Words, people: dict[str, Actor], words: dict[str, str]) -> str:
    def ref(hit: re.Match[str]) -> str:
        person = people.get(hit.group(0))
        if person is not None:
            return t(f"history_actor_{person.role}", name=person.name)
        try:
            return t("audit_object_ref", kind=t(f"audit_kind_{hit.group(1)}"), id=hit.group(2))
        except KeyError:
            return f"#{hit.group(2)}"

    detail = REF.sub(ref, detail)
    # "role:admin", "community=幸福里社区": the value says it; "residents=3,4" are residents by number.
    detail = re.sub(r"(?<![A-Za-z_])(role|channel|category|status|risk|community|grid|building):", "", detail)
    detail = re.sub(r"(?<![A-Za-z_])(community|grid|building|category)=", "", detail)
    detail = re.sub(r"(?<![A-Za-z_])residents=([\d,]+)", lambda m: t("detail_residents", ids=m.group(1)), detail)
    return VALUE.sub(lambda hit: words.get(hit.group(0), hit.group(0)), detail)


def _gateway(t: Words, name: str) -> str:
    """A channel choice: a gateway's name, or the hotline's default."""
    try:
        return t("detail_default_gateway") if name == "default" else t(f"channel_{name}")
    except KeyError:
        return name
