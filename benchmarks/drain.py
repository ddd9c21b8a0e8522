"""The drain (B7): stored inbound SMS turned into tasks, offers and receipts by one worker.

N stored messages from N residents (a liaison per eight households, each resident's 09:00 check-in sent half an
hour before) are drained by one real RQ worker in burst mode, in this process, through all the hotline's queues
until they are empty: the task offers and receipts handed to the local gateway too. The messages are queued: for
today's path one `inbound-<id>` job each; for the batched path as the web processes' group commits queue them, a
job per 32. Twice, on the same data in a fresh database each time: today's path, each job handling its own message,
a batch of one through the same code, and handing its SMS to the gateway itself (the jobs' functions called with
the take of waiting jobs switched off), then the batched path: the first inbound job takes the waiting ones and
handles up to 500 messages in one transaction, and the first send job takes the waiting send jobs and hands their
SMS to the gateway together. The job modules are imported before the clock starts, as in a running worker. On
SQLite, and on a throwaway PostgreSQL cluster when `initdb` is on the PATH.

The mix, as at 09:00: check-in replies ("1", "好", temperatures), needs ("想买菜", "帮我买药", a fever, "不舒服"),
words nobody can read, a few liaison replies ("接12") and a few unknown numbers. Both paths must leave the same
tasks, offers, outbound rows and check-in answers (counts, and each household's task categories): checked.

Figures: messages per second from the first job queued to every queue empty (every task, offer and receipt
stored and every SMS handed to the gateway: the main figure), and to the inbound queue empty (decided, the SMS
not yet handed over); the worker's CPU per message (`time.process_time`); the batched path's rate as a ratio to
the per-message path's in the same run.

    python -m benchmarks.drain [MESSAGES [RUNS]]
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rq import SimpleWorker
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from benchmarks.common import Finding, Reported, median, postgres_cluster
from benchmarks.register_fixture import generate_register
from dispatch.db import upgrade
from dispatch.inbound import InboundSms, store_inbound_batch
from dispatch.models import Checkin, CheckinStatus, OutboundMessage, Task
from hotline import services as services_module
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs import inbound, sends
from hotline.jobs.worker import HotlineJob
from hotline.services import Services
from hotline.settings import load_settings
from workers.queues import (
    ALL_QUEUES,
    INBOUND,
    INBOUND_PER_JOB,
    JOB_FUNCTIONS,
    enqueue_inbound_many,
    take_waiting_inbound,
    take_waiting_sends,
)

RESIDENT_PHONE = 13900000000  # generate_register's first resident mobile, +86 omitted
LIAISON_PHONE = 13800000000  # and its first liaison's
HOTLINE_NUMBER = "+8657112345678"
# One in twenty each: (share, words). Residents write most of it; liaisons and strangers a little.
RESIDENT_WORDS = (
    (4, ("1", "好", "好的", "我很好")),
    (2, ("36.5", "体温36.8")),
    (6, ("想买菜", "帮我买药", "帮我取个快递", "想买点米和菜", "药吃完了")),
    (1, ("38.6", "发烧了")),
    (1, ("不舒服",)),
    (1, ("今天天气不错",)),
)
LIAISON_SHARE, STRANGER_SHARE = 1, 1  # of 20 (the rest, 16, residents')
PATHS = ("per message", "batched")


@dataclass(frozen=True)
class Drained:
    """One path's run: seconds and the worker's CPU seconds from the first job to the inbound queue empty (every
    task, offer and receipt stored and handed over), then to every queue empty (every SMS handed to the
    gateway), and what it left."""

    seconds: float
    cpu: float
    all_seconds: float
    all_cpu: float
    outcome: dict[str, object]


class QuietWorker(SimpleWorker):
    """The hotline's worker (`hotline.jobs.worker.build_worker`) without the command channel's listening thread."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def messages(count: int) -> list[InboundSms]:
    """`count` inbound SMS, the i-th from resident i (or a liaison, or a stranger), in the mix above."""
    resident_words = [group[i % len(group)] for share, group in RESIDENT_WORDS for i in range(share)]
    out = []
    for i in range(count):
        slot = i % 20
        if slot == 0:
            sender, body = f"+86{LIAISON_PHONE + (i // 8) % max(1, count // 8)}", f"接{i // 20 + 1}"
        elif slot == 1:
            sender, body = f"+86137{i:08d}", "你好"
        else:
            sender, body = f"+86{RESIDENT_PHONE + i}", resident_words[(i * 7 + i // 20) % len(resident_words)]
        out.append(InboundSms(f"SM{i:032d}", sender, HOTLINE_NUMBER, body, None, "twilio"))
    return out


def seed(engine: Engine, count: int, now: datetime) -> None:
    """The register, each resident's check-in sent 30 minutes ago, and the stored messages (none processed)."""
    upgrade(engine)
    generate_register(engine, count, now - timedelta(days=30))
    sent = now - timedelta(minutes=30)
    rows = [
        {
            "resident_id": i + 1,
            "household_id": i + 1,
            "local_date": date(2026, 12, 7),
            "slot": "09:00",
            "channel": "sms",
            "phone": f"+86{RESIDENT_PHONE + i}",
            "language": "zh-CN",
            "due_at": sent,
            "status": CheckinStatus.SENT,
            "rung": 1,
            "sent_at": sent,
            "visit_at": now + timedelta(hours=2),
            "calls_placed": 0,
            "calls_left": 0,
            "created_at": sent,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Checkin), rows)


def outcome(engine: Engine) -> dict[str, object]:
    """What a drain left, in terms both paths must agree on."""
    with engine.connect() as conn:
        categories = Counter(
            (row.household_id, str(row.category), str(row.priority))
            for row in conn.execute(select(Task.household_id, Task.category, Task.priority))
        )
        counts = {
            table: conn.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
            for table in ("tasks", "task_events", "task_offers", "outbound_messages", "temperature_readings")
        }
        unprocessed = conn.scalar(text("SELECT count(*) FROM inbound_messages WHERE processed_at IS NULL"))
        outcomes = Counter(r[0] for r in conn.execute(text("SELECT outcome FROM inbound_messages")))
        answered = Counter(r[0] for r in conn.execute(select(Checkin.status)))
        kinds = Counter(
            (
                r.dedupe_key.split(":")[0],
                r.dedupe_key.split(":")[2] if r.dedupe_key.startswith("task:") else "",
                r.status,
            )
            for r in conn.execute(select(OutboundMessage.dedupe_key, OutboundMessage.status))
        )
    return {
        "counts": counts,
        "unprocessed": unprocessed,
        "outcomes": dict(outcomes),
        "checkins": dict(answered),
        "outbound": dict(kinds),
        "tasks by household": categories,
    }


@contextlib.contextmanager
def installed(root: Path, redis: EmbeddedRedis, database_url: str | None) -> Iterator[Services]:
    env = {
        "HOTLINE_DATA_DIR": str(root),
        "REDIS_URL": redis.url,
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
        "TWILIO_AUTH_TOKEN": "0" * 32,
        "HOTLINE_GATEWAY": "local",
        "TWILIO_FROM_NUMBER": HOTLINE_NUMBER,
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    built = Services.build(load_settings(env, env_file=None))
    services_module.install(built)
    try:
        yield built
    finally:
        services_module.install(None)
        built.close()


def drain_once(path: str, count: int, redis: EmbeddedRedis, database_url: str | None) -> Drained:
    """Seed a fresh database, queue the stored messages as `path` does, and time one worker draining them."""
    with tempfile.TemporaryDirectory(prefix="hl-drain-") as tmp, installed(Path(tmp), redis, database_url) as services:
        now = datetime.now(UTC)
        seed(services.engine, count, now)
        with services.sessions.begin() as session:
            ids = [stored.message_id for stored in store_inbound_batch(session, messages(count))]
        services.redis.flushall()
        worker = QuietWorker([INBOUND], connection=services.redis, job_class=HotlineJob)
        import_job_functions()  # as a running worker has them: the clock times the drain, not the first import
        began, cpu = time.perf_counter(), time.process_time()
        # Today's path: a job per message, each handling its own message only, a batch of one, and handing its SMS
        # to the gateway itself; it takes none of the jobs waiting behind it. Batched: queued as the web processes'
        # group commits queue them, a job per 32.
        alone = path == "per message"
        enqueue_inbound_many(services.redis, ids, per_job=1 if alone else INBOUND_PER_JOB)
        inbound.take_waiting_inbound = (lambda redis: []) if alone else take_waiting_inbound
        sends.take_waiting_sends = (lambda redis: []) if alone else take_waiting_sends
        worker.work(burst=True, logging_level="WARNING")
        seconds, inbound_cpu = time.perf_counter() - began, time.process_time() - cpu
        QuietWorker(list(ALL_QUEUES), connection=services.redis, job_class=HotlineJob).work(
            burst=True, logging_level="WARNING"
        )
        all_seconds, all_cpu = time.perf_counter() - began, time.process_time() - cpu
        return Drained(seconds, inbound_cpu, all_seconds, all_cpu, outcome(services.engine))


def import_job_functions() -> None:
    """Import every job's function, as RQ does when it first runs a job of that kind."""
    for path in JOB_FUNCTIONS:
        importlib.import_module(path.rsplit(".", 1)[0])


def fresh_postgres(cluster_url: str, name: str) -> str:
    """A new empty database on the cluster; its URL."""
    admin = create_engine(cluster_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(cluster_url).set(database=name).render_as_string(hide_password=False)


def compare(label: str, count: int, runs: int, redis: EmbeddedRedis, cluster_url: str | None) -> list[Finding]:
    results: dict[str, list[Drained]] = {path: [] for path in PATHS}
    for run in range(runs):
        for path in PATHS:
            url = fresh_postgres(cluster_url, f"drain_{run}_{PATHS.index(path)}") if cluster_url else None
            results[path].append(drain_once(path, count, redis, url))
    reference = results["per message"][0].outcome
    for path in PATHS:
        for drained in results[path]:
            if drained.outcome != reference:
                raise SystemExit(f"B7 {label}: the {path} path left {drained.outcome}, not {reference}")
    rate = {path: [count / d.all_seconds for d in results[path]] for path in PATHS}
    cpu = {path: [1000 * d.all_cpu / count for d in results[path]] for path in PATHS}
    decided = {path: [count / d.seconds for d in results[path]] for path in PATHS}
    decided_cpu = {path: [1000 * d.cpu / count for d in results[path]] for path in PATHS}
    ratios = [b / a for a, b in zip(rate["per message"], rate["batched"], strict=True)]
    decided_ratios = [b / a for a, b in zip(decided["per message"], decided["batched"], strict=True)]
    print(f"**{label}**\n")
    print(
        "| path | every SMS handed over: messages/s (median; runs) | CPU per message, ms (median; runs) | "
        "decided, SMS not yet handed over: messages/s | CPU per message, ms |"
    )
    print("|---|---|---|---|---|")
    for path in PATHS:
        print(
            f"| {path} | {median(rate[path]):.0f} ({_runs(rate[path], '.0f')}) | "
            f"{median(cpu[path]):.1f} ({_runs(cpu[path], '.1f')}) | "
            f"{median(decided[path]):.0f} ({_runs(decided[path], '.0f')}) | "
            f"{median(decided_cpu[path]):.1f} ({_runs(decided_cpu[path], '.1f')}) |"
        )
    print(f"\nBatched / per message, every SMS handed over: {median(ratios):.1f}× (runs: {_runs(ratios, '.1f')}).")
    print(f"Decided only: {median(decided_ratios):.1f}× (runs: {_runs(decided_ratios, '.1f')}).")
    counts = reference["counts"]
    print(f"Both paths left the same {counts} and the same tasks per household.\n")
    target = 500 if label.startswith("SQLite") else 300
    return [
        Finding(
            "B7", f"drain, {label}: batched vs per message", f"{median(ratios):.1f}×", "≥ 10×", median(ratios) >= 10
        ),
        Finding(
            "B7",
            f"drain, {label}: batched, every SMS handed over",
            f"{median(rate['batched']):.0f} msg/s",
            f"≥ {target} msg/s",
            median(rate["batched"]) >= target,
        ),
        Reported(
            "B7",
            f"drain, {label}: worker CPU per message",
            f"{median(cpu['per message']):.1f} → {median(cpu['batched']):.1f} ms",
            "",
            True,
        ),
    ]


def _runs(values: list[float], spec: str) -> str:
    return ", ".join(format(value, spec) for value in values)


def main(count: int = 1000, runs: int = 3, postgres: bool = True) -> list[Finding]:
    print(f"### B7 · The drain: {count:,} stored SMS, one worker\n")
    print(__doc__.split("\n\n")[1] + "\n")
    findings = []
    with tempfile.TemporaryDirectory(prefix="hl-") as tmp:
        redis = EmbeddedRedis(Path(tmp))
        redis.start()
        try:
            findings += compare("SQLite", count, runs, redis, None)
            if postgres and shutil.which("initdb") and shutil.which("pg_ctl"):
                with postgres_cluster() as cluster_url:
                    findings += compare("PostgreSQL", count, runs, redis, cluster_url)
            else:
                print("PostgreSQL: not measured (the smoke run, or no initdb on the PATH).\n")
        finally:
            redis.stop()
    return findings


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
