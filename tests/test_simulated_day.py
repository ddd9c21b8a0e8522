"""The simulated day: a morning of residents to the 12:00 deadline, through every real part but the phones.

Separate processes against one PostgreSQL and one redis-server, on a fast clock from 09:58: `hotline serve` (the
signed Twilio webhook), `hotline scheduler` and four `hotline worker`s, with the local gateway's outbox as the
phone network. On top of the scheduler's, the test queues a check-in tick and a sweep (the task ladder) every
quarter of a real second whenever none waits, so the ladder keeps a fast clock's pace. The phones are the test's:
it reads what the local gateway handed over (the outbox rows marked sent) and answers by posting signed SMS to the
web server, as Twilio would.

The population is a list of groups (`GROUPS`), each a share of the residents chosen by a seeded generator, with
what they answer to the check-in SMS and what must be true of each of them at 12:00: 5% never answer (a visit task
at 11:30, which must have a taker), 2% answer that they are unwell (an urgent task), 1% are away in hospital
(paused: no check-in is made, nothing is sent, and staff know where they are), 5% have a care circle (a daughter,
with the resident's consent recorded): half of them never answer, so the family is told once at the deadline and
once more when a liaison takes the visit, and for the other half the daughter answers for them ("我在妈妈这里，她没
事"), which is their known status; the rest answer that they are fine.
1% of the liaisons never answer an offer; they back each other up, and the grid leaders are not liaisons, so their
tasks climb the whole ladder to the duty phone. The other liaisons take each task offered to them (接<task>) a few
simulated minutes after the offer arrives.

By 12:00 every resident must have a known status (fine, needs or unwell answered) or a visit task with a taker: taken
by a liaison by then, or held by duty staff (the ladder's last rung, `DUTY_STAFF`). Every task not taken must reach
duty staff within its ladder time: each rung's window (`HOTLINE_URGENT_ACCEPT_MINUTES`, shared out so that a task
due by a time reaches staff by then, `escalation.deadline`), allowing the sweeper's pace on the fast clock
(`ALLOWED`). The test prints the figures: counts per group, the longest time from a reply to its task's offer SMS,
the worst lateness of any rung.

CI runs `DEFAULT_RESIDENTS` on PostgreSQL; `HOTLINE_SIM_DAY_RESIDENTS=10000` runs the issue's 10,000, with
`HOTLINE_SIM_DAY_SPEED=10` on a 2-core machine: whatever a worker spends in real time costs the clock's speed in
simulated time (the 11:30 tick makes 500 visits in one go), and `ALLOWED` is one real second.
"""

from __future__ import annotations

import heapq
import os
import queue
import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import Connection, Engine, Row, create_engine, false, func, insert, select, update
from twilio.request_validator import RequestValidator

