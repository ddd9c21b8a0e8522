"""Importing the register from CSV, all or nothing.

Every row is checked first; any error means nothing changes, and the report names each bad row and column.
A blank cell leaves the current value as it is (a new resident gets the default), so a half-filled sheet never
erases what the register knows. Importing the same file twice changes nothing the second time, and so does
importing what `csv_export` wrote.

The caller owns the transaction: it commits when the report has no errors and this is not a dry run, and rolls
back otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from dispatch.models import (
    Channel,
    Household,
    Liaison,
    Resident,
    ResidentPhone,
    ResidentStatus,
    RiskColour,
)
from dispatch.phones import mask_phone
from dispatch.progress import QUIET, Progress, counted
from dispatch.register.coverage import Deactivation
from dispatch.register.csv_read import (
    CsvFileError,
    Row,
    RowError,
    Vocabulary,
    parse_any_phone,
    parse_phones,
    parse_value,
    parse_values,
    read_rows,
)
from dispatch.register.household_liaisons import liaisons_by_phone
from dispatch.register.import_places import Places, address_of

ADDRESS = ("community", "building", "unit", "room")


@dataclass
class ImportReport:
    """What an import did, or would do, or why it did nothing."""

    errors: list[RowError] = field(default_factory=list)
    created: list[int] = field(default_factory=list)  # line numbers
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    deactivations: list[Deactivation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if the file had no errors (so the import may be committed)."""
        return not self.errors


def _snapshot(resident: Resident) -> tuple[object, ...]:
    household = resident.household
    return (
        resident.name,
        tuple(p.phone for p in resident.phones),
        address_of(household),
        household.grid.name if household.grid else None,
        household.primary_liaison,  # objects, not ids: ids are only set at the next flush
        household.backup_liaison,
        tuple(resident.categories),
        resident.language,
        resident.channel,
        resident.risk,
        resident.emergency_contact_name,
        resident.emergency_contact_phone,
        resident.status,
        resident.notes,
    )


def import_residents(
    session: Session,
    data: bytes,
    *,
    region: str,
    vocabulary: Vocabulary,
    where: ColumnElement[bool] | None = None,
    only_community: str | None = None,
    progress: Progress = QUIET,
) -> ImportReport:
    """Check every row of a residents file, then apply them all, or none if any row is bad.

    Args:
        session: A session in a transaction the caller commits only if `report.ok`.
        data: The file's bytes (UTF-8, UTF-8 with BOM, or GB18030).
        region: HOTLINE_REGION, for national numbers.
        vocabulary: Column headers and values.
        where: A staff member's scope (a filter on Household): a row may update only a resident in it.
        only_community: The one community rows may name (a clerk's); a new resident's blank community is it.
        progress: Told of the rows checked, then of the rows written (the stages "rows_checked", "rows_written").

    Returns:
        The report: errors, or which lines created, updated or left residents unchanged.
    """
    report = ImportReport()
    try:
        rows = list(read_rows(data, vocabulary, "residents", required=("name", "phones")))
    except CsvFileError as exc:
        report.errors = exc.errors
        return report

    residents = session.scalars(
        select(Resident).options(
            selectinload(Resident.phones),
            selectinload(Resident.household).selectinload(Household.community),
            selectinload(Resident.household).selectinload(Household.grid),
        )
    ).all()
    in_scope = None if where is None else set(session.scalars(select(Resident.id).join(Household).where(where)))
    known = _Known(
        by_id={r.id: r for r in residents if in_scope is None or r.id in in_scope},  # others: as if not there
        by_name=_group_by_name(residents),
        liaisons=liaisons_by_phone(session, where),
    )
    plans: list[tuple[Row, Resident | None, dict[str, object]]] = []
    seen: dict[object, int] = {}
    households: dict[tuple[str | None, ...], _HouseholdPlan] = {}
    for row in counted(progress, "rows_checked", rows):
        if row.problem:
            report.errors.append(RowError(row.line, "(row)", row.problem))
            continue
        errors: list[RowError] = []
        values, existing = _check_resident_row(row, region, vocabulary, known, errors)
        if existing is not None and in_scope is not None and existing.id not in in_scope:  # matched by name
            errors.append(row.error("name", "is a resident outside your part of the register; ask an admin"))
            existing = None
        identity: object = existing.id if existing else (values.get("name"), values.get("phones"))
        if identity in seen:
            errors.append(row.error("name", f"repeats line {seen[identity]}"))
        seen.setdefault(identity, row.line)
        address = values.get("address")
        if existing is not None:  # blank address parts keep what the register has
            current = address_of(existing.household)
            given = address if isinstance(address, tuple) else (None,) * len(current)
            address = tuple(a or b for a, b in zip(given, current, strict=True))
            values["address"] = address
        if only_community is not None:
            address = tuple(address) if isinstance(address, tuple) else (None,) * len(ADDRESS)
            if address[0] not in (None, only_community):
                errors.append(row.error("community", f"{address[0]!r} is not your community ({only_community})"))
            address = values["address"] = (only_community, *address[1:])
        if "grid" in values and not (isinstance(address, tuple) and address[0]):
            errors.append(row.error("grid", "needs the community it belongs to"))
        if isinstance(address, tuple) and None not in address:
            households.setdefault(address, _HouseholdPlan()).add(row, values, errors)
        report.errors.extend(errors)
        plans.append((row, existing, values))
    for plan in households.values():
        report.errors.extend(plan.problems())
    if report.errors:
        report.errors.sort(key=lambda e: e.line)
        return report
    places = Places(session)
    for row, existing, values in counted(progress, "rows_written", plans):
        before = _snapshot(existing) if existing else None
        resident = existing or Resident(categories=[], phones=[])
        _apply_resident(resident, values, places, known.liaisons, new=existing is None)  # adds a new one
        if existing is None:
            report.created.append(row.line)
        elif _snapshot(resident) != before:
            report.updated.append(row.line)
        else:
            report.unchanged.append(row.line)
    session.flush()
    return report


