"""Queue names and the one way work is put on them. Redis only carries work; the database is the truth."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis
from rq import Queue, Retry, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry, clean_registries
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)

INBOUND = "hotline-inbound"  # inbound messages to turn into tasks
OUTBOUND = "hotline-outbound"  # SMS and calls to hand to the gateway
CHECKINS = "hotline-checkins"  # check-in SMS and calls, in batches: behind task and feedback SMS
BATCH = 500  # check-in rows per batch job
MAINTENANCE = "hotline-maintenance"  # the sweeper, the check-in tick and other periodic work
# In priority order: a worker empties one before the next. The sweeper and the check-in tick come before campaign
# batches, so a long campaign never holds up escalations, reminders or visits.
ALL_QUEUES = (INBOUND, OUTBOUND, MAINTENANCE, CHECKINS)

# Retries back off over about ten minutes; after that the sweeper keeps trying from the database.
RETRY = Retry(max=5, interval=[5, 20, 60, 120, 300])
SCHEDULER_SLACK_SECONDS = 60  # a scheduled job this late was dropped by a dead scheduler
# RQ sets a scheduler lock for (interval + 60) s and its scheduler refreshes it every interval: a lock with under
# this many seconds left and no scheduler behind it was taken by a worker that died before its scheduler started.
ORPHAN_LOCK_TTL = 50
FAILURE_TTL = 86400  # keep a failed job a day for inspection; the sweeper works from the database anyway
_FINAL_STATES = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def _enqueue_once(
    redis: Redis, queue_name: str, func: str, job_id: str, *args: object, delay: timedelta | None = None
) -> bool:
    """Enqueue `func(*args)` under `job_id` unless that job is already waiting, scheduled or running.

    Args:
        delay: Run it no sooner than this from now (a worker started with its scheduler moves it on time).

    Returns:
        True if a job was enqueued or requeued, False if one was already on its way.
    """
    queue = Queue(queue_name, connection=redis)
    try:
        # result_ttl=0: a finished job leaves no trace, so the same id can be used again; the job is idempotent.
        if delay is None:
            queue.enqueue_call(
                func, args=args, job_id=job_id, unique=True, result_ttl=0, retry=RETRY, failure_ttl=FAILURE_TTL
            )
        else:
            queue.enqueue_in(
                delay, func, *args, job_id=job_id, unique=True, result_ttl=0, retry=RETRY, failure_ttl=FAILURE_TTL
            )
        return True
    except DuplicateJobError:
        try:
            job = Job.fetch(job_id, connection=redis)
        except NoSuchJobError:
            return False  # it finished (results are not kept) between our two calls: nothing to do
        status = job.get_status(refresh=True)
        if status in _FINAL_STATES:
            job.requeue()
            return True
        if status == JobStatus.SCHEDULED and _overdue(queue, job):
            # Its retry time is long past and no scheduler moved it: RQ's scheduler process died. Run it now.
            ScheduledJobRegistry(queue=queue).remove(job)  # type: ignore[no-untyped-call]
            queue.enqueue_job(job)
            return True
        return False


def _overdue(queue: Queue, job: Job) -> bool:
    when = ScheduledJobRegistry(queue=queue).get_scheduled_time(job)  # type: ignore[no-untyped-call]
    return when is not None and (datetime.now(UTC) - when).total_seconds() > SCHEDULER_SLACK_SECONDS


def release_abandoned_jobs(redis: Redis) -> None:
    """Let RQ fail or retry jobs whose worker died mid-job (their heartbeat lapsed), so they can run again.

    RQ's workers do this themselves only every few minutes; the sweeper does it on every run. A worker of this
    machine whose process is gone is known dead at once, without waiting for its heartbeat to lapse.
    """
    release_dead_local_workers(redis)
    for name in ALL_QUEUES:
        clean_registries(Queue(name, connection=redis))


def release_dead_local_workers(redis: Redis) -> list[str]:
    """Workers registered from this machine whose process no longer exists (killed, out of memory): expire the
    job each was running, so RQ's own registry clean-up retries it now, and free their schedulers' locks.

    Workers on other machines are left to their heartbeats: their processes cannot be seen from here.

    Returns:
        The names of the dead workers released.
    """
    host, here = socket.gethostname(), machine_identity().encode()
    dead = [
        w
        for w in Worker.all(connection=redis)
        if w.hostname == host and w.pid and here and redis.get(_HOME_KEY + w.name) == here and not process_alive(w.pid)
    ]
    for worker in dead:
        job_id = worker.get_current_job_id()
        for name in ALL_QUEUES if job_id else ():
            registry = StartedJobRegistry(name, connection=redis)
            prefix = f"{job_id}:".encode()
            entries: list[bytes] = list(redis.zrange(registry.key, 0, -1))  # type: ignore[arg-type]
            mine: dict[bytes, float] = {m: 0 for m in entries if m.startswith(prefix)}
            if mine:  # expired now: the next clean-up retries it as RQ retries any abandoned job
                redis.zadd(registry.key, mine, xx=True)
        worker.register_death()  # type: ignore[no-untyped-call]
        log.warning("worker %s (pid %s) is gone; its job %s is released", worker.name, worker.pid, job_id or "-")
    # A dead worker's scheduler (its own process) holds the queues' scheduler locks for a minute more; freed
    # now, a live worker's scheduler takes them and delayed retries run on time. (Only when a worker of this
    # machine was found dead: a scheduler's own record names its host, not its process namespace.)
    for lock in (RQScheduler.get_locking_key(name) for name in ALL_QUEUES):
        owner = redis.get(lock)
        owner_name = owner.decode() if isinstance(owner, bytes) else owner
        info = redis.hmget(f"rq:scheduler:{owner_name}", "hostname", "pid") if owner_name else [None, None]
        if dead and info[0] == host.encode() and info[1] and int(info[1]) > 0 and not process_alive(int(info[1])):
            redis.delete(lock)
        elif info[0] is None and 0 <= int(redis.ttl(lock)) < ORPHAN_LOCK_TTL:
            # No scheduler ever said who it is, yet the lock is a while old: its worker died between taking
            # the lock and starting the scheduler's process (which registers and refreshes it within a second).
            redis.delete(lock)
    return [w.name for w in dead]


_HOME_KEY = "hotline:worker-home:"  # + a worker's name: the machine_identity() of the process that runs it
WORKER_HOME_TTL = 30 * 86400  # outlives any worker's run; a key for a worker long gone expires by itself


def machine_identity() -> str:
    """This kernel boot and process namespace: where a process id means the same process. Two containers or
    cloned machines may share a hostname; they never share this."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""  # no /proc: no worker is ever judged dead by its process id, only by its heartbeat
    return f"{boot}:{namespace}"


