"""The SMS about a task, to liaisons and staff, built from the task itself."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from dispatch.models import Household, InboundMessage, Task, TaskPriority
from dispatch.phones import national_format
from dispatch.segments import fit_segments
from dispatch.texts import MessageCatalog

MAX_SEGMENTS = 2


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


def task_text(session: Session, task: Task, key: str, catalog: MessageCatalog, language: str, **extra: object) -> str:
    """Text `key` about `task`: number, urgency, kind, who, where, their number and words; at most 2 segments.

    Every task text puts the resident's words last, so cutting to 2 segments only shortens the words.
    """
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
        **extra,
    )
    # An unknown address leaves a gap in the template; on a small screen every character counts.
    return fit_segments(re.sub(r" {2,}", " ", text), MAX_SEGMENTS)
