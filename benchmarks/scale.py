"""Scale run on loopback: B1's inbound SMS load and B3's check-in campaign carried by a multi-process topology.

All real processes: a throwaway PostgreSQL 15 cluster (unix socket, temp dir), one redis-server (the embedded one,
AOF on), two `hotline serve` behind nginx (deploy/nginx/hotline.conf's proxy settings, plain HTTP), four `hotline
worker` and two `hotline scheduler`; the local gateway; one register of N residents (bulk-inserted, not timed).
Every process runs a clock set to 09:05 Asia/Shanghai today (`HOTLINE_CLOCK_SPEED` just above 1, so real time,
but the scheduler ticks every 3 s instead of 30 s), so the 09:00 slot is due when the schedulers start.

- B3 on it: the schedulers' ticks make the day and decide every check-in; the workers hand each SMS to the local
  gateway. Timed from the first tick (the schedulers' log) until every check-in SMS is in `local_outbox`.
- B1 on it, afterwards: wrk posts signed inbound SMS to nginx (B1's connections and duration); every request
  answered 200 must be a stored row, and the workers must turn every message into its task and SMS: the drain,
  timed from the end of the load.
- Then every SMS handed to the gateway is counted by its outbound id (`?o=<id>` in its status callback): each
  exactly once, every check-in SMS among them. A lost or duplicated SMS ends the run with an error.

Baseline in the same run, same sizes: B3's in-process campaign on SQLite (`benchmarks.checkin_campaign`'s code),
and B1's single `hotline serve` on SQLite and its embedded Redis, wrk taking turns with the scale topology.

    python -m benchmarks.scale [--smoke] [RESIDENTS [SECONDS [RUNS]]]
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from redis import Redis
from rq import Worker
from sqlalchemy import Engine, func, select

from benchmarks import checkin_campaign as b3
from benchmarks.common import (
    Finding,
    clean_env,
    free_port,
    hotline,
    load_balancer,
    peak_rss_mb,
    postgres_cluster,
    process,
)
from benchmarks.register_fixture import generate_register
from benchmarks.scale_report import SCHEDULERS, WEB, WORKERS, Campaign, Counted, report
from benchmarks.sms_throughput import THREADS, WRK, WrkRun, write_requests, wrk
from dispatch.checkins.schedule import make_checkins
from dispatch.db import make_engine
from dispatch.models import Checkin, InboundMessage, LocalOutboxEntry, OutboundMessage, OutboundStatus, Task
from hotline.embedded_redis import EmbeddedRedis
from hotline.settings import load_settings
from hotline.webhooks.signatures import TwilioSignatureCheck

TIMEOUT = 600.0  # seconds: the campaign or a drain not done by then is a failure
FIRST_RATE = 5000.0  # req/s: how many distinct requests to sign before the first run (then: the fastest seen)
WAITING = OutboundMessage.status.in_([OutboundStatus.PENDING, OutboundStatus.SENDING])


def single_campaign(root: Path, residents: int, now: datetime) -> float:
    """B3's in-process campaign (make, decide + queue, hand to gateway) on SQLite. Returns its seconds."""
    server = EmbeddedRedis(root / "redis")
    server.start()
    try:
        with b3._services(root / "var", server.url) as services:
            services.clock = lambda: now
            generate_register(services.engine, residents, now - timedelta(days=10))
            started = time.perf_counter()
            with services.sessions.begin() as session:
                made = make_checkins(session, now, services.intake)
            decided = b3._decide(services, now)
            b3.hand_to_gateway(services)
            seconds = time.perf_counter() - started
            if (made, decided, b3._counts(services)) != (residents, residents, (residents, residents)):
                raise SystemExit(f"single-machine campaign: made {made}, decided {decided}, {b3._counts(services)}")
    finally:
        server.stop()
    return seconds


@contextlib.contextmanager
def hotline_process(args: list[str], env: dict[str, str], log: Path, ready_url: str | None = None) -> Iterator[int]:
    """`hotline ARGS` in its own session, its log kept in `log`; SIGTERM on the way out (then SIGKILL)."""
    command = [sys.executable, "-m", "hotline", *args]
    with process(command, env, ready_url=ready_url, log=log, stop=signal.SIGTERM) as child:
        yield child.pid


