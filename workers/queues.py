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
from rq.job import Job
from rq.queue import EnqueueData
from rq.registry import ScheduledJobRegistry, StartedJobRegistry, clean_registries
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)

INBOUND = "hotline-inbound"  # inbound messages to turn into tasks
OUTBOUND = "hotline-outbound"  # SMS and calls to hand to the gateway
CHECKINS = "hotline-checkins"  # check-in SMS and calls, in batches: behind task and feedback SMS
BATCH = 500  # check-in rows per batch job
BATCH_PREFIX = "batch-"  # + first-last-count-round: a batch job's id
INBOUND_BATCH = 500  # inbound messages a running inbound job takes from the queue to handle in one transaction
INBOUND_PREFIX = "inbound-"  # + the message's id: its job's id
INBOUND_PER_JOB = 32  # messages stored together (a group commit) queued as one job: `inbound-<id>_<id>_…`
SEND_BATCH = 500  # SMS a running send job takes from the queue to claim and hand over together
MAINTENANCE = "hotline-maintenance"  # the sweeper, the check-in tick and other periodic work
# In priority order: a worker empties one before the next. The sweeper and the check-in tick come before campaign
# batches, so a long campaign never holds up escalations, reminders or visits.
ALL_QUEUES = (INBOUND, OUTBOUND, MAINTENANCE, CHECKINS)

# The jobs' functions, by the dotted path RQ stores with each job and the worker imports when it runs one. They are
# the hotline's entry points (hotline/jobs/); this module only names them and imports none of them.
PROCESS_INBOUND_JOB = "hotline.jobs.inbound.process_inbound_sms"
SEND_JOB = "hotline.jobs.sends.send_sms"
SWEEP_JOB = "hotline.jobs.sweeper.sweep"
SEND_BATCH_JOB = "hotline.jobs.checkins.send_batch"
CHECKIN_TICK_JOB = "hotline.jobs.checkins.checkin_tick"
JOB_FUNCTIONS = (PROCESS_INBOUND_JOB, SEND_JOB, SWEEP_JOB, SEND_BATCH_JOB, CHECKIN_TICK_JOB)

# Retries back off over about ten minutes; after that the sweeper keeps trying from the database.
RETRY = Retry(max=5, interval=[5, 20, 60, 120, 300])
SCHEDULER_SLACK_SECONDS = 60  # a scheduled job this late was dropped by a dead scheduler
# RQ sets a scheduler lock for (interval + 60) s and its scheduler refreshes it every interval: a lock with under
# this many seconds left and no scheduler behind it was taken by a worker that died before its scheduler started.
ORPHAN_LOCK_TTL = 50
FAILURE_TTL = 86400  # keep a failed job a day for inspection; the sweeper works from the database anyway


class InFlight:
    """The jobs Redis really has on their way, read in one snapshot: waiting in a queue's list, waiting their time
    in a scheduled registry (and not overdue), or being executed under a live heartbeat.

    A job's hash alone proves nothing. A worker that pops a job and dies before starting it leaves the hash saying
    `queued` while the id sits in no list; RQ keeps its intermediate-queue net only for workers of one queue, and
    ours listen on four. Only a list, a registry's future score or a heartbeat says that work will happen.
    """

    def __init__(self, job_ids: frozenset[str]) -> None:
        self.job_ids = job_ids

    def __contains__(self, job_id: object) -> bool:
        return job_id in self.job_ids

    @classmethod
    def read(cls, redis: Redis, queue_names: tuple[str, ...] = ALL_QUEUES) -> InFlight:
        """Everything on its way in these queues, read in one transaction (one consistent moment)."""
        now = datetime.now(UTC).timestamp()
        with redis.pipeline(transaction=True) as pipe:
            for name in queue_names:
                pipe.lrange(Queue(name, connection=redis).key, 0, -1)
                # Started: one entry per execution, `job_id:execution_id`, scored by when its heartbeat lapses.
                pipe.zrangebyscore(StartedJobRegistry(name, connection=redis).key, f"({now}", "+inf")
                # Scheduled: scored by when it is due; one long overdue lost its scheduler (it died).
                pipe.zrangebyscore(_scheduled_key(redis, name), now - SCHEDULER_SLACK_SECONDS, "+inf")
            replies = pipe.execute()
        ids: set[str] = set()
        for waiting, started, scheduled in zip(replies[0::3], replies[1::3], replies[2::3], strict=True):
            ids.update(_text(job_id) for job_id in waiting)
            ids.update(_text(entry).split(":", 1)[0] for entry in started)
            ids.update(_text(job_id) for job_id in scheduled)
        # A job of several messages is on its way for each of them, as if each had its own `inbound-<id>`.
        ids.update(f"{INBOUND_PREFIX}{i}" for job_id in list(ids) for i in _row_ids(job_id, INBOUND_PREFIX) or ())
        return cls(frozenset(ids))

    @classmethod
    def read_one(cls, redis: Redis, queue_name: str, job_id: str) -> InFlight:
        """The same, for one job: its position in the list (LPOS), not the whole list."""
        now = datetime.now(UTC).timestamp()
        queue = Queue(queue_name, connection=redis)
        with redis.pipeline(transaction=True) as pipe:
            pipe.lpos(queue.key, job_id)
            pipe.zrangebyscore(StartedJobRegistry(queue_name, connection=redis).key, f"({now}", "+inf")
            pipe.zscore(_scheduled_key(redis, queue_name), job_id)
            position, started, due = pipe.execute()
        live = position is not None
        live = live or any(_text(entry).split(":", 1)[0] == job_id for entry in started)
        live = live or (due is not None and float(due) >= now - SCHEDULER_SLACK_SECONDS)
        return cls(frozenset({job_id} if live else ()))


