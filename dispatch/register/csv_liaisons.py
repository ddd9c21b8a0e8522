"""Importing liaisons from CSV, all or nothing, as `csv_import` does residents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch.audit import Actor
from dispatch.context import DispatchContext
from dispatch.models import Liaison, LiaisonRole, utcnow
from dispatch.progress import QUIET, Progress, counted
from dispatch.register.coverage import deactivate_liaison
from dispatch.register.csv_import import ImportReport
from dispatch.register.csv_read import CsvFileError, RowError, Vocabulary, parse_phones, parse_value, read_rows
from dispatch.register.import_places import Places
from dispatch.tokens import CLI


def import_liaisons(
    session: Session,
    data: bytes,
    *,
    region: str,
    vocabulary: Vocabulary,
    progress: Progress = QUIET,
    actor: Actor | None = None,
    now: datetime | None = None,
    context: DispatchContext | None = None,
) -> ImportReport:
    """Check every row of a liaisons file, then apply them all, or none if any row is bad.

    A liaison marked not active (在岗 = 否) is stopped as `deactivate_liaison` does: their households pass to
    their backups, and those without one are listed in the report; with a `context` their open errands pass on
    too, `actor` named in the tasks' history (the SMS in each deactivation's `outbound`, to hand over after the
    commit). `progress` is told of the rows checked, then written.
    """
    report = ImportReport()
    try:
        rows = list(read_rows(data, vocabulary, "liaisons", required=("name",)))
    except CsvFileError as exc:
        report.errors = exc.errors
        return report
    liaisons = list(session.scalars(select(Liaison).options(selectinload(Liaison.grid))))
    by_id = {liaison.id: liaison for liaison in liaisons}
    by_phone = {liaison.phone: liaison for liaison in liaisons if liaison.phone}
    plans = []
    seen: dict[object, int] = {}
    for row in counted(progress, "rows_checked", rows):
        errors: list[RowError] = []
        if row.problem:
            report.errors.append(RowError(row.line, "(row)", row.problem))
            continue
        if "name" not in row.cells:
            errors.append(row.error("name", "is empty"))
        phones = parse_phones(row, "phone", region, errors)
        phone = phones[0].e164 if phones else None
        role = parse_value(row, "role", "role", vocabulary, errors)
        active = parse_value(row, "active", "active", vocabulary, errors)
        if ("grid" in row.cells) != ("community" in row.cells):
            missing = "community" if "grid" in row.cells else "grid"
            errors.append(row.error(missing, "is needed too: a liaison belongs to a grid of a community"))
        existing = None
        if "id" in row.cells:
            raw_id = row.cells["id"]  # ASCII digits only: int() refuses "²", which isdigit() accepts
            if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 12) or int(raw_id) not in by_id:
                errors.append(row.error("id", f"{row.cells['id']!r} is not a liaison in the register"))
            else:
                existing = by_id[int(row.cells["id"])]
        elif phone is not None:
            existing = by_phone.get(phone)
        elif "name" in row.cells:
            # No phone and no id: the one phoneless liaison of that name, so a re-import does not duplicate them.
            same = [x for x in liaisons if x.phone is None and x.name == row.cells["name"]]
            existing = same[0] if len(same) == 1 else None
        if phone is not None and phone in by_phone and existing is not None and by_phone[phone].id != existing.id:
            errors.append(row.error("phone", f"belongs to liaison {by_phone[phone].name}"))
        for identity in {existing.id if existing else None, phone} - {None}:
            if identity in seen:
                errors.append(row.error("phone" if phone else "name", f"repeats line {seen[identity]}"))
            seen.setdefault(identity, row.line)
        report.errors.extend(errors)
        plans.append((row, existing, phone, role, active))
    if report.errors:
        return report

    places = Places(session)
    for row, existing, phone, role, active in counted(progress, "rows_written", plans):
        liaison = existing or Liaison(role=LiaisonRole.VOLUNTEER, active=True)
        before = (liaison.name, liaison.phone, liaison.grid_id, liaison.role, liaison.active)
        liaison.name = row.cells["name"]
        if phone is not None:
            liaison.phone = phone
        if role is not None:
            liaison.role = LiaisonRole(role)
        if "grid" in row.cells:
            grid = places.grid(places.community(row.cells["community"]), row.cells["grid"])
            if liaison.grid_id != grid.id:
                liaison.grid = grid
        if existing is None:
            session.add(liaison)
            session.flush()
            report.created.append(row.line)
        if active == "no" and liaison.active:
            stopped = deactivate_liaison(session, liaison, actor=actor or CLI, now=now or utcnow(), context=context)
            report.deactivations.append(stopped)
        elif active == "yes":
            liaison.active = True
        if existing is not None:
            after = (liaison.name, liaison.phone, liaison.grid_id, liaison.role, liaison.active)
            (report.updated if after != before else report.unchanged).append(row.line)
    session.flush()
    return report
