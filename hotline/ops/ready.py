"""`/healthz` (the process is up) and `/readyz` (it can do its work): see `hotline.ops`."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import anyio
import anyio.to_thread
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch.db import MIGRATIONS
from dispatch.models import (
    InboundMessage,
    clock_span,
    utcnow,
)
from hotline.services import Services
from workers.queues import ALL_QUEUES

log = logging.getLogger(__name__)

READY_TIMEOUT = 3.0  # seconds a readiness check may take before it counts as down
STATEMENT_TIMEOUT_MS = 2000  # PostgreSQL: no readiness query runs longer (metrics queries get 10 s)


# ── /healthz ────────────────────────────────────────────────────────────────────────────────────────────────


async def healthz(request: Request) -> Response:
    """The process is up. Touches neither the database nor Redis (that is /readyz)."""
    return JSONResponse({"status": "ok"})


# ── /readyz ─────────────────────────────────────────────────────────────────────────────────────────────────


@functools.cache
def code_heads() -> frozenset[str]:
    """The Alembic head revision(s) this code ships: read once per process."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))  # as dispatch.db.alembic_config sets it
    return frozenset(ScriptDirectory.from_config(config).get_heads())


class _Guarded:
    """At most one check of each kind in flight per process. A probe that finds one in flight shares its answer
    (two load balancers probing at once both hear "ok"); one stuck since before the deadline is reported as a
    timeout at once, and no second thread is started behind it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
        self._running: dict[str, tuple[float, Future[str]]] = {}
        self._lock = threading.Lock()

    async def run(self, name: str, check: Callable[[], str]) -> str:
        now = time.monotonic()
        with self._lock:
            running = self._running.get(name)
            if running is None or running[1].done():
                running = (now, self._pool.submit(check))
                self._running[name] = running
        started, future = running
        if now - started > READY_TIMEOUT:
            return "timeout"
        # Abandoned, not awaited, at the deadline: the thread finishes on its own (Redis and the database have
        # their own timeouts), and the next probe finds it still running.
        with anyio.move_on_after(READY_TIMEOUT):
            return await asyncio.wrap_future(future)
        return "timeout"


def bounded(session: Session, milliseconds: int) -> None:
    """PostgreSQL: no statement of this transaction runs longer than `milliseconds`."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))


def check_database(services: Services) -> tuple[str, str, str]:
    """(database state, migrations state, inbound state)."""
    limit = services.settings.ready_inbound_seconds
    try:
        with services.readonly() as session:
            bounded(session, STATEMENT_TIMEOUT_MS)
            session.execute(text("SELECT 1"))
            current = frozenset(MigrationContext.configure(session.connection()).get_current_heads())
            stalled = unprocessed_since(session, utcnow() - clock_span(timedelta(seconds=limit)))
    except SQLAlchemyError as exc:
        return f"down: {type(exc).__name__}", "unknown", "unknown"
    # A message answered 200 and still unprocessed this long after: the workers are stuck or down, or its job was
    # lost and the sweeper is not running. The sweeper queues lost work again after SWEEP_GRACE_SECONDS, so a
    # healthy hotline never gets here, even at 09:00.
    inbound = f"stalled: {stalled} stored over {limit} s ago not processed" if stalled else "ok"
    wanted = code_heads()
    if current == wanted:
        return "ok", "ok", inbound
    at = ",".join(sorted(current)) or "none"
    return "ok", f"not at head: database {at}, code {','.join(sorted(wanted))}", inbound


def unprocessed_since(session: Session, cutoff: datetime) -> int:
    """Inbound messages stored before `cutoff` and not yet processed (ix_inbound_messages_unprocessed)."""
    older = InboundMessage.processed_at.is_(None), InboundMessage.received_at < cutoff
    return int(session.scalar(select(func.count()).select_from(InboundMessage).where(*older)) or 0)


def queued_jobs(redis: Redis) -> int:
    """Jobs waiting in every queue together (one round trip)."""
    from rq import Queue

    with redis.pipeline(transaction=False) as pipe:
        for name in ALL_QUEUES:
            pipe.llen(Queue(name, connection=redis).key)
        return sum(int(n) for n in pipe.execute())


def check_redis(services: Services) -> tuple[str, str]:
    """(redis state, queues state)."""
    limit = services.settings.ready_queue_limit
    try:
        services.redis.ping()
        waiting = queued_jobs(services.redis)
    except RedisError as exc:
        return f"down: {type(exc).__name__}", "unknown"
    if waiting > limit:
        return "ok", f"backed up: {waiting} queued, limit {limit}"
    return "ok", f"ok: {waiting} queued"


async def readyz(request: Request) -> Response:
    """200 if the process can do its work; 503 naming what cannot."""
    services: Services = request.app.state.services
    guard: _Guarded = request.app.state.ops.guard
    database = await guard.run("database", lambda: "|".join(check_database(services)))
    redis = await guard.run("redis", lambda: "|".join(check_redis(services)))
    db_state, _, rest = database.partition("|")
    migrations, _, inbound = rest.partition("|")
    redis_state, _, queues = redis.partition("|")
    checks = {
        "database": db_state,
        "redis": redis_state,
        "migrations": migrations or "unknown",
        "queues": queues or "unknown",
        "inbound": inbound or "unknown",
    }
    ready = all(state == "ok" or state.startswith("ok:") for state in checks.values())
    if not ready:
        log.warning("not ready: %s", ", ".join(f"{k} {v}" for k, v in checks.items() if not v.startswith("ok")))
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
