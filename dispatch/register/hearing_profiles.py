"""Residents' profiles for hearing and memory (`dispatch.ivr.hearing.Profile`): read for a call, set by staff.

Staff set a resident's switches on their page or through the API; the change is one audit entry ("edit", the
resident, naming the switches that changed). Setting the same switches again changes nothing and records nothing.
A resident outside the caller's scope is `NotFound`, as for every edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.exceptions import InvalidAction
from dispatch.ivr.hearing import NO_PROFILE, SWITCHES, Profile
from dispatch.models import OutboundMessage, Resident, ResidentPhone, ResidentStatus, VoiceProfile
from dispatch.register.history import resident_in_scope


def _profile(row: VoiceProfile | None) -> Profile:
    if row is None:
        return NO_PROFILE
    return Profile(row.slower, row.louder, row.twice, row.short_menus, row.sms_copy)


def profile_of(session: Session, resident_id: int) -> Profile:
    """One resident's profile (no row: every switch off)."""
    return _profile(session.get(VoiceProfile, resident_id))


def profile_for_phone(session: Session, phone: str) -> Profile:
    """The profile a call to or from `phone` speaks by: the switches of every resident (not moved away) with that
    number, together (a couple's shared phone speaks as the one who needs more)."""
    return profiles_for_phones(session, [phone]).get(phone, NO_PROFILE)


def profiles_for_phones(session: Session, phones: Iterable[str]) -> dict[str, Profile]:
    """`profile_for_phone` for many numbers in one statement (a batch of call steps); a number left out has no
    profile. Reads without flushing the session (a batch's rows are written together, later)."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    with session.no_autoflush:
        rows = session.execute(
            select(ResidentPhone.phone, VoiceProfile)
            .join(Resident, Resident.id == ResidentPhone.resident_id)
            .join(VoiceProfile, VoiceProfile.resident_id == Resident.id)
            .where(ResidentPhone.phone.in_(wanted), Resident.status != ResidentStatus.MOVED_AWAY)
        ).all()
    found: dict[str, Profile] = {}
    for phone, row in rows:
        found[phone] = found.get(phone, NO_PROFILE).merged(_profile(row))
    return found


def profile_for_outbound(session: Session, outbound_id: int) -> Profile:
    """The profile of the number an automated call the hotline placed (feedback) goes to."""
    row = session.get(OutboundMessage, outbound_id)
    return profile_for_phone(session, row.to_phone) if row is not None else NO_PROFILE


def read_switches(raw: Mapping[str, object], *, form: bool = False) -> Profile:
    """A profile from a JSON body (each switch true or false) or a form (a ticked box is "on"); a switch left out
    is off.

    Raises:
        InvalidAction: a key that is not a switch, or a value that is not true or false.
    """
    unknown = sorted(set(raw) - set(SWITCHES))
    if unknown:
        raise InvalidAction(f"not a switch of the profile: {', '.join(unknown)} (the switches: {', '.join(SWITCHES)})")
    values = {}
    for name in SWITCHES:
        value = raw.get(name, False)
        if form and value in ("on", ""):
            value = value == "on"
        if not isinstance(value, bool):
            raise InvalidAction(f"{name} must be true or false")
        values[name] = value
    return Profile(**values)


def set_profile(
    session: Session, resident_id: int, profile: Profile, *, actor: Actor, where: ColumnElement[bool]
) -> list[str]:
    """Set a resident's switches. Returns the switches that changed (empty: nothing did, nothing recorded).

    Raises:
        NotFound: no such resident in `where`.
    """
    resident = resident_in_scope(session, resident_id, where)
    # The resident's row lock puts a second save at the same moment (a double submit) behind this one: it then
    # finds the profile row this one made, instead of inserting a second (a lock on a row not made yet holds none).
    session.execute(select(Resident.id).where(Resident.id == resident.id).with_for_update())
    row = session.get(VoiceProfile, resident.id, with_for_update=True, populate_existing=True)
    before = asdict(_profile(row))
    after = asdict(profile)
    changed = [name for name in SWITCHES if before[name] != after[name]]
    if not changed:
        return []
    if row is None:
        row = VoiceProfile(resident_id=resident.id)
        session.add(row)
    for name in changed:
        setattr(row, name, after[name])
    audit.record(session, actor, "edit", "resident", resident.id, "voice profile: " + ", ".join(changed))
    session.flush()
    return changed


def profile_page(session: Session, resident_id: int) -> dict[str, object]:
    """What the resident's page shows of the profile: the switches, and whether their first number takes SMS."""
    resident = session.get(Resident, resident_id)
    first = resident.phones[0] if resident is not None and resident.phones else None
    return {
        "voice_profile": asdict(profile_of(session, resident_id)),
        "profile_switches": SWITCHES,
        "profile_can_sms": first is not None and not first.landline,
    }
