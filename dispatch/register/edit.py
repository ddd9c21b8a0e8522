"""Staff editing one resident: their record and their check-in plan (their household's liaisons: `household_liaisons`).

Each function checks everything it was given before it changes anything, and raises `EditRefused` (an
`InvalidAction`) naming every bad field, so nothing is half-written. Each records one audit entry ("edit", the
resident) naming the fields it changed, never their values, in the caller's transaction. A resident outside the
caller's scope is `NotFound`, exactly like one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

import phonenumbers
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.checkins.plans import clear_plan, set_plan
from dispatch.checkins.returns import end_running
from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import InvalidAction, InvalidPhoneNumber, InvalidPlan
from dispatch.models import (
    AbsenceEnd,
    Channel,
    CheckinPlan,
    Resident,
    ResidentCategory,
    ResidentPhone,
    ResidentStatus,
    RiskColour,
    utcnow,
)
from dispatch.phones import Phone, national_format, normalize_phone, parse_register_phone
from dispatch.register.csv_read import CONTROL_CHARACTERS
from dispatch.register.history import resident_in_scope

EDITABLE = (
    "name",
    "phones",
    "language",
    "channel",
    "categories",
    "risk",
    "emergency_contact_name",
    "emergency_contact_phone",
    "notes",
    "status",
)
LANGUAGES = ("zh-CN", "en")
MAX_NAME, MAX_NOTES = 100, 2000
_SEPARATORS = re.compile(r"[\r\n;；、,，/|]+")  # not spaces: "138 0013 8000" is one number
_TIME_SEPARATORS = re.compile(r"[\s;；、,，/|]+")
_TIME = re.compile(r"^(\d{1,2})[:：.](\d{2})$")
_Bad = Callable[[str, str, str], None]


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field: `code` for a page to put in words, `message` in English for the API."""

    field: str
    code: str
    message: str