from benchmarks.register_fixture import generate_register
from dispatch.checkins.rules import CheckinRules
from dispatch.context import DispatchContext
from dispatch.db import upgrade
from dispatch.models import (
    Absence,
    AbsenceReason,
    Checkin,
    CheckinStatus,
    CircleContact,
    ConsentWay,
    Grid,
    Household,
    Liaison,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentPhone,
    ResidentStatus,
    Task,
    TaskEvent,
    TaskPriority,
)
from dispatch.tasks.escalation import DUTY_STAFF
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs.checkins import checkin_tick
from hotline.jobs.sweeper import sweep
from tests.chaos.cluster import Child, free_port, wait_until_drained
from tests.conftest import HOTLINE_NUMBER, PUBLIC_URL, TEST_AUTH_TOKEN, TEST_DATABASE_URL, reset_database
from workers.queues import MAINTENANCE

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="needs PostgreSQL: several workers claim the same rows at once (FOR UPDATE SKIP LOCKED), which SQLite's "
    "one writer cannot; the PostgreSQL half of CI runs it",
)

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 1)
# The check-in at 10:00 with a 40-minute window: its reminder at 10:40, the calls to 11:10, the visit at 11:30 as
# with the defaults (09:00 and two hours), but with 20 minutes to spare for sending the day's check-ins (the
# defaults leave none: a check-in sent a minute late has its visit, and its deadline, a minute after 12:00), and a
# morning short enough for the fast clock.
CHECKIN_AT, WINDOW_MINUTES = "10:00", 40
START = datetime(2026, 12, 1, 9, 58, tzinfo=ZONE)
DEADLINE = datetime(2026, 12, 1, 12, 0, tzinfo=ZONE)
DEFAULT_RESIDENTS = 1_000
RESIDENTS = int(os.environ.get("HOTLINE_SIM_DAY_RESIDENTS") or DEFAULT_RESIDENTS)
# Simulated seconds per real second: the morning in 63 s; a rung's 10 minutes in 5 s.
SPEED = float(os.environ.get("HOTLINE_SIM_DAY_SPEED") or 120)
PACE = 0.25  # real seconds between the test's ticks and sweeps
# How late a rung may come: one real second of the machine's time, in simulated time (two minutes at 120x). The
# sweep that climbs it comes within PACE of its deadline and may wait behind the jobs queued before it.
ALLOWED = timedelta(seconds=SPEED)
END = DEADLINE + ALLOWED + timedelta(minutes=1)  # the phones stop; the last rungs, due at 12:00, are climbed by then
WORKERS, POSTERS = 4, 8
SILENT_LIAISONS = 0.01
LIAISON_MINUTES = (1, 8)  # from an offer SMS to the liaison's 接<task>: within the rung's window
DRAIN_SECONDS = 120
DUTY_PHONE = "+8657187654321"
KNOWN = (CheckinStatus.FINE, CheckinStatus.NEEDS, CheckinStatus.UNWELL)
KNOWN_OR_AWAY = (*KNOWN, "away")  # away: staff know where they are (in hospital), and no check-in is made for them


@dataclass
class Outcome:
    """One resident at 12:00: their check-in's status ("none" if they have no check-in today), their tasks (each
    with whether it has a taker), and what was sent under their check-in (dedupe keys, numbers as N:
    "checkin:N:sms", "checkin:N:reminder")."""

    status: str
    visit_taker: str | None = None  # "liaison" or "staff" if the check-in's visit task has one
    has_visit: bool = False
    tasks: list[str | None] = field(default_factory=list)  # each task's taker, None if it has none
    sent: Counter[str] = field(default_factory=Counter)
    family: Counter[str] = field(default_factory=Counter)  # SMS to their care circle, by kind: no-answer, on-the-way


@dataclass(frozen=True)
class Group:
    """A share of the residents: what they answer to the check-in SMS (one of `replies`, some simulated minutes
    after it arrives; none: they never answer), what must be true of each at 12:00 (`expected`), any change to
    the register for them (`prepare`, given their resident ids, before the day starts), and whether their
    households get tasks (`tasks`: the silent liaisons are chosen among theirs)."""

    name: str
    share: float
    replies: tuple[str, ...]
    expected: Callable[[Outcome], bool]
    minutes: tuple[int, int] = (1, 35)
    prepare: Callable[[Connection, list[int]], None] | None = None
    tasks: bool = False
    by_family: bool = False  # the reply comes from the resident's care-circle contact, not the resident


def _visit_taken(o: Outcome) -> bool:
    return o.status not in KNOWN and o.has_visit and o.visit_taker is not None


def _unwell_held(o: Outcome) -> bool:
    return o.status == CheckinStatus.UNWELL and bool(o.tasks) and all(taker is not None for taker in o.tasks)


FAMILY: dict[str, str] = {}  # a resident's phone → their care-circle contact's