def _scheduled_key(redis: Redis, queue_name: str) -> str:
    return ScheduledJobRegistry(queue_name, connection=redis).key  # type: ignore[no-untyped-call]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _enqueue_once(
    redis: Redis,
    queue_name: str,
    func: str,
    job_id: str,
    *args: object,
    delay: timedelta | None = None,
    in_flight: InFlight | None = None,
) -> bool:
    """Enqueue `func(*args)` under `job_id` unless that job is really on its way (see `InFlight`).

    A job of that id that is not on its way (failed, popped by a worker that died, started by one whose heartbeat
    lapsed, scheduled by a scheduler that died) is replaced. Every job is idempotent, so the rare replacement of a
    job a worker popped a moment ago and is about to start runs it twice and changes nothing the second time.

    Args:
        delay: Run it no sooner than this from now (a worker started with its scheduler moves it on time).
        in_flight: A snapshot the caller read once for many calls (the sweeper); read for this job if not given.

    Returns:
        True if a job was enqueued or replaced, False if one was already on its way.
    """
    queue = Queue(queue_name, connection=redis)
    for attempt in range(2):
        try:
            # result_ttl=0: a finished job leaves no trace, so the same id can be used again.
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
            # The second time, another caller replaced it between our delete and our enqueue: it is on its way.
            if attempt or job_id in (in_flight or InFlight.read_one(redis, queue_name, job_id)):
                return False
            try:
                stale = Job.fetch(job_id, connection=redis)
            except NoSuchJobError:
                continue  # it finished (results are not kept) between our two calls: enqueue it afresh
            log.warning("job %s was %s but on its way nowhere; queued again", job_id, stale.get_status(refresh=False))
            stale.delete(remove_from_queue=False)  # and from its registries, so nothing retries it behind us
    return False


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


def enqueue_inbound(redis: Redis, message_id: int, in_flight: InFlight | None = None) -> bool:
    """Queue the processing of one stored inbound message, unless `in_flight` has a job on its way for it (its
    own, or its group commit's: `InFlight.read` counts a job of several messages as each message's)."""
    job_id = f"{INBOUND_PREFIX}{message_id}"
    if in_flight is not None and job_id in in_flight:
        return False
    return _enqueue_once(redis, INBOUND, PROCESS_INBOUND_JOB, job_id, message_id, in_flight=in_flight)


def enqueue_inbound_many(redis: Redis, message_ids: list[int], per_job: int = INBOUND_PER_JOB) -> None:
    """Queue the processing of newly stored inbound messages in one Redis round trip: a job for up to `per_job` of
    them, named after its messages (`inbound-<id>`, `inbound-<id>_<id>_…`), so the sweeper finds each message's
    job waiting and queues nothing twice. At 09:00 a web process stores a few to a few dozen SMS per commit: one
    job for them costs the web process one job's making instead of one per message."""
    queue = Queue(INBOUND, connection=redis)
    groups = [message_ids[i : i + per_job] for i in range(0, len(message_ids), per_job)]
    jobs = [_prepared(PROCESS_INBOUND_JOB, INBOUND_PREFIX + "_".join(map(str, g)), *g) for g in groups]
    with redis.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()


def _prepared(func: str, job_id: str, *args: object) -> EnqueueData:
    return Queue.prepare_data(func, args=args, job_id=job_id, result_ttl=0, retry=RETRY, failure_ttl=FAILURE_TTL)


def _row_ids(job_id: str, prefix: str) -> list[int] | None:
    """The row ids a job named `<prefix><id>` or `<prefix><id>_<id>_…` is for; None for any other job."""
    if not job_id.startswith(prefix):
        return None
    numbers = job_id.removeprefix(prefix).split("_")
    return [int(n) for n in numbers] if all(n.isdigit() for n in numbers) else None


