"""The visit wave (B11): every check-in still unanswered at its visit time made an urgent visit task, in one go.

N residents (a household each, a liaison per eight households, each household's backup the next liaison, a duty
phone for the community), each with today's 09:00 check-in sent, reminded and called, and never answered: its
visit rung due a minute ago, as at 11:30 on a day when 5% of 10,000 residents stay silent. A third of the
households have access notes (a keyholder and a door code), half the residents a care-circle contact who agreed
to be told, and one household in fifty an open visit task already (the visit joins it). Then the check-in tick's
ladder (`missed_checkin_ladder.advance`) climbs them, a pass per transaction until no rung has more due, as
`hotline.jobs.checkins.checkin_tick` does: each visit finds or makes the household's visit task, offers it to
the liaison, alerts the duty phone, and tells the care circle. Timed from the first pass's start to the last
one's commit; the SQL statements it sent counted.

Baseline, in the same run on a second database seeded alike: the same number of plain tasks made one by one
through `lifecycle.create_task` (each household read by id, the task flushed, its two events), in one transaction.
On SQLite, and on a throwaway PostgreSQL cluster when `initdb` is on the PATH; a fresh database for each run.
Every run must leave the same tasks, events and SMS (a digest of them, with the same clock): checked.

    python -m benchmarks.visit_wave [VISITS [RUNS]]
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, text, update

from benchmarks.common import Finding, Reported, median, postgres_cluster
from benchmarks.drain import fresh_postgres
from benchmarks.register_fixture import generate_register
from dispatch.checkins.missed_checkin_ladder import advance
from dispatch.db import upgrade
from dispatch.models import (
    Checkin,
    CheckinRung,
    CheckinStatus,
    CircleContact,
    Community,
    Household,
    HouseholdAccess,
    Liaison,
    Task,
    TaskCategory,
    TaskPriority,
    TaskStatus,
)
from dispatch.tasks import lifecycle
from hotline.services import Services
from hotline.settings import load_settings

NOW = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # 11:30 Asia/Shanghai: every run the same, so their digests agree
DUTY_PHONE = "+8657100000001"
ACCESS_EVERY, CIRCLE_EVERY, OPEN_VISIT_EVERY = 3, 2, 50
# A visit does a plain task's work and more (its offer, the duty alert, the care circle, the check-in's own rows),
# but a pass shares its reads and writes: its time per visit must stay within twice a plain task's.
TARGET_RATIO = 2.0


@dataclass(frozen=True)
class Pass:
    """One timed wave (or baseline): seconds, this process's CPU seconds, SQL statements sent, and what it left."""

    seconds: float
    cpu: float
    statements: int
    digest: str = ""