def _away(conn: Connection, resident_ids: list[int]) -> None:
    """In hospital since yesterday, back in five days: paused, as staff set it on the resident's page."""
    conn.execute(
        insert(Absence),
        [
            {
                "resident_id": rid,
                "reason": AbsenceReason.HOSPITAL,
                "note": "",
                "starts_on": DAY - timedelta(days=1),
                "return_on": DAY + timedelta(days=5),
                "tell_family": False,
                "set_by": "staff:1",
                "created_at": START.astimezone(UTC) - timedelta(days=1),
            }
            for rid in resident_ids
        ],
    )
    conn.execute(update(Resident).where(Resident.id.in_(resident_ids)).values(status=ResidentStatus.PAUSED))


def _circle(conn: Connection, resident_ids: list[int]) -> None:
    """A daughter each, the resident's consent recorded in person."""
    consented = START.astimezone(UTC) - timedelta(days=3)
    rows = []
    for rid, phone in conn.execute(
        select(ResidentPhone.resident_id, ResidentPhone.phone).where(ResidentPhone.resident_id.in_(resident_ids))
    ):
        FAMILY[phone] = f"+86136{rid:08d}"
        rows.append(
            {
                "resident_id": rid,
                "name": f"女儿{rid}",
                "relation": "女儿",
                "phone": FAMILY[phone],
                "consent_way": ConsentWay.IN_PERSON,
                "consent_by": "社区 李文",
                "consent_at": consented,
                "created_at": consented,
                "updated_at": consented,
            }
        )
    conn.execute(insert(CircleContact), rows)


def _away_kept(o: Outcome) -> bool:
    return o.status == "away" and not o.tasks and not o.sent


def _family_told(o: Outcome) -> bool:
    """Never answered: the visit has a taker, and the family was told once at the deadline, and once that someone
    is on the way if a liaison took it."""
    on_the_way = 1 if o.visit_taker == "liaison" else 0
    return _visit_taken(o) and o.family["no-answer"] == 1 and o.family["on-the-way"] == on_the_way


def _family_answered(o: Outcome) -> bool:
    return o.status == CheckinStatus.FINE and not o.tasks and o.family["no-answer"] == 0


# Each group a line; the residents left over are `REST`.
GROUPS = [
    Group("silent", 0.05, (), _visit_taken, tasks=True),
    Group("unwell", 0.02, ("我发烧了", "不舒服", "今天不舒服，头晕"), _unwell_held, minutes=(1, 30), tasks=True),
    Group("away", 0.01, (), _away_kept, prepare=_away),
    # 5% with a care circle: half never answer (their family is told), half their family answers for them.
    Group("circle, silent", 0.025, (), _family_told, prepare=_circle, tasks=True),
    Group(
        "circle, family answers",
        0.025,
        ("我在妈妈这里，她没事", "我在我爸身边，他很好"),
        _family_answered,
        prepare=_circle,
        by_family=True,
    ),
]
REST = Group(
    "fine", 0.0, ("1", "好", "我很好", "没事，谢谢"), lambda o: o.status == CheckinStatus.FINE and not o.tasks, (1, 35)
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    built = create_engine(TEST_DATABASE_URL)
    reset_database(built)
    upgrade(built)
    yield built
    built.dispose()


class Clock:
    """The processes' fast clock, read from this side: simulated time from real time, and back."""

    def __init__(self, starts_at: float) -> None:
        self.starts_at = starts_at

    def now(self) -> datetime:
        return START + timedelta(seconds=(time.time() - self.starts_at) * SPEED)


@dataclass
class Phones:
    """The residents' and liaisons' phones: replies waiting for their simulated time, posted by `POSTERS` threads
    to the web server, signed as Twilio signs them."""

    port: int
    clock: Clock
    due: list[tuple[datetime, int, str, str]] = field(default_factory=list)
    outbox: queue.Queue[tuple[str, str] | None] = field(default_factory=queue.Queue)
    posted: dict[str, datetime] = field(default_factory=dict)  # sender → when their last SMS was posted
    answers: Counter[int] = field(default_factory=Counter)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_at(self, when: datetime, sender: str, body: str) -> None:
        self.count += 1
        heapq.heappush(self.due, (when, self.count, sender, body))

    def post_due(self, now: datetime) -> None:
        while self.due and self.due[0][0] <= now:
            _, _, sender, body = heapq.heappop(self.due)
            self.outbox.put((sender, body))

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._poster, args=(i,), daemon=True) for i in range(POSTERS)]
        for thread in threads:
            thread.start()
        return threads

    def _poster(self, index: int) -> None:
        validator = RequestValidator(TEST_AUTH_TOKEN)
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as client:
            while (item := self.outbox.get()) is not None:
                sender, body = item
                n += 1
                params = {
                    "MessageSid": f"SM{index:02d}{n:030d}",
                    "AccountSid": "AC" + "1" * 32,
                    "From": sender,
                    "To": HOTLINE_NUMBER,
                    "Body": body,
                    "NumMedia": "0",
                }
                signature = validator.compute_signature(PUBLIC_URL + "/twilio/sms", params)
                posted = self.clock.now()
                response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
                with self.lock:
                    self.answers[response.status_code] += 1
                    self.posted[sender] = posted