def take_waiting_inbound(redis: Redis, limit: int = INBOUND_BATCH) -> list[int]:
    """Take up to `limit` inbound jobs waiting on the queue, for the running job to handle in its batch: their
    message ids, in queue order. The jobs are gone from Redis; if the taker dies before its commit, the messages
    are still unprocessed in the database and the sweeper queues them again."""
    return _take_waiting(redis, INBOUND, INBOUND_PREFIX, limit)


def take_waiting_sends(redis: Redis, limit: int = SEND_BATCH) -> list[int]:
    """Take up to `limit` send jobs waiting on the queue, for the running send job to hand over with its own: their
    outbound ids, in queue order. If the taker dies before it claims them, the rows are still pending in the
    database and the sweeper queues them again."""
    return _take_waiting(redis, OUTBOUND, "send-", limit)


def _take_waiting(redis: Redis, queue_name: str, prefix: str, limit: int) -> list[int]:
    """Take the jobs named after their rows (`<prefix><id>`, `<prefix><id>_<id>_…`) among the first `limit` waiting on
    a queue, for up to `limit` rows in all; others stay, in order."""
    key = Queue(queue_name, connection=redis).key
    with redis.pipeline(transaction=True) as pipe:
        pipe.lrange(key, 0, limit - 1)
        pipe.ltrim(key, limit, -1)
        waiting, _ = pipe.execute()
    taken: list[str] = []
    others: list[str] = []
    row_ids: list[int] = []
    for job_id in (_text(j) for j in waiting):
        ids = _row_ids(job_id, prefix)
        if ids is None or (taken and len(row_ids) + len(ids) > limit):
            others.append(job_id)
        else:
            taken.append(job_id)
            row_ids += ids
    with redis.pipeline() as pipe:
        if others:  # not one row's job: back at the head of the queue, as they were
            pipe.lpush(key, *reversed(others))
        for job_id in taken:
            pipe.delete(Job.key_for(job_id))
        pipe.execute()
    return row_ids


def enqueue_send_many(redis: Redis, outbound_ids: list[int]) -> None:
    """Queue newly stored outbound rows for the gateway in one Redis round trip, one `send-<id>` job each (as
    `enqueue_send` names it). Only for rows never queued before: no check for a job already on its way."""
    queue = Queue(OUTBOUND, connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many([_prepared(SEND_JOB, f"send-{i}", i) for i in outbound_ids], pipeline=pipe)
        pipe.execute()


def enqueue_send(
    redis: Redis, outbound_id: int, delay: timedelta | None = None, in_flight: InFlight | None = None
) -> bool:
    """Queue handing one stored outbound SMS to the gateway, after `delay` if given."""
    job_id = f"send-{outbound_id}"
    return _enqueue_once(redis, OUTBOUND, SEND_JOB, job_id, outbound_id, delay=delay, in_flight=in_flight)


def enqueue_sweep(redis: Redis) -> bool:
    """Queue one sweeper run."""
    return _enqueue_once(redis, MAINTENANCE, SWEEP_JOB, "sweep")


def enqueue_batch(
    redis: Redis,
    outbound_ids: list[int],
    delay: timedelta | None = None,
    round_: int = 0,
    in_flight: InFlight | None = None,
) -> bool:
    """Queue handing a batch of stored check-in SMS and calls to the gateway, after `delay` if given.

    Args:
        round_: A batch queuing the rest of itself passes its next round, so the job id differs from its own.
    """
    job_id = f"{BATCH_PREFIX}{outbound_ids[0]}-{outbound_ids[-1]}-{len(outbound_ids)}-{round_}"
    func = SEND_BATCH_JOB
    return _enqueue_once(redis, CHECKINS, func, job_id, outbound_ids, round_, delay=delay, in_flight=in_flight)


def batched_rows(redis: Redis, in_flight: InFlight) -> set[int]:
    """The outbound rows that batches on their way will hand to the gateway (read from the batches' own args)."""
    batch_ids = sorted(job_id for job_id in in_flight.job_ids if job_id.startswith(BATCH_PREFIX))
    rows: set[int] = set()
    for job in Job.fetch_many(batch_ids, connection=redis):
        if job is not None and job.args:
            rows.update(job.args[0])
    return rows


def enqueue_batches(redis: Redis, outbound_ids: list[int], in_flight: InFlight | None = None) -> int:
    """Queue check-in SMS and calls for the gateway, `BATCH` to a job. Returns how many rows were queued."""
    queued = 0
    for start in range(0, len(outbound_ids), BATCH):
        chunk = outbound_ids[start : start + BATCH]
        queued += len(chunk) if enqueue_batch(redis, chunk, in_flight=in_flight) else 0
    return queued


def enqueue_checkin_tick(redis: Redis) -> bool:
    """Queue one run of the check-in tick (make, send, climb)."""
    return _enqueue_once(redis, MAINTENANCE, CHECKIN_TICK_JOB, "checkin-tick")
