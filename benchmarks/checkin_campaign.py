"""Daily check-in campaign: every resident's 09:00 check-in SMS, made, decided and handed to the local gateway.

One run, on loopback only: SQLite in a fresh data dir and a private redis-server on a unix socket. A register of
N residents (one household each, eight households per liaison, a mobile number each, registered ten days ago)
is written with bulk inserts before anything is timed. Then, with the clock at 09:05 Asia/Shanghai:

- make: `make_checkins` in one transaction;
- decide + queue: `send_due` batch after batch, each batch's SMS queued as batch jobs (`enqueue_batches`);
- hand to gateway: real RQ SimpleWorkers in burst mode until the queues are empty, then the local outbox counted.

Baseline, in the same run on a second fresh database: the naive way, one RQ job per SMS (`enqueue_send`, i.e.
`hotline.jobs.sends.send_sms`) on RQ's default forking `Worker`, for M already-decided SMS; and, on those same M rows
put back to pending, our batch path.

    python -m benchmarks.checkin_campaign [RESIDENTS [NAIVE]]
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from rq import Queue, SimpleWorker, Worker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import delete, func, select, update

from benchmarks.common import Finding, verdict
from benchmarks.register_fixture import generate_register
from benchmarks.worker_memory import worker_process_peak
from dispatch.checkins.schedule import BATCH, make_checkins, send_due
from dispatch.db import upgrade
from dispatch.models import (
    LocalOutboxEntry,
    OutboundMessage,
    OutboundStatus,
)
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs import sends
from hotline.jobs.checkins import SLICE_SECONDS
from hotline.services import Services, current, install
from hotline.settings import load_settings
from workers.queues import ALL_QUEUES, CHECKINS, OUTBOUND, enqueue_batches, enqueue_send

ZONE = ZoneInfo("Asia/Shanghai")
# Hand-off workers. Measured on a shared 2-core machine with 100,000 check-ins: one SimpleWorker in this process
# 13.4 s, two forked SimpleWorker processes 13.6 s. SQLite takes one writer at a time and a batch is mostly writes
# (claim, record, mark sent), so a second worker only waits for the lock: one it is.
WORKERS = 1
TIMEOUT = 300.0  # seconds: no wait in this benchmark lasts longer


def _rss_mb() -> float:
    """This process's resident set now (Linux), in MB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set (ru_maxrss, kB on Linux), in MB."""
    return resource.getrusage(who).ru_maxrss / 1024


@contextlib.contextmanager
def _signals_kept() -> Iterator[None]:
    """RQ workers take over SIGINT and SIGTERM; give this process its own handlers back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


@contextlib.contextmanager
def _services(data_dir: Path, redis_url: str) -> Iterator[Services]:
    """Services on a freshly migrated database and a flushed Redis, installed for in-process and forked workers."""
    env = {
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_GATEWAY": "local",
        "HOTLINE_PUBLIC_URL": "http://127.0.0.1:8000",
        "REDIS_URL": redis_url,
    }
    built = Services.build(load_settings(env, env_file=None))
    upgrade(built.engine)
    built.redis.flushall()
    install(built)
    try:
        yield built
    finally:
        install(None)
        built.close()


def _decide(services: Services, now: datetime) -> int:
    """`send_due` until a batch comes back short, queueing each batch's SMS as batch jobs. Returns SMS decided."""
    decided = 0
    while True:
        with services.sessions.begin() as session:
            sent = send_due(session, now, services.intake)
        enqueue_batches(services.redis, sent.outbound_ids)
        decided += len(sent.outbound_ids)
        if sum(sent.counts.values()) < BATCH:
            return decided


def _burst_worker() -> None:
    """A forked worker process: the installed services, with connections of its own."""
    services = current()
    services.engine.dispose(close=False)  # never touch the parent's SQLite connections
    SimpleWorker(list(ALL_QUEUES), connection=services.redis).work(
        burst=True, with_scheduler=True, logging_level="WARNING"
    )


def hand_to_gateway(services: Services, workers: int = WORKERS) -> tuple[float, int]:
    """Real RQ SimpleWorkers, in burst mode, until no batch is waiting or scheduled (a batch that runs past its
    slice queues the rest of itself a second later: burst workers are run again when it is due).

    Returns:
        The seconds it took, and how many extra rounds slices needed.
    """
    started = time.perf_counter()
    deadline = time.monotonic() + TIMEOUT
    scheduled = ScheduledJobRegistry(queue=Queue(CHECKINS, connection=services.redis))  # type: ignore[no-untyped-call]
    rounds = 0
    while True:
        if workers == 1:
            with _signals_kept():
                SimpleWorker(list(ALL_QUEUES), connection=services.redis).work(
                    burst=True, with_scheduler=True, logging_level="WARNING"
                )
        else:
            services.engine.dispose()  # children open their own connections
            fork = multiprocessing.get_context("fork")
            processes = [fork.Process(target=_burst_worker) for _ in range(workers)]
            for process in processes:
                process.start()
            for process in processes:
                process.join(max(1.0, deadline - time.monotonic()))
                if process.exitcode != 0:
                    process.kill()
                    raise SystemExit(f"a worker process ended with {process.exitcode}")
        if not scheduled.count:
            return time.perf_counter() - started, rounds
        if time.monotonic() > deadline:
            raise SystemExit("check-in batches still scheduled after the timeout")
        rounds += 1
        time.sleep(0.2)