def make_register(engine: Engine, rng: random.Random) -> tuple[dict[str, Group], dict[str, int], set[int]]:
    """The register and who is in which group. Returns each resident phone's group, the liaisons by phone, and the
    silent liaisons' ids."""
    generate_register(engine, RESIDENTS, START.astimezone(UTC) - timedelta(days=10))
    with engine.begin() as conn:
        residents = conn.execute(
            select(ResidentPhone.resident_id, ResidentPhone.phone, Household.primary_liaison_id)
            .join(Household, Household.id == ResidentPhone.resident_id)  # one household each, of the same id
            .order_by(ResidentPhone.resident_id)
        ).all()
        order = list(range(len(residents)))
        rng.shuffle(order)
        groups: dict[str, Group] = {}
        members: dict[str, list[int]] = {}
        taken = 0
        for group in GROUPS:
            chosen = order[taken : taken + round(RESIDENTS * group.share)]
            taken += len(chosen)
            members[group.name] = [residents[i].resident_id for i in chosen]
            groups.update({residents[i].phone: group for i in chosen})
            if group.prepare is not None:
                group.prepare(conn, members[group.name])
        groups.update({residents[i].phone: REST for i in order[taken:]})
        liaisons = {row.phone: row.id for row in conn.execute(select(Liaison.phone, Liaison.id))}
        # The silent liaisons: among those with a household that will have a task, so their ladders are climbed;
        # they back each other up, so a task of theirs goes on to the grid leader and then the duty phone.
        with_tasks = sorted({row.primary_liaison_id for row in residents if groups[row.phone].tasks})
        silent = sorted(rng.sample(with_tasks, max(2, round(len(liaisons) * SILENT_LIAISONS))))
        conn.execute(update(Household).values(backup_liaison_id=Household.primary_liaison_id % len(liaisons) + 1))
        for i, liaison_id in enumerate(silent):
            backup = silent[(i + 1) % len(silent)]
            conn.execute(
                update(Household).where(Household.primary_liaison_id == liaison_id).values(backup_liaison_id=backup)
            )
        # Each grid's leader: a phone that is not a liaison's, told at the second rung; they arrange it themselves.
        for grid_id in conn.scalars(select(Grid.id)):
            conn.execute(
                update(Grid)
                .where(Grid.id == grid_id)
                .values(leader_name=f"网格长{grid_id}", leader_phone=f"+86137{grid_id:08d}")
            )
    return groups, liaisons, set(silent)


