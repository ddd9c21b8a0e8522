"""The RQ worker the hotline runs its jobs in, and the names those jobs had before they lived in hotline/jobs/.

RQ stores with each job the dotted path of its function and imports that path when a worker runs the job. Jobs
queued by an earlier release name `workers.jobs.…` and `workers.checkin_jobs.…`, modules that no longer exist;
a job waiting in Redis through an upgrade (queued, scheduled for later, or failed and due a retry) must still run.
`HotlineJob` reads such a name as the function's new path. Only workers built here know the old names: run the
hotline's jobs with `hotline worker` (or `build_worker`), not with RQ's own `rq worker`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from rq.utils import import_attribute

from workers.queues import (
    ALL_QUEUES,
    CHECKIN_TICK_JOB,
    PROCESS_INBOUND_JOB,
    SEND_BATCH_JOB,
    SEND_JOB,
    SWEEP_JOB,
)

# Every job function name ever queued, by its path before the move to hotline/jobs/ → its path now. Kept while a
# Redis of an earlier release may still hold such jobs.
FORMER_NAMES = {
    "workers.jobs.process_inbound_sms": PROCESS_INBOUND_JOB,
    "workers.jobs.send_sms": SEND_JOB,
    "workers.jobs.sweep": SWEEP_JOB,
    "workers.checkin_jobs.send_batch": SEND_BATCH_JOB,
    "workers.checkin_jobs.checkin_tick": CHECKIN_TICK_JOB,
}


class HotlineJob(Job):
    """An RQ job whose function may be named by its former path (see `FORMER_NAMES`)."""

    @property
    def func(self) -> Callable[..., Any] | None:
        name = self.func_name
        if name in FORMER_NAMES and not self.instance:
            return import_attribute(FORMER_NAMES[name])
        return super().func  # type: ignore[no-any-return]


def build_worker(redis: Redis, queue_names: Sequence[str] = ALL_QUEUES) -> SimpleWorker:
    """A worker on the hotline's queues that runs jobs in its own process (no fork per job: one engine and
    connection pool kept warm; jobs are short database and HTTP calls) and knows the jobs' former names."""
    return SimpleWorker(list(queue_names), connection=redis, job_class=HotlineJob)
