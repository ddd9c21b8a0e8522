"""The care a lived-in demo community has on its register, set by its staff a fortnight ago: care circles with
consent, ring to check in, hearing and memory profiles, medicines with refills coming due, and access notes of
households a visit may need to get into (`hotline demo`, once, with `dispatch.register.demo`'s community).

Every entry goes through the domain's own step, as staff's form would (`add_contact`, `change_ring_mode`,
`set_profile`, `add_medicine`, `set_access`), each audited as the demo's staff account. The same seed and register
give the same care, name for name; family and key holders' numbers are drawn as the register's own are
(`DemoNumbers`), unique among them. The households whose errands the made-up past tells on purpose
(`dispatch.demo_history.story_households`) are left plain, so nothing here changes those stories. Absences are set
in that past, on the day staff set them (`dispatch.demo_history`).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.care_circle import ContactFields, add_contact
from dispatch.checkins.ring_settings import change_ring_mode
from dispatch.context import DispatchContext
from dispatch.demo_history import story_households
from dispatch.ivr.hearing import Profile
from dispatch.medicine_register import MedicineFields, add_medicine
from dispatch.models import (
    CircleContact,
    Community,
    ConsentWay,
    DirectoryEntry,
    Grid,
    HouseholdAccess,
    Liaison,
    Medicine,
    Resident,
    ResidentCategory,
    ResidentPhone,
    ResidentStatus,
    RingMode,
    RingSetting,
    RiskColour,
    StaffUser,
    VoiceProfile,
)
from dispatch.register.access_notes import set_access
from dispatch.register.demo import GIVEN, DemoNumbers
from dispatch.register.hearing_profiles import set_profile
from dispatch.staff_accounts import household_scope

# Shares of the active residents (at least one each where there is anyone to choose).
CIRCLE_SHARE = 0.05  # a care circle of one or two family members, consent recorded
RING_FINE_SHARE = 0.025  # ring to check in: a ring is "I am fine"
RING_CALLBACK_SHARE = 0.01  # … "please call me back"
HEARING_SHARE = 0.04  # a profile for hearing and memory
MEDICINE_SHARE = 0.08  # one or two medicines, refills coming due
ACCESS_SHARE = 0.04  # households with access notes (a key holder, a dog…)

RELATIONS = ("女儿", "儿子", "儿媳", "女婿", "侄女", "外孙女", "孙子")
CHILDREN = ("儿子", "女儿", "孙子")  # a second contact, of the resident's own surname
MEDICINES = (
    ("苯磺酸氨氯地平片", "每日1次，每次1片"),
    ("硝苯地平控释片", "每日1次，早饭前"),
    ("二甲双胍缓释片", "每日2次，饭后"),
    ("阿司匹林肠溶片", "每日1次，每次1片"),
    ("阿托伐他汀钙片", "每晚1片"),
    ("格列齐特缓释片", "每日1次，早饭时"),
    ("单硝酸异山梨酯缓释片", "每日1次"),
    ("厄贝沙坦片", "每日1次，每次半片"),
)
# When each medicine runs out, in days from the demo's today: some ran out in the fortnight (their tasks were
# played), some today and in the next days (their tasks are on the board or coming), the rest later.
RUN_OUT_DAYS = (-9, -5, -2, 0, 1, 2, 3, 3, 4, 5, 6, 8, 12, 20)
SUPPLIES = (28, 30, 30, 60)
HEARING_PROFILES = (
    Profile(slower=True, louder=True),
    Profile(slower=True, twice=True, short_menus=True),
    Profile(louder=True, twice=True),
)
SMS_COPY = Profile(slower=True, sms_copy=True)  # a mobile's: what a call said, by SMS too
ACCESS_NOTES = (
    "家里有狗，先敲门",
    "门锁较紧，需用力转",
    "耳背，敲门要用力",
    "有猫，进门关好门",
    "家里有狗，会叫不咬人",
)
KEY_HOLDERS = (("邻居", "对门邻居"), ("女儿", ""), ("物业", "物业前台"), ("侄子", ""))


@dataclass(frozen=True)
class CareSummary:
    """What the demo's care holds."""

    circles: int  # residents with a care circle
    contacts: int
    rings: int  # residents with a ring mode on
    hearing: int
    medicines: int
    access: int  # households with access notes


