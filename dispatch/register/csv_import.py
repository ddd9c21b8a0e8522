"""Importing the register from CSV, all or nothing.

Every row is checked first; any error means nothing changes, and the report names each bad row and column.
A blank cell leaves the current value as it is (a new resident gets the default), so a half-filled sheet never
erases what the register knows. Importing the same file twice changes nothing the second time, and so does
importing what `csv_export` wrote.

The caller owns the transaction: it commits when the report has no errors and this is not a dry run, and rolls
back otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dispatch.models import (
    Channel,
    Community,
    Grid,
    Household,
    Liaison,
    LiaisonRole,
    Resident,
    ResidentPhone,
    ResidentStatus,
    RiskColour,
)
from dispatch.register.coverage import Deactivation, deactivate_liaison
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


class _Places:
    """Communities, grids and households, loaded once and created as an import needs them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.communities = {c.name: c for c in session.scalars(select(Community))}
        self.grids = {(g.community_id, g.name): g for g in session.scalars(select(Grid))}
        self.households: dict[tuple[object, ...], Household] = {
            (h.community_id, h.building, h.unit, h.room): h
            for h in session.scalars(select(Household))
            if h.community_id is not None and None not in (h.building, h.unit, h.room)
        }

    def community(self, name: str) -> Community:
        if name not in self.communities:
            community = Community(name=name)
            self.session.add(community)
            self.session.flush()
            self.communities[name] = community
        return self.communities[name]

    def grid(self, community: Community, name: str) -> Grid:
        key = (community.id, name)
        if key not in self.grids:
            grid = Grid(community=community, name=name)
            self.session.add(grid)
            self.session.flush()
            self.grids[key] = grid
        return self.grids[key]

    def household(self, address: tuple[str | None, ...], current: Household | None) -> Household:
        """The household at `address`: the current one if it is already there, else found or made."""
        community = self.community(address[0]) if address[0] else None
        if current is not None and _address_of(current) == address:
            return current
        key = (community.id if community else None, *address[1:])
        if community is not None and None not in key and key in self.households:
            return self.households[key]
        household = Household(community=community, building=address[1], unit=address[2], room=address[3])
        self.session.add(household)  # flushed with everything else at the end: its id is not needed before
        if community is not None and None not in key:
            self.households[key] = household
        return household


def _address_of(household: Household) -> tuple[str | None, ...]:
    return (
        household.community.name if household.community else None,
        household.building,
        household.unit,
        household.room,
    )