class EditRefused(InvalidAction):
    """An edit with bad values; nothing was changed. `problems` names each field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def phone_for_form(phone: str | None, region: str) -> str:
    """A stored number as staff would type it: national for a number of `region`, E.164 for any other."""
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return national_format(phone) if phonenumbers.region_code_for_number(number) == region else phone


def _items(value: object, separators: re.Pattern[str] = _SEPARATORS) -> list[str]:
    """A list given as a list, or as text with separators (`13800138000; 13900139000`, `09:00, 15:00`)."""
    if isinstance(value, str):
        return [part.strip() for part in separators.split(value) if part.strip()]
    if isinstance(value, Sequence):
        return [str(part).strip() for part in value if str(part).strip()]
    return []


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _check(
    session: Session, resident: Resident, changes: Mapping[str, object], region: str
) -> tuple[dict[str, object], list[FieldProblem]]:
    """The changes as values to store, and every problem with them."""
    problems: list[FieldProblem] = []
    clean: dict[str, object] = {}

    def bad(field: str, code: str, message: str) -> None:
        problems.append(FieldProblem(field, code, message))

    for key in changes:
        if key not in EDITABLE:
            bad(key, "unknown_field", f"is not a field of a resident (editable: {', '.join(EDITABLE)})")
    if "name" in changes:
        name = _text(changes["name"])
        if not name:
            bad("name", "required", "is empty")
        elif len(name) > MAX_NAME:
            bad("name", "too_long", f"is longer than {MAX_NAME} characters")
        else:
            clean["name"] = name
    if "phones" in changes:
        phones: list[Phone] = []
        for raw in _items(changes["phones"]):
            try:
                phone = parse_register_phone(raw, region)
            except InvalidPhoneNumber as exc:
                bad("phones", "bad_phone", f"{raw!r} {exc.reason}")
                continue
            if phone.e164 not in (p.e164 for p in phones):
                phones.append(phone)
        if not phones and not any(p.field == "phones" for p in problems):
            bad("phones", "required", "a resident needs at least one phone number")
        clean["phones"] = phones
    for key, allowed in (
        ("language", LANGUAGES),
        ("channel", tuple(Channel)),
        ("risk", tuple(RiskColour)),
        ("status", tuple(ResidentStatus)),
    ):
        if key in changes:
            value = _text(changes[key])
            if value not in allowed:
                bad(key, "bad_choice", f"must be one of {', '.join(allowed)}")
            else:
                clean[key] = value
    if "categories" in changes:
        categories = sorted(set(_items(changes["categories"])))
        unknown = [c for c in categories if c not in tuple(ResidentCategory)]
        if unknown:
            bad("categories", "bad_choice", f"unknown: {', '.join(unknown)}")
        clean["categories"] = categories
    if "emergency_contact_name" in changes:
        contact = _text(changes["emergency_contact_name"]) or ""
        if len(contact) > MAX_NAME:
            bad("emergency_contact_name", "too_long", f"is longer than {MAX_NAME} characters")
        clean["emergency_contact_name"] = contact or None
    if "emergency_contact_phone" in changes:
        raw = _text(changes["emergency_contact_phone"]) or ""
        try:
            clean["emergency_contact_phone"] = normalize_phone(raw, region) if raw else None
        except InvalidPhoneNumber as exc:  # a number of any country: family may live abroad
            bad("emergency_contact_phone", "bad_phone", f"{raw!r} {exc.reason}")
    if "notes" in changes:
        notes = changes["notes"] if isinstance(changes["notes"], str) else ""
        if len(notes) > MAX_NOTES:
            bad("notes", "too_long", f"is longer than {MAX_NOTES} characters")
        clean["notes"] = notes.strip()
    for field in ("name", "emergency_contact_name", "notes"):
        typed = clean.get(field)
        if isinstance(typed, str) and CONTROL_CHARACTERS.search(typed):
            bad(field, "control", "contains control characters (pasted from another program?): type it again")
    if not problems:
        _check_together(session, resident, clean, bad)
    return clean, problems


def _check_together(session: Session, resident: Resident, clean: dict[str, object], bad: _Bad) -> None:
    """Rules across fields: the channel and the first phone, the same person twice, a liaison's own number."""
    phones = clean.get("phones")
    numbers = [p.e164 for p in phones] if isinstance(phones, list) else [p.phone for p in resident.phones]
    first_landline = (
        phones[0].landline
        if isinstance(phones, list) and phones
        else bool(resident.phones and resident.phones[0].landline)
    )
    if clean.get("channel") == Channel.SMS and first_landline:
        bad("channel", "landline_sms", "a landline cannot receive SMS; choose voice or put a mobile first")
    if "phones" in clean or "name" in clean:
        name = str(clean.get("name", resident.name))
        twin = session.scalar(
            select(Resident.id)
            .join(ResidentPhone, ResidentPhone.resident_id == Resident.id)
            .where(Resident.id != resident.id, Resident.name == name, ResidentPhone.phone.in_(numbers))
            .limit(1)
        )
        if twin is not None:
            bad("phones", "duplicate", "another resident of the same name already has one of these numbers")
    household = resident.household
    for liaison in (household.primary_liaison, household.backup_liaison):
        if liaison is not None and liaison.phone in numbers:
            bad("phones", "liaison_number", f"is the number of {liaison.name}, this household's liaison")


def update_resident(
    session: Session,
    resident_id: int,
    changes: Mapping[str, object],
    *,
    actor: Actor,
    where: ColumnElement[bool],
    region: str,
) -> list[str]:
    """Change a resident's record. `changes` maps fields of `EDITABLE` to new values: text, or for `phones`
    and `categories` a list (or text with separators). Fields left out stay as they are.

    Returns:
        The names of the fields that really changed (an empty list: nothing did, and nothing is recorded).

    Raises:
        NotFound: no such resident in `where`.
        EditRefused: a bad value (every problem is listed); nothing was changed.
    """
    resident = resident_in_scope(session, resident_id, where)
    clean, problems = _check(session, resident, changes, region)
    if problems:
        raise EditRefused(problems)
    changed = []
    phones = clean.pop("phones", None)
    if isinstance(phones, list) and [(p.phone, p.landline) for p in resident.phones] != [
        (p.e164, p.landline) for p in phones
    ]:
        # Keep the row of each number that stays, so a number never exists twice for this resident.
        current = {p.phone: p for p in resident.phones}
        rows = []
        for position, phone in enumerate(phones):
            row = current.pop(phone.e164, None) or ResidentPhone(phone=phone.e164)
            row.position, row.landline = position, phone.landline
            rows.append(row)
        resident.phones = rows
        changed.append("phones")
        if rows[0].landline and resident.channel == Channel.SMS and "channel" not in clean:
            clean["channel"] = Channel.VOICE  # a landline cannot receive SMS
    for key, value in clean.items():
        if getattr(resident, key) != value:
            setattr(resident, key, value)
            changed.append(key)
    if "status" in changed and resident.status != ResidentStatus.PAUSED:  # a status by hand ends an absence
        end_running(session, resident, utcnow(), AbsenceEnd.STATUS, actor.audit_name)
    if changed:
        changed.sort(key=EDITABLE.index)
        audit.record(session, actor, "edit", "resident", resident.id, ", ".join(changed))
        session.flush()
    return changed