def _share(total: int, share: float) -> int:
    return max(1, round(total * share)) if total else 0


def furnish_demo_care(
    session: Session,
    context: DispatchContext,
    *,
    staff_username: str,
    now: datetime,
    today: date,
    seed: int = 1,
) -> CareSummary | None:
    """Give the demo community its care, as staff set it at `now` (registration); medicines' refills are counted
    from `today` (the demo's own day). Only on a register with none of it yet: returns None, changing nothing, on
    any other (a restart, a second call).

    Args:
        session: A session in a transaction; the caller commits (welcome SMS to the circles are queued in it).
        staff_username: The staff account that sets it all (an admin's: every household is in its scope).
    """
    kept = (
        CircleContact.id,
        RingSetting.resident_id,
        VoiceProfile.resident_id,
        Medicine.id,
        HouseholdAccess.household_id,
    )
    if any(session.scalar(select(column).limit(1)) is not None for column in kept):
        return None
    staff = session.scalar(select(StaffUser).where(StaffUser.username == staff_username))
    if staff is None:
        raise ValueError(f"no staff account {staff_username!r} to set the demo's care")
    care = _Care(session, context, staff, now, random.Random(seed))  # noqa: S311  # demo data, not secrets
    residents = care.candidates()
    circles = care.circles(residents)
    rings = care.rings(residents, set(circles))
    hearing = care.hearing(residents)
    medicines = care.medicines(residents, today)
    access = care.access(residents)
    session.flush()
    contacts = session.scalar(select(func.count(CircleContact.id))) or 0
    return CareSummary(len(circles), contacts, len(rings), len(hearing), len(medicines), len(access))