def _snapshot(resident: Resident) -> tuple[object, ...]:
    household = resident.household
    return (
        resident.name,
        tuple(p.phone for p in resident.phones),
        _address_of(household),
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


def import_residents(session: Session, data: bytes, *, region: str, vocabulary: Vocabulary) -> ImportReport:
    """Check every row of a residents file, then apply them all, or none if any row is bad.

    Args:
        session: A session in a transaction the caller commits only if `report.ok`.
        data: The file's bytes (UTF-8, UTF-8 with BOM, or GB18030).
        region: HOTLINE_REGION, for national numbers.
        vocabulary: Column headers and values.

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
    by_id = {r.id: r for r in residents}
    by_name_phone = {(r.name, p.phone): r for r in residents for p in r.phones}
    liaisons = {liaison.phone: liaison for liaison in session.scalars(select(Liaison)) if liaison.phone}

    plans: list[tuple[Row, Resident | None, dict[str, object]]] = []
    seen: dict[object, int] = {}
    household_liaison: dict[tuple[str | None, ...], tuple[str, int]] = {}
    for row in rows:
        errors: list[RowError] = []
        if row.problem:
            report.errors.append(RowError(row.line, "(row)", row.problem))
            continue
        values, existing = _check_resident_row(row, region, vocabulary, liaisons, by_id, by_name_phone, errors)
        identity: object = existing.id if existing else (values.get("name"), values.get("phones"))
        if identity in seen:
            errors.append(row.error("name", f"repeats line {seen[identity]}"))
        seen.setdefault(identity, row.line)
        address = values.get("address")
        if isinstance(address, tuple) and None not in address and "liaison_phone" in row.cells:
            earlier = household_liaison.setdefault(address, (row.cells["liaison_phone"], row.line))
            if earlier[0] != row.cells["liaison_phone"]:
                errors.append(row.error("liaison_phone", f"differs from line {earlier[1]} for the same household"))
        report.errors.extend(errors)
        plans.append((row, existing, values))
    if report.errors:
        return report

    places = _Places(session)
    for row, existing, values in plans:
        before = _snapshot(existing) if existing else None
        resident = existing or Resident(categories=[], phones=[])
        _apply_resident(resident, values, places, liaisons, new=existing is None)
        if existing is None:
            session.add(resident)
            report.created.append(row.line)
        elif _snapshot(resident) != before:
            report.updated.append(row.line)
        else:
            report.unchanged.append(row.line)
    session.flush()
    return report


def _check_resident_row(
    row: Row,
    region: str,
    vocabulary: Vocabulary,
    liaisons: dict[str, Liaison],
    by_id: dict[int, Resident],
    by_name_phone: dict[tuple[str, str], Resident],
    errors: list[RowError],
) -> tuple[dict[str, object], Resident | None]:
    """The row's values, checked, and the resident it updates (None: a new one)."""
    cells = row.cells
    values: dict[str, object] = {}
    name = cells.get("name")
    if name is None:
        errors.append(row.error("name", "is empty"))
    phones = parse_phones(row, "phones", region, errors)
    if not phones and "phones" not in cells:
        errors.append(row.error("phones", "is empty"))
    values["name"], values["phones"] = name, tuple(phones)
    if any(cells.get(part) for part in ADDRESS):
        values["address"] = tuple(cells.get(part) for part in ADDRESS)
    if "grid" in cells:
        if not cells.get("community"):
            errors.append(row.error("grid", "needs the community it belongs to"))
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
        liaison = liaisons.get(found[0].e164)
        if liaison is None:
            errors.append(row.error(key, f"{cells[key]!r} is not a registered liaison (import liaisons first)"))
        elif liaison.phone in own:
            errors.append(row.error(key, "is the resident's own number: a liaison cannot serve themselves"))
        values[key] = found[0].e164
    if values.get("liaison_phone") and values.get("liaison_phone") == values.get("backup_liaison_phone"):
        errors.append(row.error("backup_liaison_phone", "is the same person as the primary liaison"))

    existing = None
    if "id" in cells:
        if not cells["id"].isdigit() or int(cells["id"]) not in by_id:
            errors.append(row.error("id", f"{cells['id']!r} is not a resident in the register"))
        else:
            existing = by_id[int(cells["id"])]
    elif name is not None:
        matches = {by_name_phone[(name, p.e164)].id: by_name_phone[(name, p.e164)] for p in phones
                   if (name, p.e164) in by_name_phone}  # fmt: skip
        if len(matches) > 1:
            errors.append(row.error("phones", "matches more than one resident of this name; add the id column"))
        existing = next(iter(matches.values()), None)
    return values, existing


def _apply_resident(
    resident: Resident, values: dict[str, object], places: _Places, liaisons: dict[str, Liaison], *, new: bool
) -> None:
    resident.name = str(values["name"])
    phones = values["phones"]
    assert isinstance(phones, tuple)
    if tuple(p.phone for p in resident.phones) != tuple(p.e164 for p in phones):
        resident.phones = [ResidentPhone(phone=p.e164, position=i, landline=p.landline) for i, p in enumerate(phones)]
    address = values.get("address")
    current = None if new else resident.household
    if isinstance(address, tuple):
        resident.household = places.household(address, current)
    elif current is None:
        resident.household = places.household((None, None, None, None), None)
    household = resident.household
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
        resident.channel = Channel.VOICE if phones and phones[0].landline else Channel.SMS
        resident.notes = ""
    for key in ("language", "channel", "risk", "status", "emergency_contact_name", "emergency_contact_phone", "notes"):
        if key in values and getattr(resident, key) != values[key]:
            setattr(resident, key, values[key])


def import_liaisons(session: Session, data: bytes, *, region: str, vocabulary: Vocabulary) -> ImportReport:
    """Check every row of a liaisons file, then apply them all, or none if any row is bad.

    A liaison marked not active (在岗 = 否) is stopped as `deactivate_liaison` does: their households pass to
    their backups, and those without one are listed in the report.
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
    for row in rows:
        errors: list[RowError] = []
        if row.problem:
            report.errors.append(RowError(row.line, "(row)", row.problem))
            continue
        phones = parse_phones(row, "phone", region, errors)
        phone = phones[0].e164 if phones else None
        role = parse_value(row, "role", "role", vocabulary, errors)
        active = parse_value(row, "active", "active", vocabulary, errors)
        if "grid" in row.cells and "community" not in row.cells:
            errors.append(row.error("grid", "needs the community it belongs to"))
        existing = None
        if "id" in row.cells:
            if not row.cells["id"].isdigit() or int(row.cells["id"]) not in by_id:
                errors.append(row.error("id", f"{row.cells['id']!r} is not a liaison in the register"))
            else:
                existing = by_id[int(row.cells["id"])]
        elif phone is not None:
            existing = by_phone.get(phone)
        if phone is not None and phone in by_phone and existing is not None and by_phone[phone].id != existing.id:
            errors.append(row.error("phone", f"belongs to liaison {by_phone[phone].name}"))
        identity = existing.id if existing else phone or row.cells.get("name")
        if identity in seen:
            errors.append(row.error("phone" if phone else "name", f"repeats line {seen[identity]}"))
        seen.setdefault(identity, row.line)
        report.errors.extend(errors)
        plans.append((row, existing, phone, role, active))
    if report.errors:
        return report

    places = _Places(session)
    for row, existing, phone, role, active in plans:
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
            report.deactivations.append(deactivate_liaison(session, liaison))
        elif active == "yes":
            liaison.active = True
        if existing is not None:
            after = (liaison.name, liaison.phone, liaison.grid_id, liaison.role, liaison.active)
            (report.updated if after != before else report.unchanged).append(row.line)
    session.flush()
    return report