def first_tick(logs: list[Path]) -> float | None:
    """When a scheduler first enqueued the check-in tick (epoch seconds), from its log."""
    found = []
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if "Enqueued job checkin_tick" in line:
                found.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp())
                break
    return min(found, default=None)


def wait_for(what: str, done: Callable[[], object]) -> float:
    """Poll `done()` every 0.2 s until it is true; returns the seconds waited. A timeout ends the run."""
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > TIMEOUT:
            raise SystemExit(f"scale run: {what} not done after {TIMEOUT:.0f} s")
        time.sleep(0.2)
    return time.perf_counter() - started


def drained(engine: Engine) -> bool:
    """Every inbound message processed and every outbound one handed over (or cancelled): the database's word."""
    with engine.connect() as conn:
        unprocessed = conn.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None)))
        waiting = conn.scalar(select(func.count()).select_from(OutboundMessage).where(WAITING))
    return not unprocessed and not waiting


def scale_campaign(engine: Engine, residents: int, logs: list[Path], began: float) -> Campaign:
    """Wait until every check-in SMS is in the local outbox and nothing waits; count them by outbound id."""

    def done() -> bool:
        with engine.connect() as conn:
            outbox = conn.scalar(select(func.count()).select_from(LocalOutboxEntry))
        return bool(outbox and outbox >= residents and drained(engine))

    wait_for("the check-in campaign", done)
    ended = time.time()
    tick = first_tick(logs) or began
    with engine.connect() as conn:
        checkins = conn.scalar(select(func.count()).select_from(Checkin)) or 0
        first_sms = set(
            conn.scalars(
                select(OutboundMessage.id).where(
                    OutboundMessage.dedupe_key == func.concat("checkin:", OutboundMessage.checkin_id, ":sms")
                )
            )
        )
    received = handed_over(engine)
    return Campaign(ended - tick, checkins, sum(1 for i in first_sms if received[i] == 1))


def handed_over(engine: Engine) -> Counter[int]:
    """How many times the local gateway recorded each outbound id (`?o=<id>` in the status callback)."""
    with engine.connect() as conn:
        callbacks = conn.scalars(select(LocalOutboxEntry.status_callback))
        return Counter(int(parse_qs(urlsplit(url or "").query).get("o", ["0"])[0]) for url in callbacks)


def count_run(engine: Engine, result: WrkRun, sids: list[list[str]], run: int) -> Counted:
    """B1's count: every request answered 200 must be a stored row (in flight when wrk stopped: may be stored)."""
    sent = {sid for thread_sids in sids for sid in thread_sids[: result.issued]}
    with engine.connect() as conn:
        stored = set(
            conn.scalars(select(InboundMessage.provider_sid).where(InboundMessage.provider_sid.like(f"SM{run:04x}%")))
        )
    return Counted(result, len(stored), max(0, result.ok - len(stored)), len(stored - sent))