def _counts(services: Services) -> tuple[int, int]:
    """Rows in the local outbox, and outbound messages marked sent."""
    with services.readonly() as session:
        outbox = session.scalar(select(func.count()).select_from(LocalOutboxEntry)) or 0
        sent_status = OutboundMessage.status == OutboundStatus.SENT
        sent = session.scalar(select(func.count()).select_from(OutboundMessage).where(sent_status)) or 0
    return outbox, sent


def _naive(services: Services, ids: list[int]) -> tuple[float, float]:
    """One RQ job per SMS on RQ's forking Worker. Returns seconds to enqueue, seconds for the burst."""
    started = time.perf_counter()
    for outbound_id in ids:
        enqueue_send(services.redis, outbound_id)
    enqueued = time.perf_counter() - started
    # Each job runs in a fork of this process: it finds the installed services and the job's modules already
    # imported (no SQLite connection open, so each child opens its own). This is the kind naive: a fresh worker
    # process that had not imported hotline.jobs.sends measured about 3× slower here, importing it in every child.
    # Naive means one SMS per job: a running send job takes none of the send jobs waiting behind it (since send
    # jobs are taken together, `send_sms` would otherwise hand these 2,000 over in a few batches).
    services.engine.dispose()
    started = time.perf_counter()
    with _signals_kept(), _one_sms_per_send_job():
        Worker([OUTBOUND], connection=services.redis).work(burst=True, logging_level="WARNING")
    return enqueued, time.perf_counter() - started


@contextlib.contextmanager
def _one_sms_per_send_job() -> Iterator[None]:
    """While inside, a send job hands over its own SMS alone (the forked children inherit it)."""
    taking = sends.take_waiting_sends
    sends.take_waiting_sends = lambda redis: []
    try:
        yield
    finally:
        sends.take_waiting_sends = taking


def _back_to_pending(services: Services) -> None:
    """Undo a hand-off: every outbound row pending again, the local outbox empty."""
    with services.sessions.begin() as session:
        session.execute(
            update(OutboundMessage).values(
                status=OutboundStatus.PENDING,
                provider_sid=None,
                claimed_at=None,
                sent_at=None,
                status_at=None,
                attempts=0,
            )
        )
        session.execute(delete(LocalOutboxEntry))


def _campaign_now() -> datetime:
    """Today 09:05 in Asia/Shanghai, as an aware UTC datetime: after the 09:00 slot, outside quiet hours."""
    return datetime.combine(datetime.now(ZONE).date(), clock_time(9, 5), ZONE).astimezone(UTC)