def seed(engine: Engine, count: int) -> None:
    """The register, access notes, circle contacts, a few open visit tasks, and each resident's check-in due."""
    upgrade(engine)
    generate_register(engine, count, NOW - timedelta(days=30))
    sent = NOW - timedelta(hours=2, minutes=30)
    with engine.begin() as conn:
        liaisons = conn.scalar(select(func.count(Liaison.id))) or 1
        conn.execute(update(Household).values(backup_liaison_id=Household.primary_liaison_id % liaisons + 1))
        conn.execute(update(Community).values(duty_phone=DUTY_PHONE))
        access = [
            {
                "household_id": i + 1,
                "key_holder_name": f"邻居{i}",
                "key_holder_relation": "邻居",
                "key_holder_phone": f"+86{13500000000 + i}",
                "door_code": f"{i % 10000:04d}#A",
                "notes": "楼下有狗",
                "updated_at": sent,
            }
            for i in range(0, count, ACCESS_EVERY)
        ]
        if access:
            conn.execute(insert(HouseholdAccess), access)
        circle = [
            {
                "resident_id": i + 1,
                "name": f"女儿{i}",
                "relation": "女儿",
                "phone": f"+86{13600000000 + i}",
                "language": "zh-CN",
                "consent_way": "in_person",
                "consent_by": "社区",
                "consent_at": sent,
                "created_at": sent,
                "updated_at": sent,
            }
            for i in range(0, count, CIRCLE_EVERY)
        ]
        if circle:
            conn.execute(insert(CircleContact), circle)
        open_visits = [
            {
                "household_id": i + 1,
                "resident_id": i + 1,
                "category": TaskCategory.VISIT,
                "priority": TaskPriority.NORMAL,
                "status": TaskStatus.OFFERED,
                "description": "上门看看",
                "assignee_liaison_id": i // 8 + 1,
                "rung": 0,
                "offer_deadline": NOW + timedelta(minutes=40),
                "created_at": NOW - timedelta(minutes=20),
                "updated_at": NOW - timedelta(minutes=20),
            }
            for i in range(OPEN_VISIT_EVERY - 1, count, OPEN_VISIT_EVERY)
        ]
        if open_visits:
            conn.execute(insert(Task), open_visits)
        conn.execute(
            insert(Checkin),
            [
                {
                    "resident_id": i + 1,
                    "household_id": i + 1,
                    "local_date": NOW.date(),
                    "slot": "09:00",
                    "channel": "sms",
                    "phone": f"+86{13900000000 + i}",
                    "language": "zh-CN",
                    "due_at": sent,
                    "status": CheckinStatus.SENT,
                    "rung": CheckinRung.REMINDED,
                    "sent_at": sent,
                    "reminder_at": sent + timedelta(minutes=40),
                    "visit_at": NOW - timedelta(minutes=1),
                    "calls_placed": 2,
                    "calls_left": 0,
                    "last_call_result": "no-answer",
                    "created_at": sent,
                }
                for i in range(count)
            ],
        )


