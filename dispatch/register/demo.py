"""A generated community for demos and benchmarks, in the shape the neighbourhood reports describe.

Buildings of units and rooms, grids with leaders, building leads, about 8 households per liaison, couples
sharing a phone, landline-only residents on voice, and a mix of categories and risk colours. The same seed
gives the same community, name for name and number for number.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import (
    Channel,
    Community,
    DirectoryEntry,
    DirectoryKind,
    Grid,
    Household,
    Liaison,
    LiaisonRole,
    Resident,
    ResidentCategory,
    ResidentPhone,
    RiskColour,
)
from dispatch.progress import QUIET, Progress

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "秀英华玉兰桂芳淑珍凤明国建军志强伟文德福海平金红春梅丽小云霞永刚军民晓燕红霞"
CATEGORY_WEIGHTS = {
    ResidentCategory.ELDERLY_ALONE: 40,
    ResidentCategory.CHRONICALLY_ILL: 25,
    ResidentCategory.DISABLED: 10,
    ResidentCategory.UNDER_OBSERVATION: 10,
    ResidentCategory.PREGNANT: 5,
    ResidentCategory.CHILD: 5,
    ResidentCategory.OTHER: 5,
}
RISK_WEIGHTS = {
    RiskColour.NONE: 50,
    RiskColour.GREEN: 25,
    RiskColour.YELLOW: 15,
    RiskColour.ORANGE: 7,
    RiskColour.RED: 3,
}
HOUSEHOLDS_PER_LIAISON = 8
HOUSEHOLDS_PER_GRID = 120
ROOMS_PER_FLOOR = 4
UNITS_PER_BUILDING = 3
FLOORS = 18


@dataclass(frozen=True)
class DemoSummary:
    """What was generated."""

    community: str
    grids: int
    liaisons: int
    households: int
    residents: int
    landline_residents: int


class DemoNumbers:
    """Valid, unique Chinese numbers from one random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _unique(self, make: str) -> str:
        while True:
            candidate = make.format(*(self.rng.randrange(10) for _ in range(12)))
            if candidate not in self.used and phonenumbers.is_valid_number(phonenumbers.parse(candidate, None)):
                self.used.add(candidate)
                return candidate

    def mobile(self) -> str:
        prefix = self.rng.choice(["130", "135", "136", "138", "139", "150", "158", "186", "187", "189"])
        return self._unique("+86" + prefix + "{}{}{}{}{}{}{}{}")

    def landline(self) -> str:
        return self._unique("+86371" + "6{}{}{}{}{}{}{}")  # Zhengzhou, 8-digit local numbers


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def generate_demo_register(
    session: Session,
    *,
    residents: int,
    seed: int = 1,
    community_name: str = "幸福里社区",
    households_per_grid: int = HOUSEHOLDS_PER_GRID,
    progress: Progress = QUIET,
) -> DemoSummary:
    """Add a generated community with about `residents` residents to the register.

    Args:
        session: A session in a transaction; the caller commits.
        residents: How many residents to make (at least 1).
        seed: The same seed makes the same community.
        community_name: The community's name; it must not exist yet.
        households_per_grid: How many households make a grid (a small demo wants several grids).
        progress: Told of each resident made (the stage "demo"); each grid is written as it is made.

    Returns:
        Counts of what was made.
    """
    if residents < 1:
        raise ValueError("a demo community needs at least one resident")
    rng = random.Random(seed)  # noqa: S311  # demo data, not secrets
    numbers = DemoNumbers(rng)
    # Another community may already hold numbers this seed would draw; liaisons' numbers must stay unique.
    numbers.used.update(p for p in session.scalars(select(Liaison.phone)) if p)
    numbers.used.update(session.scalars(select(ResidentPhone.phone)))
    community = Community(
        name=community_name, duty_phone=numbers.landline(), clerk_name=_name(rng), clerk_phone=numbers.mobile()
    )
    session.add(community)
    for kind, name in (
        (DirectoryKind.HOSPITAL, "市第一人民医院"),
        (DirectoryKind.HEALTH_CENTRE, "社区卫生服务中心"),
        (DirectoryKind.PHARMACY, "大药房"),
    ):
        session.add(DirectoryEntry(community=community, kind=kind, name=name, phone=numbers.landline()))

    # About one household in three is a couple; the rest live alone, as most people on such registers do.
    household_sizes: list[int] = []
    while sum(household_sizes) < residents:
        household_sizes.append(min(2 if rng.random() < 0.33 else 1, residents - sum(household_sizes)))
    grid_count = max(1, math.ceil(len(household_sizes) / households_per_grid))
    grids = [
        Grid(community=community, name=f"第{i + 1}网格", leader_name=_name(rng), leader_phone=numbers.mobile())
        for i in range(grid_count)
    ]
    session.add_all(grids)

    households_in_grid = [household_sizes[i::grid_count] for i in range(grid_count)]
    progress.stage("demo", residents)
    liaison_total, resident_total, landline_total, household_index = 0, 0, 0, 0
    for grid, sizes in zip(grids, households_in_grid, strict=True):
        liaisons = [
            Liaison(
                name=_name(rng),
                phone=numbers.mobile(),
                grid=grid,
                role=LiaisonRole.GRID_WORKER
                if i == 0
                else LiaisonRole.BUILDING_LEAD
                if i % 4 == 1
                else LiaisonRole.VOLUNTEER,
            )
            for i in range(max(2, math.ceil(len(sizes) / HOUSEHOLDS_PER_LIAISON)))
        ]
        session.add_all(liaisons)
        liaison_total += len(liaisons)
        for i, size in enumerate(sizes):
            floor, room = divmod(household_index, ROOMS_PER_FLOOR)
            building, floor = divmod(floor, FLOORS * UNITS_PER_BUILDING)
            unit, floor = divmod(floor, FLOORS)
            household_index += 1
            household = Household(
                community=community,
                building=f"{building + 1}号楼",
                unit=f"{unit + 1}单元",
                room=f"{floor + 1}{room + 1:02d}",
                grid=grid,
                primary_liaison=liaisons[(i // HOUSEHOLDS_PER_LIAISON) % len(liaisons)],
                backup_liaison=liaisons[(i // HOUSEHOLDS_PER_LIAISON + 1) % len(liaisons)],
            )
            session.add(household)
            landline = rng.random() < 0.2
            shared = numbers.landline() if landline else numbers.mobile()
            for person in range(size):
                categories = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))
                if size == 1 and rng.random() < 0.3:
                    categories.append(ResidentCategory.CHRONICALLY_ILL)
                phones = [shared] if person == 0 or rng.random() < 0.5 else [numbers.mobile()]
                session.add(
                    Resident(
                        name=_name(rng),
                        household=household,
                        categories=sorted({c.value for c in categories}),
                        channel=Channel.VOICE if landline and phones == [shared] else Channel.SMS,
                        risk=rng.choices(list(RISK_WEIGHTS), weights=list(RISK_WEIGHTS.values()))[0],
                        emergency_contact_name=_name(rng),
                        emergency_contact_phone=numbers.mobile(),
                        phones=[ResidentPhone(phone=p, position=0, landline=landline and p == shared) for p in phones],
                    )
                )
                resident_total += 1
                landline_total += landline and phones == [shared]
        session.flush()
        progress.advance(sum(sizes))
    session.flush()
    return DemoSummary(community_name, grid_count, liaison_total, len(household_sizes), resident_total, landline_total)
