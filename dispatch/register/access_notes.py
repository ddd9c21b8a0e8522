"""A household's access notes, set by staff: who holds a key (name, relation, phone), the door code, and a short
note (a dog, a stiff lock). Visit tasks carry them in their SMS (`dispatch.tasks.task_texts.access_words`).

Every value is checked before anything changes (`EditRefused` names each bad field, nothing half-written). The
audit entry names the fields that changed, never their values: the door code is a secret, kept out of every log
line, audit entry and task history. A resident outside the caller's scope is `NotFound`, like one that does not
exist. Saving the same values again changes nothing and records nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.db import insert_skipping_duplicates
from dispatch.exceptions import InvalidPhoneNumber
from dispatch.models import HouseholdAccess, utcnow
from dispatch.phones import normalize_phone
from dispatch.register.csv_read import CONTROL_CHARACTERS
from dispatch.register.edit import EditRefused, FieldProblem
from dispatch.register.history import resident_in_scope

ACCESS_FIELDS = ("key_holder_name", "key_holder_relation", "key_holder_phone", "door_code", "notes")
# The longest each may be: short, so a visit's offer SMS keeps them whole (see task_texts.VISIT_SEGMENTS).
LIMITS = {"key_holder_name": 20, "key_holder_relation": 8, "key_holder_phone": 30, "door_code": 12, "notes": 30}
_DOOR_CODE = re.compile(r"^[0-9A-Za-z#*\- ]+$")  # what a keypad or a lock box has


@dataclass(frozen=True)
class AccessNotes:
    """A household's access notes as stored (the phone in E.164); empty strings for what is not set."""

    key_holder_name: str = ""
    key_holder_relation: str = ""
    key_holder_phone: str = ""
    door_code: str = ""
    notes: str = ""

    @classmethod
    def of(cls, row: HouseholdAccess | None) -> AccessNotes:
        if row is None:
            return cls()
        return cls(**{field: getattr(row, field) or "" for field in ACCESS_FIELDS})

    def is_empty(self) -> bool:
        return not any(getattr(self, field) for field in ACCESS_FIELDS)

    def as_dict(self) -> dict[str, str | None]:
        """For the API: each field, None when not set."""
        return {field: getattr(self, field) or None for field in ACCESS_FIELDS}


def household_access(session: Session, household_id: int | None) -> AccessNotes:
    """The household's access notes (empty if none were set or no household)."""
    if household_id is None:
        return AccessNotes()
    return AccessNotes.of(session.get(HouseholdAccess, household_id))


def read_access(session: Session, resident_id: int, where: ColumnElement[bool]) -> AccessNotes:
    """The access notes of the resident's household, if the resident is in `where` (else `NotFound`)."""
    resident = resident_in_scope(session, resident_id, where)
    return household_access(session, resident.household_id)


def _check(changes: Mapping[str, object], region: str) -> tuple[dict[str, str | None], list[FieldProblem]]:
    """The changes as values to store (None clears one), and every problem with them."""
    problems: list[FieldProblem] = []
    clean: dict[str, str | None] = {}
    for field, value in changes.items():
        if field not in ACCESS_FIELDS:
            known = ", ".join(ACCESS_FIELDS)
            problems.append(FieldProblem(field, "unknown_field", f"is not an access field ({known})"))
            continue
        if value is not None and not isinstance(value, str):
            problems.append(FieldProblem(field, "not_text", "must be text (or null to clear it)"))
            continue
        text = (value or "").strip()
        if len(text) > LIMITS[field]:
            problems.append(FieldProblem(field, "too_long", f"is longer than {LIMITS[field]} characters"))
        elif CONTROL_CHARACTERS.search(text) or "\n" in text or "\r" in text:
            problems.append(FieldProblem(field, "control", "must be one line without control characters"))
        elif field == "door_code" and text and not _DOOR_CODE.match(text):
            problems.append(FieldProblem(field, "bad_code", "may have only digits, letters, #, * and -"))
        elif field == "key_holder_phone" and text:
            try:
                clean[field] = normalize_phone(text, region)
            except InvalidPhoneNumber as exc:  # said without the number itself: it may be typed wrong
                problems.append(FieldProblem(field, "bad_phone", f"is not a phone number ({exc.reason})"))
            continue
        clean[field] = text or None
    return clean, problems


def set_access(
    session: Session,
    resident_id: int,
    changes: Mapping[str, object],
    *,
    actor: Actor,
    where: ColumnElement[bool],
    region: str,
) -> list[str]:
    """Set some of the access notes of the resident's household (a field left out stays as it is; "" or None
    clears it). Returns the fields that changed; one audit entry names them, never their values.

    Raises:
        NotFound: no such resident in `where`.
        EditRefused: a bad value; nothing was changed.
    """
    resident = resident_in_scope(session, resident_id, where)
    clean, problems = _check(changes, region)
    if problems:
        raise EditRefused(problems)
    row = session.get(HouseholdAccess, resident.household_id, with_for_update=True)
    if row is None and any(value is not None for value in clean.values()):
        # The household's first notes: two saves at once (a double click) both get here; one row is made, and each
        # save then waits for the other's lock on it, the second finding its values already there.
        blank = {"household_id": resident.household_id, "updated_at": utcnow()}
        session.execute(insert_skipping_duplicates(session, HouseholdAccess), [blank])
        row = session.get(HouseholdAccess, resident.household_id, with_for_update=True, populate_existing=True)
    changed = [field for field, value in clean.items() if (getattr(row, field) if row else None) != value]
    if not changed or row is None:
        return []
    for field in changed:
        setattr(row, field, clean[field])
    audit.record(session, actor, "edit", "resident", resident.id, "access: " + ", ".join(changed))
    session.flush()
    return changed