def main(residents: int = 100_000, naive: int = 2_000, workers: int = WORKERS) -> list[Finding]:
    now = _campaign_now()
    registered_at = now - timedelta(days=10)
    with tempfile.TemporaryDirectory(prefix="hlc-") as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            # Ours: N residents, the whole day.
            with _services(Path(tmp) / "ours", server.url) as services:
                services.clock = lambda: now
                assert not services.intake.checkin.is_quiet(now, ZONE)
                started = time.perf_counter()
                generate_register(services.engine, residents, registered_at)
                generate_s = time.perf_counter() - started
                rss = {"before make": (_rss_mb(), _peak_mb())}

                started = time.perf_counter()
                with services.sessions.begin() as session:
                    made = make_checkins(session, now, services.intake)
                make_s = time.perf_counter() - started
                rss["after make"] = (_rss_mb(), _peak_mb())
                assert made == residents, made

                started = time.perf_counter()
                decided = _decide(services, now)
                decide_s = time.perf_counter() - started
                rss["after decide + queue"] = (_rss_mb(), _peak_mb())
                assert decided == residents, decided

                hand_s, rounds = hand_to_gateway(services, workers)
                rss["after hand-off"] = (_rss_mb(), _peak_mb())
                workers_peak = _peak_mb(resource.RUSAGE_CHILDREN) if workers > 1 else None
                outbox, sent = _counts(services)
                assert (outbox, sent) == (residents, residents), (outbox, sent)
                _back_to_pending(services)
                worker_s, worker_peak = worker_process_peak(services, now)
                assert _counts(services) == (residents, residents), _counts(services)

            # Baseline: M already-decided SMS on a second fresh database, handed over the naive way, then ours.
            with _services(Path(tmp) / "naive", server.url) as services:
                services.clock = lambda: now
                generate_register(services.engine, naive, registered_at)
                with services.sessions.begin() as session:
                    make_checkins(session, now, services.intake)
                with services.sessions.begin() as session:
                    ids = []
                    while batch := send_due(session, now, services.intake).outbound_ids:
                        ids += batch
                assert len(ids) == naive, len(ids)
                naive_enqueue_s, naive_s = _naive(services, ids)
                assert _counts(services) == (naive, naive), _counts(services)

                _back_to_pending(services)
                started = time.perf_counter()
                enqueue_batches(services.redis, ids)
                small_queue_s = time.perf_counter() - started
                small_hand_s, _ = hand_to_gateway(services, workers)
                assert _counts(services) == (naive, naive), _counts(services)
        finally:
            server.stop()

    total_s = make_s + decide_s + hand_s
    ours_rate, ours_hand_rate, naive_rate = residents / total_s, residents / hand_s, naive / naive_s
    small_s = small_queue_s + small_hand_s
    where = f"{workers} forked SimpleWorker processes" if workers > 1 else "one SimpleWorker in this process"
    before, made_mb, decided_mb, handed_mb = (
        rss[k] for k in ("before make", "after make", "after decide + queue", "after hand-off")
    )
    flat = handed_mb[0] <= 1.1 * made_mb[0] and handed_mb[1] <= 1.1 * made_mb[1]

    lines = [
        f"### B3 · Daily check-in campaign, B5 · worker memory ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"{residents:,} registered residents (bulk-inserted beforehand, {generate_s:.1f} s, not timed); SQLite, the "
        "embedded redis-server, the local gateway;",
        "clock at 09:05 Asia/Shanghai. Ours: `make_checkins` in one transaction, `send_due` batches of "
        f"{BATCH:,} queued as batch jobs,",
        f"then real RQ workers ({where}, burst) until the local outbox holds every SMS.",
        f"Baseline, same run, second fresh database: {naive:,} decided SMS, one RQ job each (`enqueue_send`) on RQ's",
        "default forking `Worker`; then our batch path on the same rows, put back to pending.",
        "",
        "| step | messages | seconds | messages/s |",
        "|---|---|---|---|",
        f"| ours: make the day's check-ins | {residents:,} | {make_s:.2f} | {residents / make_s:,.0f} |",
        f"| ours: decide + queue batch jobs | {residents:,} | {decide_s:.2f} | {residents / decide_s:,.0f} |",
        f"| ours: hand to gateway | {residents:,} | {hand_s:.2f} | {ours_hand_rate:,.0f} |",
        f"| **ours: total** | {residents:,} | {total_s:.2f} | {ours_rate:,.0f} |",
        f"| ours on the baseline rows: queue + hand to gateway | {naive:,} | {small_s:.2f} | {naive / small_s:,.0f} |",
        f"| naive: enqueue one job per SMS | {naive:,} | {naive_enqueue_s:.2f} | {naive / naive_enqueue_s:,.0f} |",
        f"| naive: forking `Worker`, one job per SMS | {naive:,} | {naive_s:.2f} | {naive_rate:,.0f} |",
        "",
        f"Checked: {outbox:,} rows in the local outbox, {sent:,} outbound messages `sent`"
        + (f"; {rounds} extra worker round(s) for batches past their {SLICE_SECONDS:.0f} s slice." if rounds else "."),
        "",
        "Targets:",
        f"- {residents:,} made, decided and handed over in ≤ 60 s: {total_s:.1f} s {verdict(total_s <= 60)}"
        + ("" if residents == 100_000 else " (not a 100,000 run)"),
        f"- ours ≥ 25× the naive rate: end to end {ours_rate / naive_rate:.0f}× the naive hand-off alone "
        f"{verdict(ours_rate >= 25 * naive_rate)}; hand-off against hand-off {ours_hand_rate / naive_rate:.0f}×",
        f"- memory flat while sending (this process's RSS now / peak, MB): before make {before[0]:.0f} / "
        f"{before[1]:.0f}, after make {made_mb[0]:.0f} / {made_mb[1]:.0f}, after decide + queue {decided_mb[0]:.0f} / "
        f"{decided_mb[1]:.0f}, after hand-off {handed_mb[0]:.0f} / {handed_mb[1]:.0f} {verdict(flat)}"
        + (f"; worker processes' peak {workers_peak:.0f}" if workers_peak is not None else ""),
        "",
        f"B5 (worker): the same {residents:,} check-ins put back to pending and handed over again by `hotline worker "
        f"--burst` processes, as deployed ({worker_s:.1f} s, including each process's start): peak RSS "
        f"{worker_peak:.0f} MB; target ≤ 200 MB {verdict(worker_peak <= 200)}.",
    ]
    print("\n".join(lines))
    return [
        Finding(
            "B3",
            f"check-in campaign, {residents:,} residents",
            f"{total_s:.1f} s",
            "≤ 60 s for 100,000",
            total_s <= 60 * residents / 100_000,
        ),
        Finding(
            "B3",
            "campaign rate against the naive one",
            f"{ours_rate / naive_rate:.0f}×",
            "≥ 25×",
            ours_rate >= 25 * naive_rate,
        ),
        Finding(
            "B5",
            f"worker peak RSS ({residents:,} residents, B3's hand-off)",
            f"{worker_peak:.0f} MB",
            "≤ 200 MB",
            worker_peak <= 200,
        ),
    ]


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