def test_by_noon_every_resident_is_known_or_has_a_taker_and_every_untaken_task_reached_staff_in_time(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(27)
    groups, liaisons, silent = make_register(engine, rng)
    silent_phones = {phone for phone, liaison_id in liaisons.items() if liaison_id in silent}
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    clock = Clock(time.time() + 5)  # the processes are up by then; the simulated morning starts at 09:58
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": redis_server.url,
        "HOTLINE_GATEWAY": "local",
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "HOTLINE_SECRET_KEY": "simulated-day-secret-key-0123456789abcdef",
        "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": HOTLINE_NUMBER,
        "HOTLINE_DUTY_PHONE": DUTY_PHONE,
        "HOTLINE_CLOCK_SPEED": str(SPEED),
        "HOTLINE_CLOCK_START": f"{clock.starts_at}@{START.timestamp()}",
        "HOTLINE_SWEEP_SECONDS": "1",
        "HOTLINE_CHECKIN_TIMES": CHECKIN_AT,
        "HOTLINE_CHECKIN_WINDOW_MINUTES": str(WINDOW_MINUTES),
    }
    web = Child("web", ["serve", "--port", str(port)], logs / "web.log")
    scheduler = Child("scheduler", ["scheduler"], logs / "scheduler.log")
    children = [web, scheduler, *(Child(f"worker{i}", ["worker"], logs / f"worker{i}.log") for i in range(WORKERS))]
    phones = Phones(port, clock)
    posters = phones.run()
    began = time.monotonic()
    try:
        for child in children:
            child.start(env)
        seen = _run_morning(engine, redis_server.url, clock, phones, groups, liaisons, silent_phones)
        assert all(child.alive() for child in children), f"a process died; see {logs}"
        scheduler.kill(signal.SIGTERM)
        drained_in = wait_until_drained(engine, redis_server.url, DRAIN_SECONDS)
    finally:
        for _ in posters:
            phones.outbox.put(None)
        for thread in posters:
            thread.join(30)
        for child in children:
            child.kill(signal.SIGTERM)
        redis_server.stop()
    took = time.monotonic() - began
    assert set(phones.answers) == {200}, phones.answers

    with engine.connect() as conn:
        checkins = conn.execute(
            select(
                Resident.id.label("resident_id"),
                Checkin.id,
                Checkin.status,
                Checkin.visit_task_id,
                ResidentPhone.phone,
                Resident.household_id,
            )
            .join(ResidentPhone, ResidentPhone.resident_id == Resident.id)
            .outerjoin(Checkin, (Checkin.resident_id == Resident.id) & (Checkin.local_date == DAY))
        ).all()
        away = {
            phone
            for (phone,) in conn.execute(
                select(ResidentPhone.phone)
                .join(Absence, Absence.resident_id == ResidentPhone.resident_id)
                .where(Absence.ended_at.is_(None))
            )
        }
        family_keys = conn.execute(
            select(OutboundMessage.to_phone, OutboundMessage.dedupe_key).where(
                OutboundMessage.to_phone.in_(list(FAMILY.values())) if FAMILY else false()
            )
        ).all()
        sent_for = conn.execute(
            select(Checkin.id, OutboundMessage.dedupe_key)
            .join(OutboundMessage, OutboundMessage.checkin_id == Checkin.id)
            .where(Checkin.local_date == DAY)
        ).all()
        tasks = conn.execute(
            select(
                Task.id,
                Task.household_id,
                Task.priority,
                Task.rung,
                Task.created_at,
                Task.accepted_at,
                Task.due_by,
            )
        ).all()
        climbs = conn.execute(
            select(TaskEvent.task_id, TaskEvent.at, TaskEvent.detail)
            .where(TaskEvent.kind == "escalated")
            .order_by(TaskEvent.at)
        ).all()
        checkins_sent = conn.execute(
            select(func.min(OutboundMessage.sent_at), func.max(OutboundMessage.sent_at)).where(
                OutboundMessage.dedupe_key.like("checkin:%:sms")
            )
        ).one()
        first_offers = dict(
            conn.execute(
                select(OutboundMessage.task_id, OutboundMessage.sent_at).where(
                    OutboundMessage.dedupe_key.like("task:%:offer:0")
                )
            ).all()
        )

    # Each task's ladder: when each rung was reached, and when it should have been.
    rungs: dict[int, dict[int, datetime]] = defaultdict(dict)
    for row in climbs:
        rung = int(row.detail.split()[0].removeprefix("rung:"))
        rungs[row.task_id].setdefault(rung, row.at)
    rules = CheckinRules()
    windows = {
        TaskPriority.URGENT: timedelta(minutes=DispatchContext.urgent_accept_minutes),
        TaskPriority.NORMAL: timedelta(minutes=DispatchContext.normal_accept_minutes),
    }
    assert windows[TaskPriority.URGENT] == rules.rung_window
    takers: dict[int, str | None] = {}  # who holds each task in time: "liaison", "staff", or None
    held_at: dict[int, datetime] = {}
    lateness: list[tuple[timedelta, int, int]] = []  # (late by, task, rung)
    late_to_staff: list[tuple[int, datetime, datetime | None]] = []
    for task in tasks:
        ladder = _ladder(task, rungs[task.id], windows[task.priority])
        for rung, (due, reached) in enumerate(ladder, start=1):
            if reached is not None:
                lateness.append((reached - due, task.id, rung))
        # Its ladder time: every rung's window from its making, or its due time if that comes first (never chained
        # from a late rung: lateness does not buy time).
        staff_due = task.created_at + DUTY_STAFF * windows[task.priority]
        if task.due_by is not None:
            staff_due = min(staff_due, max(task.due_by, task.created_at))
        staff_at = ladder[-1][1]
        if task.accepted_at is not None and task.accepted_at <= staff_due + ALLOWED:
            takers[task.id], held_at[task.id] = "liaison", task.accepted_at
        elif staff_at is not None and staff_at <= staff_due + ALLOWED:
            takers[task.id], held_at[task.id] = "staff", staff_at
        else:
            takers[task.id] = None
            late_to_staff.append((task.id, staff_due, staff_at))

    by_household: dict[int | None, list[int]] = defaultdict(list)
    for task in tasks:
        by_household[task.household_id].append(task.id)
    outcomes: dict[str, Outcome] = {}
    households: dict[str, int] = {}
    sent: dict[int, Counter[str]] = defaultdict(Counter)
    told_family: dict[str, Counter[str]] = defaultdict(Counter)  # a family phone → its SMS by kind
    for phone, key in family_keys:
        told_family[phone][key.split(":")[3] if key.startswith("circle:checkin:") else re.sub(r"\d+", "N", key)] += 1
    for checkin_id, key in sent_for:
        sent[checkin_id][re.sub(r"\d+", "N", key)] += 1
    for row in checkins:
        status = str(row.status or ("away" if row.phone in away else "none"))
        outcome = Outcome(status, has_visit=row.visit_task_id is not None, sent=sent[row.id])
        outcome.family = told_family[FAMILY.get(row.phone, "")]
        visit = row.visit_task_id
        if visit is not None and visit in held_at and held_at[visit] <= DEADLINE + ALLOWED:  # someone has it by 12:00
            outcome.visit_taker = takers[visit]
        outcome.tasks = [takers[task_id] for task_id in by_household[row.household_id]]
        outcomes[row.phone] = outcome
        households[row.phone] = row.household_id

    # Figures.
    per_group: dict[str, Counter[str]] = defaultdict(Counter)
    for phone, outcome in outcomes.items():
        counts = per_group[groups[phone].name]
        counts["residents"] += 1
        counts[outcome.status] += 1
        if outcome.has_visit:
            counts[f"visit taken by {outcome.visit_taker}"] += 1
        counts["tasks"] += len(outcome.tasks)
        for kind, n in outcome.family.items():
            counts[f"family told {kind}"] += n
        counts["meets its group's rule"] += groups[phone].expected(outcome)
    tasks_by_id = {task.id: task for task in tasks}
    offered_after = {
        phone: first_offers[task_id] - phones.posted[phone]
        for phone, outcome in outcomes.items()
        if phone in phones.posted and groups[phone].name == "unwell"
        for task_id in by_household[households[phone]]
        if first_offers.get(task_id) is not None
    }
    longest_offer = max(offered_after.values(), default=timedelta(0))
    worst = max(lateness, default=(timedelta(0), 0, 0))
    visits_made = [tasks_by_id[row.visit_task_id].created_at for row in checkins if row.visit_task_id is not None]
    known_or_taken = sum(1 for o in outcomes.values() if o.status in KNOWN_OR_AWAY or _visit_taken(o))
    untaken = [task_id for task_id, taker in takers.items() if taker != "liaison"]
    lines = [
        f"simulated day: {RESIDENTS} residents, {len(liaisons)} liaisons ({len(silent)} silent), {START:%H:%M} to "
        f"{END:%H:%M} at {SPEED:.0f}x in {took:.0f} s real (drained {drained_in:.1f} s after); "
        f"{phones.count} SMS posted, {len(seen)} handed-over SMS read",
        *(
            f"  {name}: " + ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))
            for name, counts in per_group.items()
        ),
        f"  known or visit taken at 12:00: {known_or_taken}/{len(outcomes)}; tasks {len(tasks)}: "
        f"{Counter(takers.values())} (taker); {len(untaken)} not taken by a liaison, "
        f"{sum(1 for t in untaken if takers[t] == 'staff')} of them with staff in time",
        f"  check-in SMS handed over {_hms(checkins_sent[0])} to {_hms(checkins_sent[1])}; visits made "
        f"{_hms(min(visits_made, default=None))} to {_hms(max(visits_made, default=None))}",
        f"  longest from an unwell reply to its task's offer SMS: {longest_offer.total_seconds() / 60:.1f} min",
        f"  worst ladder lateness: {worst[0].total_seconds() / 60:.1f} min (task {worst[1]}, rung {worst[2]}; "
        f"allowed {ALLOWED.total_seconds() / 60:.1f} min)",
    ]
    print("\n" + "\n".join(lines))
    with capsys.disabled():
        print(
            f"\n[simulated day] {RESIDENTS} residents: {known_or_taken}/{len(outcomes)} known or taken at 12:00; "
            f"{len(untaken)} tasks to staff, {len(late_to_staff)} late; longest reply→offer "
            f"{longest_offer.total_seconds() / 60:.1f} min; worst rung {worst[0].total_seconds() / 60:.1f} min late; "
            f"{took:.0f} s"
        )

    for task_id, due, at in late_to_staff[:10]:
        task = tasks_by_id[task_id]
        print(
            f"  late: task {task_id} made {_hms(task.created_at)} due_by {_hms(task.due_by)} staff due {_hms(due)} "
            f"reached {_hms(at)}; rungs {[(r, _hms(t)) for r, t in sorted(rungs[task_id].items())]}; "
            f"offered {_hms(first_offers.get(task_id))} accepted {_hms(task.accepted_at)}"
        )
    assert len(outcomes) == RESIDENTS
    assert known_or_taken == RESIDENTS, [
        p for p, o in outcomes.items() if o.status not in KNOWN_OR_AWAY and not _visit_taken(o)
    ]
    assert late_to_staff == [], [
        (task_id, f"due {due.astimezone(ZONE):%H:%M:%S}", at and f"{at.astimezone(ZONE):%H:%M:%S}")
        for task_id, due, at in late_to_staff[:20]
    ]
    # A rung late by its own window would in effect be a rung skipped (staff in time is checked above, from the
    # ladder's times, not from the late rung's).
    assert worst[0] < rules.rung_window, worst
    for name, counts in per_group.items():
        assert counts["meets its group's rule"] == counts["residents"], (name, counts)
    # The ladder was really climbed to staff, and the liaisons really took tasks.
    assert any(takers[task_id] == "staff" for task_id in takers) and any(v == "liaison" for v in takers.values())
    assert all(task.rung == DUTY_STAFF for task in tasks_by_id.values() if takers[task.id] == "staff")
    # A task's first rung runs from its making: its offer SMS must reach the liaison well within that window.
    assert longest_offer < rules.rung_window, longest_offer