def register_worker_home(redis: Redis, worker_name: str) -> None:
    """Record where a worker runs, so the sweeper there may tell, by its process id, that it died."""
    if identity := machine_identity():
        redis.set(_HOME_KEY + worker_name, identity, ex=WORKER_HOME_TTL)


def process_alive(pid: int) -> bool:
    """True if a process with this id runs here and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def enqueue_inbound(redis: Redis, message_id: int) -> bool:
    """Queue the processing of one stored inbound message."""
    return _enqueue_once(redis, INBOUND, "workers.jobs.process_inbound_sms", f"inbound-{message_id}", message_id)


def enqueue_inbound_many(redis: Redis, message_ids: list[int]) -> None:
    """Queue the processing of newly stored inbound messages in one Redis round trip: one job each, named
    `inbound-<id>` as `enqueue_inbound` names it, so the sweeper finds it waiting and queues nothing twice."""
    queue = Queue(INBOUND, connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    "workers.jobs.process_inbound_sms",
                    args=(message_id,),
                    job_id=f"inbound-{message_id}",
                    result_ttl=0,
                    retry=RETRY,
                    failure_ttl=FAILURE_TTL,
                )
                for message_id in message_ids
            ],
            pipeline=pipe,
        )
        pipe.execute()


def enqueue_send(redis: Redis, outbound_id: int, delay: timedelta | None = None) -> bool:
    """Queue handing one stored outbound SMS to the gateway, after `delay` if given."""
    return _enqueue_once(redis, OUTBOUND, "workers.jobs.send_sms", f"send-{outbound_id}", outbound_id, delay=delay)


def enqueue_sweep(redis: Redis) -> bool:
    """Queue one sweeper run."""
    return _enqueue_once(redis, MAINTENANCE, "workers.jobs.sweep", "sweep")


def enqueue_batch(redis: Redis, outbound_ids: list[int], delay: timedelta | None = None, round_: int = 0) -> bool:
    """Queue handing a batch of stored check-in SMS and calls to the gateway, after `delay` if given.

    Args:
        round_: A batch queuing the rest of itself passes its next round, so the job id differs from its own.
    """
    job_id = f"batch-{outbound_ids[0]}-{outbound_ids[-1]}-{len(outbound_ids)}-{round_}"
    return _enqueue_once(redis, CHECKINS, "workers.checkin_jobs.send_batch", job_id, outbound_ids, round_, delay=delay)


def enqueue_batches(redis: Redis, outbound_ids: list[int]) -> int:
    """Queue check-in SMS and calls for the gateway, `BATCH` to a job. Returns how many rows were queued."""
    queued = 0
    for start in range(0, len(outbound_ids), BATCH):
        chunk = outbound_ids[start : start + BATCH]
        queued += len(chunk) if enqueue_batch(redis, chunk) else 0
    return queued


def enqueue_checkin_tick(redis: Redis) -> bool:
    """Queue one run of the check-in tick (make, send, climb)."""
    return _enqueue_once(redis, MAINTENANCE, "workers.checkin_jobs.checkin_tick", "checkin-tick")