@dataclass
class _Known:
    """What the register already holds, loaded once per import."""

    by_id: dict[int, Resident]
    by_name: dict[str, list[Resident]]
    liaisons: dict[str, Liaison]


def _group_by_name(residents: Iterable[Resident]) -> dict[str, list[Resident]]:
    grouped: dict[str, list[Resident]] = {}
    for resident in residents:
        grouped.setdefault(resident.name, []).append(resident)
    return grouped


@dataclass
class _HouseholdPlan:
    """What the rows at one full address say about their household; they must agree."""

    settings: dict[str, tuple[object, int]] = field(default_factory=dict)  # key → (value, line)
    phones: dict[str, int] = field(default_factory=dict)  # residents' numbers → line
    liaison_rows: dict[str, Row] = field(default_factory=dict)

    def add(self, row: Row, values: dict[str, object], errors: list[RowError]) -> None:
        for key in ("liaison_phone", "backup_liaison_phone", "grid"):
            if key not in values:
                continue
            earlier = self.settings.setdefault(key, (values[key], row.line))
            if earlier[0] != values[key]:
                errors.append(row.error(key, f"differs from line {earlier[1]} for the same household"))
            elif key != "grid":
                self.liaison_rows.setdefault(key, row)
        phones = values.get("phones")
        for phone in phones if isinstance(phones, tuple) else ():
            self.phones.setdefault(phone.e164, row.line)

    def problems(self) -> list[RowError]:
        found = []
        primary = self.settings.get("liaison_phone", (None, 0))[0]
        backup = self.settings.get("backup_liaison_phone", (None, 0))[0]
        for key, value in (("liaison_phone", primary), ("backup_liaison_phone", backup)):
            if value is not None and value in self.phones:
                row = self.liaison_rows[key]
                found.append(
                    row.error(
                        key,
                        f"lives in this household (line {self.phones[str(value)]}): "
                        "a liaison cannot serve their own household",
                    )
                )
        if primary is not None and primary == backup:
            row = self.liaison_rows["backup_liaison_phone"]
            found.append(row.error("backup_liaison_phone", "is the same person as the household's primary liaison"))
        return found