def _hms(moment: datetime | None) -> str:
    return f"{moment.astimezone(ZONE):%H:%M:%S}" if moment is not None else "-"


def _ladder(task: Row[Any], reached: dict[int, datetime], window: timedelta) -> list[tuple[datetime, datetime | None]]:
    """Each rung after the first: when it was due (`escalation.deadline` from when the rung before was reached:
    its window, or the time left to `due_by` shared among the rungs left) and when it was reached (None: not)."""
    ladder: list[tuple[datetime, datetime | None]] = []
    at = task.created_at
    for rung in range(1, DUTY_STAFF + 1):
        share = window
        if task.due_by is not None:
            share = max(timedelta(0), min(window, (task.due_by - at) / (DUTY_STAFF - rung + 1)))
        due = at + share
        got = reached.get(rung)
        ladder.append((due, got))
        at = got if got is not None else due
    return ladder


def _run_morning(
    engine: Engine,
    redis_url: str,
    clock: Clock,
    phones: Phones,
    groups: dict[str, Group],
    liaisons: dict[str, int],
    silent_phones: set[str],
) -> set[int]:
    """Until END: read what the gateway handed over, have the phones answer it in time, and keep ticks and sweeps
    coming. Returns the outbound ids read."""
    rng = random.Random(2027)
    seen: set[int] = set()
    answered: set[str] = set()  # residents who have their reply on its way
    offers_answered: set[tuple[int, str]] = set()
    since = START.astimezone(UTC) - timedelta(hours=1)
    with Redis.from_url(redis_url) as redis:
        maintenance = Queue(MAINTENANCE, connection=redis)
        while (now := clock.now()) < END:
            # The rows sent since the last look, with a margin for transactions that committed late.
            with engine.connect() as conn:
                rows = conn.execute(
                    select(
                        OutboundMessage.id,
                        OutboundMessage.to_phone,
                        OutboundMessage.dedupe_key,
                        OutboundMessage.task_id,
                        OutboundMessage.kind,
                        OutboundMessage.sent_at,
                    ).where(OutboundMessage.status == OutboundStatus.SENT, OutboundMessage.sent_at >= since)
                ).all()
            since = now.astimezone(UTC) - timedelta(minutes=15)
            for row in rows:
                if row.id in seen:
                    continue
                seen.add(row.id)
                group = groups.get(row.to_phone)
                if group is not None and row.kind == "sms" and row.to_phone not in answered and group.replies:
                    answered.add(row.to_phone)
                    delay = timedelta(minutes=rng.randint(*group.minutes))
                    sender = FAMILY[row.to_phone] if group.by_family else row.to_phone
                    phones.send_at(row.sent_at + delay, sender, rng.choice(group.replies))
                elif (
                    row.to_phone in liaisons
                    and row.to_phone not in silent_phones
                    and re.fullmatch(r"task:\d+:offer:\d+", row.dedupe_key)
                    and (row.task_id, row.to_phone) not in offers_answered
                ):
                    offers_answered.add((row.task_id, row.to_phone))
                    delay = timedelta(minutes=rng.randint(*LIAISON_MINUTES))
                    phones.send_at(row.sent_at + delay, row.to_phone, f"接{row.task_id}")
            phones.post_due(now)
            if maintenance.count < 2:  # a tick and a sweep whenever none waits: the ladder keeps the clock's pace
                maintenance.enqueue_many(
                    [Queue.prepare_data(checkin_tick, result_ttl=0), Queue.prepare_data(sweep, result_ttl=0)]
                )
            time.sleep(PACE)
    return seen
