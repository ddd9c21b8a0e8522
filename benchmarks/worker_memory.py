"""B5, the worker's memory: the day's check-ins handed to the gateway by `hotline worker --burst` processes, as a
deployment runs them, each worker's peak resident set read from its own high-water mark while it runs.

Used by B3 (`benchmarks.checkin_campaign`), on the campaign it has just made.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from benchmarks.common import clean_env, peak_rss_mb
from dispatch.models import OutboundMessage
from hotline.services import Services
from workers.queues import CHECKINS, enqueue_batches

TIMEOUT = 300.0  # seconds: the check-in batches still scheduled by then are a failure


def _high_water_mb(pid: int) -> float:
    """A running process's peak resident set so far (VmHWM), in MB; 0 once it has exited."""
    try:
        return peak_rss_mb(pid)
    except (OSError, SystemExit):  # gone, or a zombie with no memory left to report
        return 0.0


def worker_process_peak(services: Services, now: datetime) -> tuple[float, float]:
    """Hand the day's check-ins to the gateway again, this time with `hotline worker --burst` processes, as a
    deployment runs them (its clock pinned to `now` by the demo's clock setting). Returns the seconds it took and
    the largest peak RSS (MB) of those worker processes. The day's outbound rows must be pending again."""
    with services.readonly() as session:
        ids = list(session.scalars(select(OutboundMessage.id).order_by(OutboundMessage.id)))
    enqueue_batches(services.redis, ids)
    settings = services.settings
    env = clean_env(
        HOTLINE_DATA_DIR=str(settings.data_dir),
        HOTLINE_GATEWAY="local",
        REDIS_URL=str(settings.redis_url),
        HOTLINE_PUBLIC_URL=settings.public_url,
        HOTLINE_CLOCK_SPEED="1.000001",
        HOTLINE_CLOCK_START=f"{time.time()}@{now.timestamp()}",
    )
    scheduled = ScheduledJobRegistry(queue=Queue(CHECKINS, connection=services.redis))  # type: ignore[no-untyped-call]
    started, deadline, peak = time.perf_counter(), time.monotonic() + TIMEOUT, 0.0
    while True:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hotline", "worker", "--burst"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The worker's own high-water mark (VmHWM), read while it runs: not its rusage, whose ru_maxrss starts at
        # this process's own peak (exec carries the forking process's high-water mark over), so in a full run,
        # after the other benchmarks, it measured this process rather than the worker.
        while worker.poll() is None:
            peak = max(peak, _high_water_mb(worker.pid))
            time.sleep(0.02)
        if worker.returncode:
            raise SystemExit(f"hotline worker --burst ended with {worker.returncode}")
        if not scheduled.count:
            return time.perf_counter() - started, peak
        if time.monotonic() > deadline:
            raise SystemExit("check-in batches still scheduled after the timeout")
        time.sleep(0.2)