def _check_resident_row(
    row: Row, region: str, vocabulary: Vocabulary, known: _Known, errors: list[RowError]
) -> tuple[dict[str, object], Resident | None]:
    """The row's values, checked, and the resident it updates (None: a new one)."""
    cells = row.cells
    values: dict[str, object] = {}
    name = cells.get("name")
    if name is None:
        errors.append(row.error("name", "is empty"))
    problems_before = len(errors)
    phones = parse_phones(row, "phones", region, errors)
    if not phones and len(errors) == problems_before:
        errors.append(row.error("phones", "is empty"))
    values["name"], values["phones"] = name, tuple(phones)
    if any(cells.get(part) for part in ADDRESS):
        values["address"] = tuple(cells.get(part) for part in ADDRESS)
    if "grid" in cells:
        values["grid"] = cells["grid"]
    if "categories" in cells:
        values["categories"] = parse_values(row, "categories", "categories", vocabulary, errors)
    for key, kind in (("language", "language"), ("channel", "channel"), ("risk", "risk"), ("status", "status")):
        value = parse_value(row, key, kind, vocabulary, errors)
        if value is not None:
            values[key] = value
    if values.get("channel") == Channel.SMS and phones and phones[0].landline:
        errors.append(row.error("channel", "a landline cannot receive SMS; write 语音 (voice) or list a mobile first"))
    for key in ("emergency_contact_name", "notes"):
        if key in cells:
            values[key] = cells[key]
    if "emergency_contact_phone" in cells:
        values["emergency_contact_phone"] = parse_any_phone(row, "emergency_contact_phone", region, errors)
    own = {p.e164 for p in phones}
    for key in ("liaison_phone", "backup_liaison_phone"):
        found = parse_phones(row, key, region, errors)
        if not found:
            continue
        liaison = known.liaisons.get(found[0].e164)
        if liaison is None:
            errors.append(row.error(key, f"{cells[key]!r} is not a registered liaison (import liaisons first)"))
        elif not liaison.active:
            errors.append(row.error(key, f"{liaison.name} is not an active liaison"))
        elif liaison.phone in own:
            errors.append(row.error(key, "is the resident's own number: a liaison cannot serve themselves"))
        values[key] = found[0].e164
    if values.get("liaison_phone") and values.get("liaison_phone") == values.get("backup_liaison_phone"):
        errors.append(row.error("backup_liaison_phone", "is the same person as the primary liaison"))
    return values, _match_existing(row, name, own, known, errors)


def _match_existing(
    row: Row, name: str | None, phones: set[str], known: _Known, errors: list[RowError]
) -> Resident | None:
    """The resident a row describes: by id (which must fit the row), else by name and phone."""
    if "id" in row.cells:
        raw = row.cells["id"]
        resident = known.by_id.get(int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
        if resident is None:
            errors.append(row.error("id", f"{raw!r} is not a resident in the register"))
        elif resident.name != name and not phones & {p.phone for p in resident.phones}:
            errors.append(
                row.error("id", f"{raw} is {resident.name} ({mask_phone(resident.phone)}), not this row's person")
            )
        return resident
    if name is None:
        return None
    candidates = [r for r in known.by_name.get(name, []) if phones & {p.phone for p in r.phones}]
    exact = [r for r in candidates if phones == {p.phone for p in r.phones}]
    if len(exact) == 1:
        return exact[0]
    if len(candidates) > 1:
        errors.append(row.error("phones", "matches more than one resident of this name; add the id column (编号)"))
    return candidates[0] if len(candidates) == 1 else None


def _apply_resident(
    resident: Resident, values: dict[str, object], places: Places, liaisons: dict[str, Liaison], *, new: bool
) -> None:
    resident.name = str(values["name"])
    phones = values["phones"]
    assert isinstance(phones, tuple)
    if [p.phone for p in resident.phones] != [p.e164 for p in phones] or any(
        p.landline != q.landline for p, q in zip(resident.phones, phones, strict=False)
    ):
        # Keep the row of each number that stays, so a number never exists twice, even for a moment.
        current = {p.phone: p for p in resident.phones}
        updated = []
        for position, phone in enumerate(phones):
            row = current.pop(phone.e164, None) or ResidentPhone(phone=phone.e164)
            row.position, row.landline = position, phone.landline
            updated.append(row)
        resident.phones = updated
    address = values.get("address")
    current_household = None if new else resident.household
    resident.household = places.household(
        address if isinstance(address, tuple) else (None, None, None, None), current_household
    )
    household = resident.household
    places.session.add(resident)  # a new one now: a grid made below is flushed, and its household lists them
    if isinstance(values.get("grid"), str) and household.community is not None:
        grid = places.grid(household.community, str(values["grid"]))
        if household.grid_id != grid.id:
            household.grid = grid
    if "liaison_phone" in values:
        household.primary_liaison = liaisons[str(values["liaison_phone"])]
    if "backup_liaison_phone" in values:
        household.backup_liaison = liaisons[str(values["backup_liaison_phone"])]
    if "categories" in values:
        categories = values["categories"]
        assert isinstance(categories, list)
        if categories != list(resident.categories):
            resident.categories = categories
    if new:
        resident.language, resident.risk, resident.status = "zh-CN", RiskColour.NONE, ResidentStatus.ACTIVE
        resident.channel = Channel.SMS
        resident.notes = ""
    for key in ("language", "channel", "risk", "status", "emergency_contact_name", "emergency_contact_phone", "notes"):
        if key in values and getattr(resident, key) != values[key]:
            setattr(resident, key, values[key])
    if resident.phones and resident.phones[0].landline and resident.channel == Channel.SMS:
        resident.channel = Channel.VOICE  # a landline cannot receive SMS, whatever the channel was
