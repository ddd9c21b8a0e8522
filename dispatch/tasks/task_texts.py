"""The SMS about a task, to liaisons and staff, built from the task itself."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Household, HouseholdAccess, InboundMessage, Task, TaskCategory, TaskPriority
from dispatch.phones import national_format
from dispatch.segments import fit_segments
from dispatch.texts import MessageCatalog

MAX_SEGMENTS = 2
# A door code as `access_door_code` puts it in a task SMS (ivr_scripts/sms_texts.toml, both languages): what
# staff views of sent SMS hide (`hide_door_code`), whatever the code was when the SMS went.
_DOOR_CODE_SENT = re.compile(r"(门码：|door code: )[0-9A-Za-z#*\- ]*[0-9A-Za-z#*\-]")
DOOR_CODE_HIDDEN = "****"
# The texts that offer a task (to a liaison, or to a grid leader or duty staff up the ladder): a visit's carry its
# household's access notes. (The taker's confirmation, `liaison_accepted`, carries them too.)
OFFER_KEYS = ("liaison_task_offer", "staff_task_alert")
VISIT_SEGMENTS = 3  # a visit's text with its access notes: one segment more, so the notes go whole


def resident_names(task: Task) -> str:
    """Who the task is for: the resident, or everyone in the household when a shared number sent it."""
    if task.resident is not None:
        return task.resident.name
    return "、".join(r.name for r in task.household.residents) if task.household else ""


def doorstep_address(household: Household | None) -> str:
    """Building, unit and room: what a liaison walking the estate needs (the community they know)."""
    if household is None:
        return ""
    return " ".join(part for part in (household.building, household.unit, household.room) if part)


AccessRows = Mapping[int, HouseholdAccess | None]  # households' access notes read ahead (None: the household has none)


def read_access(session: Session, household_ids: Collection[int]) -> dict[int, HouseholdAccess | None]:
    """The access notes of these households, in one statement, for `task_text`'s `access_rows`."""
    found: dict[int, HouseholdAccess | None] = dict.fromkeys(household_ids)
    if found:
        for row in session.scalars(select(HouseholdAccess).where(HouseholdAccess.household_id.in_(sorted(found)))):
            found[row.household_id] = row
    return found


def access_words(
    session: Session, task: Task, catalog: MessageCatalog, language: str, access_rows: AccessRows | None = None
) -> str:
    """A visit task's access notes (keyholder, door code, note) of its own household, as the `{access}` part of its
    offer and of its taker's confirmation; "" for every other task and for a household with none. Only texts whose
    template has `{access}` show them (never a resident's, the others' "taken", a list, or an urgent alert).
    `access_rows`: the notes read ahead (`read_access`), if this household's are among them."""
    if task.category != TaskCategory.VISIT or task.household_id is None:
        return ""
    if access_rows is not None and task.household_id in access_rows:
        row = access_rows[task.household_id]
    else:
        row = session.get(HouseholdAccess, task.household_id)
    if row is None:
        return ""
    parts = []
    if row.key_holder_name or row.key_holder_phone:
        relation = row.key_holder_relation or ""
        relation = catalog.render("access_relation", language, relation=relation) if relation else ""
        phone = national_format(row.key_holder_phone) if row.key_holder_phone else ""
        holder = " ".join(part for part in ((row.key_holder_name or "") + relation, phone) if part)
        parts.append(catalog.render("access_key", language, holder=holder))
    if row.door_code:
        parts.append(catalog.render("access_door_code", language, door_code=row.door_code))
    if row.notes:
        parts.append(catalog.render("access_note", language, note=row.notes))
    return "".join(parts)


def hide_door_code(body: str) -> str:
    """An SMS as staff views show it (a task's history, the sent SMS): any door code replaced by `****`. Staff in
    scope read the code on the resident's page."""
    return _DOOR_CODE_SENT.sub(lambda found: found.group(1) + DOOR_CODE_HIDDEN, body)


def task_text(
    session: Session,
    task: Task,
    key: str,
    catalog: MessageCatalog,
    language: str,
    access_rows: AccessRows | None = None,
    **extra: object,
) -> str:
    """Text `key` about `task`: number, urgency, kind, who, where, their number and words; at most 2 segments.

    Every task text puts the resident's words last, so cutting to 2 segments only shortens the words. A visit with
    access notes (`access_words`; `access_rows`, if read ahead) may take 3, so its notes go whole.
    """
    access = access_words(session, task, catalog, language, access_rows) if key in OFFER_KEYS else ""
    household = task.household
    source = session.get(InboundMessage, task.source_message_id) if task.source_message_id else None
    phone = source.from_phone if source else (task.resident.phone if task.resident else None)
    text = catalog.render(
        key,
        language,
        task_id=task.id,
        urgent=catalog.render("urgent_mark", language) if task.priority == TaskPriority.URGENT else "",
        category=catalog.render(f"category_{task.category}", language),
        resident_name=resident_names(task),
        address=doorstep_address(household),
        resident_phone=national_format(phone) if phone else "-",
        body=task.description.strip() or "-",
        access=access,
        **extra,
    )
    # An unknown address leaves a gap in the template; on a small screen every character counts.
    return fit_segments(re.sub(r" {2,}", " ", text), VISIT_SEGMENTS if access else MAX_SEGMENTS)
