"""Two schedulers and four workers over a day's check-ins: every check-in, and every rung of its ladder, sent
exactly once.

Separate processes against one PostgreSQL and one redis-server: `hotline scheduler` twice (each enqueues its own
check-in tick and sweep) and `hotline worker` four times, with the local gateway and a fast clock from 08:55. On top
of the schedulers' ticks the test queues a tick for each worker every half second, so ticks really run side by side
and reach for the same due rows at once. Nobody answers, so each check-in climbs its ladder: the check-in SMS (or
call, for voice residents), after the window a reminder and a call, at the deadline a visit task offered to the
liaison, which climbs the task ladder to the duty phone. A tenth of the residents are under observation, so they
have two slots. Then every decision is counted in the database, and every message in the local gateway's outbox,
which records each hand-over once per send.

Two runs: the morning of 2,000 residents (08:55 to 10:45: every check-in goes), and the whole day, to 08:00 the
next morning, of 400 (reminders, calls, visits and the task ladder too: every visit task is offered and climbs
alone, so its SMS are one job each, about three per resident). `HOTLINE_MORNING_RESIDENTS=N` runs the morning of N
residents instead (10,000 takes about 100 s on a 2-core machine), and `HOTLINE_DAY_RESIDENTS=N` the whole day of N
residents instead of both.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import Engine, create_engine, func, select, update

from benchmarks.register_fixture import generate_register
from dispatch.db import upgrade
from dispatch.models import (
    Checkin,
    CheckinEvent,
    CheckinRung,
    CheckinStatus,
    LocalOutboxEntry,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentCategory,
    Task,
    TaskCategory,
)
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs.checkins import checkin_tick
from tests.chaos.cluster import Child, wait_until_drained
from tests.conftest import HOTLINE_NUMBER, PUBLIC_URL, TEST_AUTH_TOKEN, TEST_DATABASE_URL, reset_database
from workers.queues import MAINTENANCE

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="needs PostgreSQL: SQLite has one writer at a time, so concurrent claiming (FOR UPDATE SKIP LOCKED) is "
    "PostgreSQL's; the PostgreSQL half of CI runs it, and the SQLite half runs two workers in the fault run",
)

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 1)
# Simulated seconds per real second. The scheduler ticks every 3 s of real time under a fast clock: at 3600 that is
# three simulated hours, too coarse for a morning's rungs; the whole day is long enough for them either way.
SPEED = {"morning": 600, "day": 3600}
START = datetime(2026, 12, 1, 8, 55, tzinfo=ZONE)
MORNING = datetime(2026, 12, 1, 10, 45, tzinfo=ZONE)  # every check-in is out; no reminder yet
REMINDERS = datetime(2026, 12, 1, 11, 0, tzinfo=ZONE)  # the 09:00 check-in's window (120 minutes) is over
NEXT_MORNING = datetime(2026, 12, 2, 8, 0, tzinfo=ZONE)
SCHEDULERS, WORKERS = 2, 4
DRAIN_SECONDS = 600  # after the simulated time: the workers must have finished everything within this
RUNS = (
    [(int(os.environ["HOTLINE_DAY_RESIDENTS"]), "day")]
    if os.environ.get("HOTLINE_DAY_RESIDENTS")
    else [(int(os.environ.get("HOTLINE_MORNING_RESIDENTS") or 2_000), "morning"), (400, "day")]
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    built = create_engine(TEST_DATABASE_URL)
    reset_database(built)
    upgrade(built)
    yield built
    built.dispose()


@pytest.mark.parametrize(("residents", "run"), RUNS, ids=str)
def test_two_schedulers_and_four_workers_send_every_checkin_and_rung_exactly_once(
    engine: Engine, tmp_path: Path, residents: int, run: str
) -> None:
    end, speed = (MORNING if run == "morning" else NEXT_MORNING), SPEED[run]
    generate_register(engine, residents, START.astimezone(UTC) - timedelta(days=10))
    with engine.begin() as conn:  # a tenth on voice (a check-in call), a tenth under observation (two slots)
        conn.execute(update(Resident).where(Resident.id % 10 == 0).values(channel="voice"))
        observed = [ResidentCategory.UNDER_OBSERVATION.value]
        conn.execute(update(Resident).where(Resident.id % 10 == 1).values(categories=observed))
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    starts_at = time.time() + 4  # the processes are up by then; the simulated day starts at 08:55
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": redis_server.url,
        "HOTLINE_GATEWAY": "local",
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": HOTLINE_NUMBER,
        "HOTLINE_DUTY_PHONE": "+8657187654321",
        "HOTLINE_CLOCK_SPEED": str(speed),
        "HOTLINE_CLOCK_START": f"{starts_at}@{START.timestamp()}",
        "HOTLINE_SWEEP_SECONDS": "2",
    }
    children = [Child(f"scheduler{i}", ["scheduler"], logs / f"scheduler{i}.log") for i in range(SCHEDULERS)]
    children += [Child(f"worker{i}", ["worker"], logs / f"worker{i}.log") for i in range(WORKERS)]
    try:
        for child in children:
            child.start(env)
        _tick_side_by_side(redis_server.url, until=starts_at + (end - START).total_seconds() / speed)
        assert all(child.alive() for child in children), f"a process died; see {logs}"
        for scheduler in children[:SCHEDULERS]:  # the day is over: no more ticks; the workers finish what is left
            scheduler.kill(signal.SIGTERM)
        with Redis.from_url(redis_server.url) as redis:
            maintenance = Queue(MAINTENANCE, connection=redis)
            if run == "morning":  # the ticks still queued never run, an hour late, when the reminders are due
                maintenance.empty()
        if run == "day":  # a busy machine falls behind a fast clock: the day's last rungs are climbed by later ticks
            _tick_until_visited(engine, redis_server.url)
        drained_in = wait_until_drained(engine, redis_server.url, DRAIN_SECONDS)
    finally:
        for child in children:
            child.kill(signal.SIGTERM)
        redis_server.stop()
    print(f"{residents} residents to {end:%H:%M}; drained {drained_in:.1f} s after the simulated day")

    with engine.connect() as conn:
        checkins = conn.execute(
            select(
                Checkin.id,
                Checkin.resident_id,
                Checkin.slot,
                Checkin.channel,
                Checkin.status,
                Checkin.rung,
                Checkin.visit_task_id,
            ).where(Checkin.local_date == DAY)
        ).all()
        outbound = conn.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.dedupe_key,
                OutboundMessage.kind,
                OutboundMessage.status,
                OutboundMessage.checkin_id,
                OutboundMessage.task_id,
            )
        ).all()
        handed_over = conn.execute(
            select(LocalOutboxEntry.kind, LocalOutboxEntry.body, LocalOutboxEntry.status_callback)
        )
        events = conn.execute(
            select(CheckinEvent.checkin_id, CheckinEvent.kind, CheckinEvent.detail, CheckinEvent.at)
            .join(Checkin)
            .where(Checkin.local_date == DAY)
        ).all()
        visits = conn.execute(select(Task.id, Task.rung).where(Task.category == TaskCategory.VISIT)).all()
        # Each hand-over names the outbound row it was for: `?o=<id>` in its status callback or TwiML URL.
        received = Counter(_outbound_id(row.status_callback or row.body) for row in handed_over)

    # The day: one check-in per resident and slot, none left unsent, none answered.
    slots = Counter(row.slot for row in checkins)
    whole_day = run == "day"
    assert slots == {"09:00": residents, "15:00": residents // 10}
    assert len({(row.resident_id, row.slot) for row in checkins}) == len(checkins)
    if not whole_day:  # the morning: the afternoon's check-ins are made, and not yet due
        assert {row.status for row in checkins if row.slot == "15:00"} == {CheckinStatus.SCHEDULED}
        checkins = [row for row in checkins if row.slot == "09:00"]
    assert Counter(row.status for row in checkins) == {CheckinStatus.SENT: len(checkins)}
    # Every rung climbed once, and every decision made once.
    day_ids, visit_ids = {row.id for row in checkins}, {row.id for row in visits}
    of_the_day = [row for row in outbound if row.checkin_id in day_ids or row.task_id in visit_ids]
    keys = Counter(re.sub(r"\d+", "N", row.dedupe_key) for row in of_the_day)
    # The first contact and the first call of each check-in, counted per check-in: each must be exactly one.
    first_calls = Counter(
        row.checkin_id for row in of_the_day if row.dedupe_key.startswith(f"checkin:{row.checkin_id}:call:1")
    )
    first_sms = Counter(
        row.checkin_id for row in of_the_day if row.dedupe_key.startswith(f"checkin:{row.checkin_id}:sms")
    )
    assert first_sms == Counter({row.id: 1 for row in checkins if row.channel == "sms"})
    if whole_day:
        # Each climbed to its visit: a reminder per SMS check-in, a first call per check-in (a voice check-in's
        # first contact is its call, so it has two; no status report comes, so no retry), a visit task per
        # check-in (two of one household share the first while it is open), offered and climbed.
        assert Counter(row.rung for row in checkins) == {CheckinRung.VISIT: len(checkins)}
        # A rung that fell due in quiet hours (the ticks are three simulated hours apart) is recorded, not sent.
        reminded = Counter(row.checkin_id for row in events if row.kind == "reminded")
        assert reminded == Counter(day_ids)
        reminders_sent = {row.checkin_id for row in events if row.kind == "reminded" and row.detail == "sms and a call"}
        assert {row.checkin_id for row in of_the_day if row.dedupe_key.endswith(":reminder")} == reminders_sent
        # Calls: a voice check-in's first call is the check-in itself ("called 1"); a reminder's is "call 1".
        placed = Counter(row.detail for row in events if row.kind == "called")
        assert not placed.keys() - {"called 1", "call 1", "call 2", "not placed: quiet hours"}
        voice = {row.id for row in checkins if row.channel == "voice"}
        assert {row.checkin_id for row in events if row.detail == "called 1"} == voice
        assert keys["checkin:N:call:N"] == placed["called 1"] + placed["call 1"] + placed["call 2"]
        called_first = {row.checkin_id for row in events if row.detail in ("called 1", "call 1")}
        assert first_calls == Counter(called_first)
        assert all(row.visit_task_id is not None for row in checkins)
        assert visit_ids == {row.visit_task_id for row in checkins}
        assert keys["task:N:offer:N"] >= len(visits)
    else:
        # The morning: every check-in went (a voice check-in as its call), and nothing climbed before its time.
        # The fast clock passes 11:00, the reminders' time, 1.5 real seconds after the morning ends; on a busy
        # machine a tick of 10,000 check-ins can still be running then. A reminder is due by then and may go, once
        # (a reminder's call is its check-in's first call if it was an SMS check-in); none may go before.
        reminded = Counter(row.checkin_id for row in events if row.kind == "reminded")
        print(f"{len(reminded)} reminded at {REMINDERS:%H:%M} or later, by ticks still running")
        assert [row.at for row in events if row.kind == "reminded" and row.at < REMINDERS] == []
        assert max(reminded.values(), default=0) <= 1
        assert {row.id for row in checkins if row.rung != CheckinRung.SENT} == set(reminded)
        assert not {row.rung for row in checkins} - {CheckinRung.SENT, CheckinRung.REMINDED}
        assert first_calls == Counter(row.id for row in checkins if row.channel == "voice" or row.id in reminded)
        assert keys["checkin:N:reminder"] <= len(reminded)
        assert not [key for key in keys if "task" in key]
        assert visits == []
    assert len({row.dedupe_key for row in outbound}) == len(outbound)

    # Every decision handed to the phone network exactly once, and nothing handed over that was not decided.
    # (A check-in SMS or call whose moment passed before a worker reached it, into quiet hours or past an answer,
    # is cancelled instead: `cancel_unwanted`.)
    statuses = Counter(row.status for row in outbound)
    assert not statuses.keys() - {OutboundStatus.SENT, OutboundStatus.CANCELLED}, statuses
    assert max(received.values()) == 1, [item for item, n in received.items() if n > 1][:10]
    assert set(received) == {row.id for row in outbound if row.status == OutboundStatus.SENT}

    # Both schedulers enqueued ticks, and every worker did its share: the concurrency really happened. (How many
    # ticks a scheduler enqueued depends on how soon a busy machine started it, in a morning of 11 real seconds:
    # that it took part is what is checked; the ticks side by side are the test's own, queued every half second.)
    for child in children:
        text = child.log.read_text(errors="replace")
        if child.name.startswith("scheduler"):
            assert "Enqueued job checkin_tick" in text, child.name
        else:
            assert "Job OK" in text, child.name
    ticks = sum(child.log.read_text(errors="replace").count("checkin_tick") for child in children[SCHEDULERS:])
    assert ticks >= 10


def _tick_side_by_side(redis_url: str, until: float) -> None:
    """Until `until`, queue a tick for every worker every half second, on top of the schedulers' own: ticks then
    run side by side in all four workers, as with many more schedulers, and claim the same due check-ins at the
    same moment. (Two schedulers alone rarely overlap: a tick of 10,000 check-ins takes about a second.)"""
    with Redis.from_url(redis_url) as redis:
        queue = Queue(MAINTENANCE, connection=redis)
        while time.time() < until:
            queue.enqueue_many([Queue.prepare_data(checkin_tick, result_ttl=0) for _ in range(WORKERS)])
            time.sleep(min(0.5, max(0.0, until - time.time())))


def _tick_until_visited(engine: Engine, redis_url: str) -> None:
    """After the day, as the schedulers would go on doing: a tick whenever none waits, until every check-in of the
    day has climbed to its visit (bounded). One last tick is not enough on a busy machine: a tick skips the
    check-ins another transaction holds (a batch marking them sent), and only a later tick climbs those."""
    deadline = time.monotonic() + DRAIN_SECONDS
    with Redis.from_url(redis_url) as redis:
        maintenance = Queue(MAINTENANCE, connection=redis)
        while True:
            with engine.connect() as conn:
                below = conn.scalar(
                    select(func.count()).where(Checkin.local_date == DAY, Checkin.rung < CheckinRung.VISIT)
                )
            if not below:
                return
            assert time.monotonic() < deadline, f"{below} check-ins never climbed to their visit"
            if maintenance.count == 0:
                maintenance.enqueue(checkin_tick, result_ttl=0)
            time.sleep(0.5)


def _outbound_id(url: str | None) -> int:
    return int(parse_qs(urlsplit(url or "").query)["o"][0])