class _Care:
    def __init__(
        self, session: Session, context: DispatchContext, staff: StaffUser, now: datetime, rng: random.Random
    ) -> None:
        self.session, self.context, self.staff, self.now, self.rng = session, context, staff, now, rng
        self.where = household_scope(staff)
        self.total = session.scalar(select(func.count(Resident.id))) or 0  # the shares are of everyone registered
        self.numbers = DemoNumbers(rng)
        for column in (
            ResidentPhone.phone,
            Resident.emergency_contact_phone,
            Liaison.phone,
            Grid.leader_phone,
            Community.duty_phone,
            Community.clerk_phone,
            DirectoryEntry.phone,
        ):
            self.numbers.used.update(phone for phone in session.scalars(select(column)) if phone)

    def candidates(self) -> list[Resident]:
        """Active residents outside the told stories' households, by id."""
        told = story_households(self.session)
        active = select(Resident).where(Resident.status == ResidentStatus.ACTIVE).order_by(Resident.id)
        return [r for r in self.session.scalars(active) if r.household_id not in told]

    def pick(self, residents: list[Resident], share: float) -> list[Resident]:
        """`share` of the register, drawn from `residents` (fewer if there are not so many), in id order."""
        chosen = self.rng.sample(residents, min(len(residents), _share(self.total, share)))
        return sorted(chosen, key=lambda r: r.id)

    def circles(self, residents: list[Resident]) -> list[int]:
        """A circle of one or two: the emergency contact on the register, and sometimes a son or daughter."""
        with_contact = [r for r in residents if r.emergency_contact_name and r.emergency_contact_phone]
        made = []
        for resident in self.pick(with_contact, CIRCLE_SHARE):
            assert resident.emergency_contact_name and resident.emergency_contact_phone
            first = (resident.emergency_contact_name, self.rng.choice(RELATIONS), resident.emergency_contact_phone)
            people = [first]
            if self.rng.random() < 0.5:
                name = resident.name[0] + "".join(self.rng.choice(GIVEN) for _ in range(2))
                people.append((name, self.rng.choice(CHILDREN), self.numbers.mobile()))
            for name, relation, phone in people:
                way = ConsentWay.IN_PERSON if self.rng.random() < 0.7 else ConsentWay.BY_PHONE
                fields = ContactFields(name=name, relation=relation, phone=phone, consent_way=way)
                add_contact(
                    self.session,
                    resident,
                    fields,
                    staff_name=self.staff.audit_name,
                    region=self.context.region,
                    now=self.now,
                    catalog=self.context.catalog,
                )
            made.append(resident.id)
        return made

    def rings(self, residents: list[Resident], taken: set[int]) -> list[int]:
        """Ring to check in, for residents with a number of their own (a shared one rings for nobody)."""
        shared = Counter(self.session.scalars(select(ResidentPhone.phone)))
        own = [r for r in residents if r.phone and shared[r.phone] == 1 and r.id not in taken]
        fine = self.pick(own, RING_FINE_SHARE)
        rest = [r for r in own if r not in fine]
        callback = self.pick(rest, RING_CALLBACK_SHARE)
        for mode, chosen in ((RingMode.FINE, fine), (RingMode.CALLBACK, callback)):
            for resident in chosen:
                change_ring_mode(self.session, resident.id, mode, actor=self.staff, where=self.where, now=self.now)
        return [r.id for r in fine + callback]

    def hearing(self, residents: list[Resident]) -> list[int]:
        """Profiles for hearing and memory: most for residents called on a landline, one on a mobile with an SMS
        copy of what a call said."""
        voice = [r for r in residents if r.phones and r.phones[0].landline]
        mobile = [r for r in residents if r.phones and not r.phones[0].landline]
        wanted = _share(self.total, HEARING_SHARE)
        chosen = self.rng.sample(voice, min(len(voice), max(wanted - 1, 0)))
        chosen += self.rng.sample(mobile, min(len(mobile), wanted - len(chosen)))
        for resident in sorted(chosen, key=lambda r: r.id):
            texts = not resident.phones[0].landline
            profile = SMS_COPY if texts else self.rng.choice(HEARING_PROFILES)
            set_profile(self.session, resident.id, profile, actor=self.staff, where=self.where)
        return [r.id for r in chosen]

    def medicines(self, residents: list[Resident], today: date) -> list[int]:
        """One or two medicines each, for the chronically ill first, running out over the fortnight and after."""
        ill = [r for r in residents if ResidentCategory.CHRONICALLY_ILL in r.categories]
        others = [r for r in residents if r not in ill]
        count = _share(self.total, MEDICINE_SHARE)
        chosen = self.pick(ill, MEDICINE_SHARE)
        chosen = sorted(chosen + self.rng.sample(others, min(len(others), count - len(chosen))), key=lambda r: r.id)
        registered = self.now.astimezone(self.context.timezone).date()
        made = []
        for resident in chosen:
            for name, dose in self.rng.sample(MEDICINES, self.rng.choice((1, 1, 2))):
                runs_out = today + timedelta(days=self.rng.choice(RUN_OUT_DAYS))
                supply = next(days for days in SUPPLIES if runs_out - timedelta(days=days) <= registered)
                fields = MedicineFields(
                    name=name, dose=dose, days_supply=supply, last_refill=runs_out - timedelta(supply)
                )
                add_medicine(
                    self.session,
                    resident.id,
                    fields,
                    request_key=f"demo:{resident.id}:{name}",
                    actor=self.staff,
                    where=self.where,
                    now=self.now,
                    context=self.context,
                )
            made.append(resident.id)
        return made

    def access(self, residents: list[Resident]) -> list[int]:
        """Access notes for households a visit is likely at: alone, and elderly or of a high risk colour."""
        alone = Counter(r.household_id for r in self.session.scalars(select(Resident)))
        prone = [
            r
            for r in residents
            if alone[r.household_id] == 1
            and (ResidentCategory.ELDERLY_ALONE in r.categories or r.risk in (RiskColour.ORANGE, RiskColour.RED))
        ]
        chosen = self.pick(prone or residents, ACCESS_SHARE)
        for resident in chosen:
            relation, holder = self.rng.choice(KEY_HOLDERS)
            name = holder or resident.name[0] + self.rng.choice(GIVEN) + self.rng.choice(GIVEN)
            changes = {
                "key_holder_name": name,
                "key_holder_relation": relation,
                "key_holder_phone": self.numbers.mobile(),
                "notes": self.rng.choice(ACCESS_NOTES),
            }
            if self.rng.random() < 0.4:
                changes["door_code"] = f"{self.rng.randrange(1000, 10000)}#"
            set_access(
                self.session, resident.id, changes, actor=self.staff, where=self.where, region=self.context.region
            )
        return [r.household_id for r in chosen]