def main(residents: int = 100_000, seconds: float = 10, runs: int = 1, warm_up: bool = True) -> list[Finding]:
    if WRK is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    now = b3._campaign_now()
    with tempfile.TemporaryDirectory(prefix="hlscale-") as name, contextlib.ExitStack() as stack:
        tmp = Path(name)
        single_b3_s = single_campaign(tmp / "single-b3", residents, now)

        database_url = stack.enter_context(postgres_cluster())
        redis_server = EmbeddedRedis(tmp / "redis")
        redis_server.start()
        stack.callback(redis_server.stop)
        lb_port, web_ports = free_port(), [free_port() for _ in range(WEB)]
        env = clean_env(
            HOTLINE_DATA_DIR=str(tmp / "var"),
            DATABASE_URL=database_url,
            REDIS_URL=redis_server.url,
            HOTLINE_GATEWAY="local",
            HOTLINE_PUBLIC_URL=f"http://127.0.0.1:{lb_port}",
            HOTLINE_CLOCK_SPEED="1.000001",
            HOTLINE_CLOCK_START=f"{time.time()}@{now.timestamp()}",
        )
        hotline(env, "db", "upgrade")
        settings = load_settings(env, env_file=None)
        engine = make_engine(settings.database_url)
        stack.callback(engine.dispose)
        generate_register(engine, residents, now - timedelta(days=10))
        logs = tmp / "logs"
        logs.mkdir()

        pids = {}
        for i, port in enumerate(web_ports):
            ready = f"http://127.0.0.1:{port}/healthz"
            serve_args = ["serve", "--port", str(port)]
            pids[f"web{i}"] = stack.enter_context(hotline_process(serve_args, env, logs / f"web{i}.log", ready))
        stack.enter_context(load_balancer(tmp / "nginx", lb_port, web_ports))
        for i in range(WORKERS):
            pids[f"worker{i}"] = stack.enter_context(hotline_process(["worker"], env, logs / f"worker{i}.log"))
        redis = stack.enter_context(Redis.from_url(redis_server.url))
        wait_for("four workers up", lambda: Worker.count(connection=redis) >= WORKERS)

        # B3: the schedulers' first ticks make and send the day.
        began = time.time()
        scheduler_logs = [logs / f"scheduler{i}.log" for i in range(SCHEDULERS)]
        for log in scheduler_logs:
            stack.enter_context(hotline_process(["scheduler"], env, log))
        campaign = scale_campaign(engine, residents, scheduler_logs, began)

        # B1: single `hotline serve` on SQLite and scale behind nginx take turns; the scale workers drain after each.
        single_dir, single_port = tmp / "single-b1", free_port()
        single_env = clean_env(
            HOTLINE_DATA_DIR=str(single_dir / "var"), HOTLINE_PUBLIC_URL=f"http://127.0.0.1:{single_port}"
        )
        hotline(single_env, "db", "upgrade")
        single_settings = load_settings(single_env, env_file=None)
        single_engine = make_engine(single_settings.database_url)
        stack.callback(single_engine.dispose)
        generate_register(single_engine, residents, now - timedelta(days=10))
        serve = [sys.executable, "-m", "hotline", "serve", "--port", str(single_port)]
        stack.enter_context(process(serve, single_env, ready_url=f"http://127.0.0.1:{single_port}/healthz"))
        topologies = {
            "single": (
                single_port,
                single_engine,
                TwilioSignatureCheck(str(single_settings.twilio_auth_token), single_settings.public_url),
            ),
            "scale": (lb_port, engine, TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url)),
        }
        counted: dict[str, list[Counted]] = {"single": [], "scale": []}
        drains: list[float] = []
        fastest = FIRST_RATE
        for run in range(0 if warm_up else 1, runs + 1):  # run 0: a one-second warm-up of each, not counted
            for which, (port, db, signer) in topologies.items():
                per_thread = 2000 if run == 0 else int(fastest * seconds * 1.5 / THREADS) + 1000
                sids = write_requests(tmp / f"requests-{which}", signer, per_thread, residents, run)
                result = wrk(port, tmp / f"requests-{which}", 1 if run == 0 else seconds)
                if which == "scale":
                    drains.append(wait_for("the workers' drain", lambda: drained(engine)))
                if run:
                    fastest = max(fastest, result.rate)
                    counted[which].append(count_run(db, result, sids, run))
        rss = {who: peak_rss_mb(pid) for who, pid in pids.items()}
        received = handed_over(engine)
        with engine.connect() as conn:
            sent = set(conn.scalars(select(OutboundMessage.id).where(OutboundMessage.status == OutboundStatus.SENT)))
            statuses = Counter(conn.scalars(select(OutboundMessage.status)))
            outcomes = Counter(conn.scalars(select(InboundMessage.outcome)))
            tasks = conn.scalar(select(func.count(func.distinct(Task.source_message_id)))) or 0
            # A need the household already has open joins that task: one task per household that wrote.
            households = (
                conn.scalar(
                    select(func.count(func.distinct(InboundMessage.resident_id))).where(
                        InboundMessage.outcome == "task_created"
                    )
                )
                or 0
            )

    return report(
        residents,
        seconds,
        runs,
        warm_up,
        campaign,
        single_b3_s,
        counted,
        drains[warm_up:],
        rss,
        received,
        sent,
        statuses,
        outcomes,
        (tasks, households),
    )


if __name__ == "__main__":
    argv = [a for a in sys.argv[1:] if a != "--smoke"]
    smoke = "--smoke" in sys.argv
    sizes = (2_000, 1.0, 1) if smoke else (100_000, 10.0, 1)
    findings = main(
        int(argv[0]) if argv else sizes[0],
        float(argv[1]) if len(argv) > 1 else sizes[1],
        int(argv[2]) if len(argv) > 2 else sizes[2],
        warm_up=not smoke,
    )
    print("", "Summary rows (for BENCHMARKS.md's table):", *(finding.row() for finding in findings), sep="\n")
