"""Operations endpoints: `/healthz` (the process is up), `/readyz` (it can do its work), `/metrics` (Prometheus).

`/healthz` touches nothing: a load balancer or a test polling it learns only that the web server listens.

`/readyz` answers 200 when the database answers, Redis answers, the database is at the Alembic head this code
ships, the RQ queues hold at most `HOTLINE_READY_QUEUE_LIMIT` waiting jobs together, and no inbound message stored
over `HOTLINE_READY_INBOUND_SECONDS` ago is still unprocessed; else 503. Each check runs
in the threadpool under a deadline (READY_TIMEOUT); a check still stuck from an earlier probe is reported as a
timeout at once rather than started again, so probes never pile up threads. The body names each check and its
state, and never a URL or an exception's message (they may hold a host, a user or a password).

`/metrics` is for admin API tokens only: its counts are service-wide, across every community, and a clerk's or a
grid leader's token is scoped to one community or grid. Counts come from the database at scrape time
(`HotlineCollector`), so every web process tells the same truth; the queues from Redis. Only the webhook latency
histogram is per process (`WebhookTimer`): scrape every web process to see them all.
"""

from __future__ import annotations

from hotline.ops.metrics import HotlineCollector, OpsMetrics, WebhookTimer, metrics, start_of_today
from hotline.ops.ready import (
    READY_TIMEOUT,
    check_database,
    check_redis,
    code_heads,
    healthz,
    queued_jobs,
    readyz,
    unprocessed_since,
)

__all__ = [
    "READY_TIMEOUT",
    "HotlineCollector",
    "OpsMetrics",
    "WebhookTimer",
    "check_database",
    "check_redis",
    "code_heads",
    "healthz",
    "metrics",
    "queued_jobs",
    "readyz",
    "start_of_today",
    "unprocessed_since",
]