@contextlib.contextmanager
def counted(engine: Engine) -> Iterator[list[int]]:
    """Count the statements sent to the database while inside (an executemany counts once)."""
    sent = [0]

    def count(*_: Any) -> None:
        sent[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def wave(services: Services) -> Pass:
    """The ladder's passes, as the check-in tick runs them, until no rung has more due."""
    with counted(services.engine) as sent:
        began, cpu = time.perf_counter(), time.process_time()
        more = True
        while more:
            with services.sessions.begin() as session:
                more = advance(session, NOW, services.intake).more
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    return Pass(seconds, cpu, sent[0], digest(services.engine))


def baseline(services: Services, count: int) -> Pass:
    """`count` plain tasks, one by one through `lifecycle.create_task`, in one transaction."""
    with counted(services.engine) as sent:
        began, cpu = time.perf_counter(), time.process_time()
        with services.sessions.begin() as session:
            for household_id in range(1, count + 1):
                household = session.get(Household, household_id)
                lifecycle.create_task(
                    session,
                    household,
                    None,
                    TaskCategory.OTHER,
                    TaskPriority.NORMAL,
                    description="想买菜",
                    actor="resident",
                    channel="sms",
                    now=NOW,
                )
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    return Pass(seconds, cpu, sent[0])


def digest(engine: Engine) -> str:
    """What a wave left, every row that matters, as one hash: the same code and clock give the same digest."""
    queries = {
        "tasks": "SELECT id, household_id, resident_id, category, priority, status, assignee_liaison_id, rung, "
        "due_by, offer_deadline, description FROM tasks ORDER BY id",
        "task_events": "SELECT task_id, kind, actor, channel, at, detail FROM task_events ORDER BY id",
        "task_offers": "SELECT task_id, liaison_id, phone, rung FROM task_offers ORDER BY id",
        "outbound": "SELECT dedupe_key, to_phone, body, task_id, checkin_id, kind, language, status "
        "FROM outbound_messages ORDER BY id",
        "checkins": "SELECT id, status, rung, visit_task_id, next_call_at, calls_left FROM checkins ORDER BY id",
        "checkin_events": "SELECT checkin_id, kind, at, detail FROM checkin_events ORDER BY id",
    }
    hashed = hashlib.sha256()
    with engine.connect() as conn:
        for name, query in queries.items():
            hashed.update(name.encode())
            for row in conn.execute(text(query)):
                hashed.update(repr(tuple(row)).encode())
    return hashed.hexdigest()[:12]


@contextlib.contextmanager
def installed(root: Path, database_url: str | None) -> Iterator[Services]:
    """Services on `database_url` (None: SQLite in `root`); no Redis is asked anything."""
    env = {
        "HOTLINE_DATA_DIR": str(root),
        "REDIS_URL": f"unix://{root}/no-redis.sock",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
        "HOTLINE_GATEWAY": "local",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    built = Services.build(load_settings(env, env_file=None))
    try:
        yield built
    finally:
        built.close()


def measure(label: str, count: int, runs: int, cluster_url: str | None) -> list[Finding]:
    results: dict[str, list[Pass]] = {"baseline": [], "wave": []}
    for run in range(runs):
        for kind in results:
            url = fresh_postgres(cluster_url, f"visits_{run}_{kind}") if cluster_url else None
            with tempfile.TemporaryDirectory(prefix="hl-visits-") as tmp, installed(Path(tmp), url) as services:
                seed(services.engine, count)
                done = wave(services) if kind == "wave" else baseline(services, count)
                results[kind].append(done)
    digests = {p.digest for p in results["wave"]}
    if len(digests) != 1:
        raise SystemExit(f"B11 {label}: the runs left different rows ({sorted(digests)})")
    ms = {kind: [1000 * p.seconds / count for p in passes] for kind, passes in results.items()}
    cpu = {kind: [1000 * p.cpu / count for p in passes] for kind, passes in results.items()}
    statements = {kind: [p.statements / count for p in passes] for kind, passes in results.items()}
    ratios = [w / b for w, b in zip(ms["wave"], ms["baseline"], strict=True)]
    print(f"**{label}**\n")
    print("| what | ms per visit or task (median; runs) | this process's CPU, ms (median) | statements each |")
    print("|---|---|---|---|")
    for kind, what in (("wave", "the visit wave"), ("baseline", "baseline: plain create_task")):
        print(
            f"| {what} | {median(ms[kind]):.2f} ({_runs(ms[kind])}) | {median(cpu[kind]):.2f} | "
            f"{median(statements[kind]):.2f} |"
        )
    whole = median([p.seconds for p in results["wave"]])
    print(
        f"\nThe wave: {whole:.2f} s for {count:,} visits, {median(ratios):.1f}× the baseline's time per task "
        f"(runs: {_runs(ratios, '.1f')}). Digest of what it left: {digests.pop()}, the same in every run.\n"
    )
    ratio = median(ratios)
    return [
        Finding(
            "B11",
            f"visit wave, {label}: time per visit",
            f"{median(ms['wave']):.1f} ms, {ratio:.1f}× a plain task",
            f"≤ {TARGET_RATIO:.0f}× a plain task",
            ratio <= TARGET_RATIO,
        ),
        Reported(
            "B11",
            f"visit wave, {label}: SQL statements per visit",
            f"{median(statements['wave']):.2f} (a plain task: {median(statements['baseline']):.1f})",
            "",
            True,
        ),
    ]


def _runs(values: list[float], spec: str = ".2f") -> str:
    return ", ".join(format(value, spec) for value in values)


def main(count: int = 500, runs: int = 3, postgres: bool = True) -> list[Finding]:
    print(f"### B11 · The visit wave: {count:,} unanswered check-ins, urgent visits ({datetime.now(UTC):%Y-%m-%d})\n")
    print(__doc__.split("\n\n")[1] + "\n")
    print(__doc__.split("\n\n")[2] + "\n")
    findings = measure("SQLite", count, runs, None)
    if postgres and shutil.which("initdb") and shutil.which("pg_ctl"):
        with postgres_cluster() as cluster_url:
            findings += measure("PostgreSQL", count, runs, cluster_url)
    else:
        print("PostgreSQL: not measured (the smoke run, or no initdb on the PATH).\n")
    return findings


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