def _plan_times(raw: object, rules: CheckinRules, problems: list[FieldProblem]) -> list[str]:
    times = []
    for item in _items(raw, _TIME_SEPARATORS):
        found = _TIME.match(item)
        slot = None
        if found and int(found[1]) < 24 and int(found[2]) < 60:
            slot = time(int(found[1]), int(found[2]))
        if slot is None:
            problems.append(FieldProblem("plan_times", "bad_time", f"{item!r} is not a time of day such as 09:00"))
        elif rules.in_quiet_hours(slot):
            problems.append(FieldProblem("plan_times", "quiet_time", f"{item} is in quiet hours"))
        else:
            times.append(slot.strftime("%H:%M"))
    return sorted(set(times))


def update_plan(
    session: Session,
    rules: CheckinRules,
    resident_id: int,
    *,
    own: bool,
    times: object = (),
    channel: str | None = None,
    ends_on: date | str | None = None,
    actor: Actor,
    where: ColumnElement[bool],
    now: datetime,
) -> bool:
    """Give the resident their own check-in plan (`own`: these `times`, none meaning no check-ins while it lasts,
    by `channel` or their own, until `ends_on` or for good), or put them back on their categories' default.

    Returns:
        True if the plan changed (and was recorded), False if it was already so.

    Raises:
        NotFound: no such resident in `where`.
        EditRefused: a bad time, one in quiet hours, an unknown channel, an end date already past.
    """
    resident = resident_in_scope(session, resident_id, where)
    current = session.scalar(select(CheckinPlan).where(CheckinPlan.resident_id == resident.id))
    if not own:
        if current is None:
            return False
        clear_plan(session, rules, resident.id, now)
        audit.record(session, actor, "edit", "resident", resident.id, "plan")
        return True
    problems: list[FieldProblem] = []
    slots = _plan_times(times, rules, problems)
    channel = channel or None
    if channel not in (None, *Channel):
        problems.append(FieldProblem("plan_channel", "bad_choice", "must be sms or voice"))
    if isinstance(ends_on, str):
        try:
            ends_on = date.fromisoformat(ends_on.strip()) if ends_on.strip() else None
        except ValueError:
            problems.append(FieldProblem("plan_ends_on", "bad_date", f"{ends_on!r} is not a date such as 2030-03-04"))
            ends_on = None
    if isinstance(ends_on, date) and ends_on < now.astimezone(rules.timezone).date():
        problems.append(FieldProblem("plan_ends_on", "date_past", "is already past"))
    if problems:
        raise EditRefused(problems)
    end = ends_on if isinstance(ends_on, date) else None
    if current is not None and (list(current.times), current.channel, current.ends_on) == (slots, channel, end):
        return False
    try:
        set_plan(
            session,
            rules,
            resident.id,
            times=slots,
            channel=channel,
            starts_on=current.starts_on if current else None,
            ends_on=end,
            note=current.note if current else "",
            actor=actor.audit_ref,
            now=now,
        )
    except InvalidPlan as exc:  # set_plan's own checks; ours above should have caught each
        raise EditRefused([FieldProblem("plan_times", "bad_plan", str(exc))]) from None
    audit.record(session, actor, "edit", "resident", resident.id, "plan")
    return True
