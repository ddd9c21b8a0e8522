"""`/metrics` (Prometheus): the hotline's counts read at scrape time, and the webhook latency: see `hotline.ops`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.models import (
    Checkin,
    CheckinStatus,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    StaffRole,
    Task,
    TaskEvent,
    TaskStatus,
    clock_span,
    utcnow,
)
from hotline.api.common import token_only
from hotline.jobs.sweeper import SWEEP_GRACE_SECONDS
from hotline.ops.ready import _Guarded, bounded
from hotline.services import Services
from workers.queues import ALL_QUEUES

log = logging.getLogger(__name__)

ANSWERED = {CheckinStatus.FINE, CheckinStatus.NEEDS, CheckinStatus.UNWELL}
WAITING = {CheckinStatus.SCHEDULED, CheckinStatus.SENT}
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# ── /metrics ────────────────────────────────────────────────────────────────────────────────────────────────


def start_of_today(services: Services) -> datetime:
    """Local midnight (HOTLINE_TIMEZONE) of the app's clock, in UTC."""
    local = services.clock().astimezone(services.settings.timezone)
    return datetime.combine(local.date(), clock_time(0), services.settings.timezone).astimezone(UTC)


class HotlineCollector:
    """The hotline's state at scrape time: grouped counts on indexed columns, and the queues' sizes."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "hotline_metrics_source_up", "1 if the source answered this scrape, else 0", labels=["source"]
        )
        sources: list[tuple[str, Callable[[], list[Metric]], type[Exception]]] = [
            ("database", self.database_metrics, SQLAlchemyError),
            ("redis", self.queue_metrics, RedisError),
        ]
        for name, read, unavailable in sources:
            try:
                yield from read()
                up.add_metric([name], 1)
            except unavailable as exc:
                log.warning("metrics: %s unavailable (%s)", name, type(exc).__name__)
                up.add_metric([name], 0)
        yield up

    def database_metrics(self) -> list[Metric]:
        services = self.services
        now = services.clock()
        since = start_of_today(services)
        today = now.astimezone(services.settings.timezone).date()
        with services.readonly() as session:
            bounded(session, 10_000)
            inbound = session.execute(  # ix_inbound_messages_unprocessed (processed_at, …)
                select(InboundMessage.channel, InboundMessage.outcome, func.count())
                .where(InboundMessage.processed_at >= since)
                .group_by(InboundMessage.channel, InboundMessage.outcome)
            ).all()
            unprocessed = session.scalar(
                select(func.count()).select_from(InboundMessage).where(InboundMessage.processed_at.is_(None))
            )
            owed = self._owed(session, utcnow())
            outbound = session.execute(  # ix_outbound_messages_status (status, created_at)
                select(OutboundMessage.kind, OutboundMessage.status, func.count())
                .where(OutboundMessage.status.in_(list(OutboundStatus)), OutboundMessage.created_at >= since)
                .group_by(OutboundMessage.kind, OutboundMessage.status)
            ).all()
            tasks = session.execute(
                select(Task.status, Task.priority, Task.rung, func.count(), func.min(Task.created_at))
                .where(Task.status.in_(TaskStatus.open()))
                .group_by(Task.status, Task.priority, Task.rung)
            ).all()
            escalations = session.scalar(
                select(func.count()).select_from(TaskEvent).where(TaskEvent.kind == "escalated")
            )
            checkins = session.execute(  # ix_checkins_local_date
                select(Checkin.status, Checkin.visit_task_id.is_not(None), func.count())
                .where(Checkin.local_date == today)
                .group_by(Checkin.status, Checkin.visit_task_id.is_not(None))
            ).all()
        metrics: list[Metric] = []
        family = GaugeMetricFamily(
            "hotline_inbound_messages_today",
            "Inbound SMS and voice choices processed since local midnight, by outcome",
            labels=["channel", "outcome"],
        )
        for channel, outcome, count in inbound:
            family.add_metric([str(channel), str(outcome or "none")], count)
        metrics.append(family)
        metrics.append(
            GaugeMetricFamily(
                "hotline_inbound_unprocessed", "Inbound messages stored and not yet processed", value=unprocessed or 0
            )
        )
        metrics.extend(owed)
        family = GaugeMetricFamily(
            "hotline_outbound_messages_today",
            "Outbound SMS and calls decided since local midnight, by kind and status",
            labels=["kind", "status"],
        )
        for kind, status, count in outbound:
            family.add_metric([str(kind), str(status)], count)
        metrics.append(family)
        metrics.extend(self._task_metrics(tasks, now, escalations or 0))
        metrics.extend(self._checkin_metrics(checkins))
        return metrics

    @staticmethod
    def _owed(session: Session, now: datetime) -> list[Metric]:
        """Work past the sweeper's grace: what it queues again, and how old the oldest is. Bulk traffic (check-ins,
        notices) waits its turn behind the rate limit for hours on a big day; task and feedback SMS should not."""
        cutoff = now - clock_span(timedelta(seconds=SWEEP_GRACE_SECONDS))
        inbound_count, inbound_oldest = session.execute(
            select(func.count(), func.min(InboundMessage.received_at)).where(
                InboundMessage.processed_at.is_(None), InboundMessage.received_at < cutoff
            )
        ).one()
        bulk = OutboundMessage.checkin_id.is_not(None) | OutboundMessage.notice_id.is_not(None)
        outbound = session.execute(  # ix_outbound_messages_status (status, created_at)
            select(bulk, func.count(), func.min(OutboundMessage.created_at))
            .where(OutboundMessage.status == OutboundStatus.PENDING, OutboundMessage.created_at < cutoff)
            .group_by(bulk)
        ).all()
        grace = f"{SWEEP_GRACE_SECONDS} s"
        inbound = GaugeMetricFamily(
            "hotline_inbound_unprocessed_overdue",
            f"Inbound messages stored over {grace} ago and not yet processed",
            value=inbound_count or 0,
        )
        inbound_age = GaugeMetricFamily(
            "hotline_inbound_unprocessed_oldest_age_seconds",
            "Age of the oldest inbound message not yet processed (0: none)",
            value=_age(now, inbound_oldest),
        )
        pending = GaugeMetricFamily(
            "hotline_outbound_pending_overdue",
            f"Outbound SMS and calls decided over {grace} ago and not yet handed to the "
            "gateway, by traffic (task: task and feedback SMS; bulk: check-ins, notices)",
            labels=["traffic"],
        )
        pending_age = GaugeMetricFamily(
            "hotline_outbound_pending_oldest_age_seconds",
            "Age of the oldest outbound SMS or call not yet handed to the gateway, by traffic (0: none)",
            labels=["traffic"],
        )
        found = {bool(is_bulk): (n, oldest) for is_bulk, n, oldest in outbound}
        for traffic, is_bulk in (("task", False), ("bulk", True)):
            n, oldest = found.get(is_bulk, (0, None))
            pending.add_metric([traffic], n)
            pending_age.add_metric([traffic], _age(now, oldest))
        return [inbound, inbound_age, pending, pending_age]

    @staticmethod
    def _task_metrics(rows: Iterable[Any], now: datetime, escalations: int) -> list[Metric]:
        labels = ["status", "priority", "rung"]
        count = GaugeMetricFamily("hotline_open_tasks", "Open tasks by status, priority and ladder rung", labels=labels)
        age = GaugeMetricFamily(
            "hotline_open_task_oldest_age_seconds",
            "Age of the oldest open task, by status, priority and rung",
            labels=labels,
        )
        for status, priority, rung, n, oldest in rows:
            key = [str(status), str(priority), str(rung)]
            count.add_metric(key, n)
            if oldest is not None:
                age.add_metric(key, _age(now, oldest))
        climbed = CounterMetricFamily(
            "hotline_task_escalations", "Ladder rungs climbed by tasks (escalated events)", value=escalations
        )
        return [count, age, climbed]

    @staticmethod
    def _checkin_metrics(rows: Iterable[Any]) -> list[Metric]:
        states = dict.fromkeys(("answered", "waiting", "missed", "skipped"), 0)
        by_status = GaugeMetricFamily(
            "hotline_checkins_today_by_status", "Today's check-ins by stored status", labels=["status"]
        )
        statuses: dict[str, int] = {}
        for status, visit_asked, n in rows:
            statuses[str(status)] = statuses.get(str(status), 0) + n
            if status in ANSWERED:
                states["answered"] += n
            elif status == CheckinStatus.SKIPPED:
                states["skipped"] += n
            elif status in WAITING and not visit_asked:
                states["waiting"] += n
            else:  # no answer by the deadline (a visit was asked for), due in quiet hours, or no number at all
                states["missed"] += n
        for status, n in sorted(statuses.items()):
            by_status.add_metric([status], n)
        made = GaugeMetricFamily(
            "hotline_checkins_made_today", "Check-ins made for today (local date)", value=sum(states.values())
        )
        coverage = GaugeMetricFamily(
            "hotline_checkins_today",
            "Today's check-ins: answered, still waiting, missed (visit asked, quiet hours, no number) or skipped",
            labels=["state"],
        )
        for state, n in states.items():
            coverage.add_metric([state], n)
        return [made, coverage, by_status]

    def queue_metrics(self) -> list[Metric]:
        from rq import Queue

        redis = self.services.redis
        registries = {"scheduled": ScheduledJobRegistry, "failed": FailedJobRegistry, "started": StartedJobRegistry}
        with redis.pipeline(transaction=False) as pipe:  # plain sizes, one round trip; no registry clean-up here
            for name in ALL_QUEUES:
                queue = Queue(name, connection=redis)
                pipe.llen(queue.key)
                for registry in registries.values():
                    pipe.zcard(registry(queue=queue).key)
            sizes = iter(pipe.execute())
        depth = GaugeMetricFamily("hotline_queue_jobs", "Jobs waiting in each RQ queue", labels=["queue"])
        kept = GaugeMetricFamily(
            "hotline_queue_registry_jobs",
            "Jobs in each RQ queue's scheduled, failed and started registries",
            labels=["queue", "registry"],
        )
        for name in ALL_QUEUES:
            depth.add_metric([name], int(next(sizes)))
            for registry_name in registries:
                kept.add_metric([name, registry_name], int(next(sizes)))
        return [depth, kept]


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    then = then if then.tzinfo else then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


class OpsMetrics:
    """One app's metrics: its registry (the collector, the process's own figures) and the webhook histogram."""

    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(HotlineCollector(services))
        self.registry.register(ProcessCollector(registry=None))
        self.webhook_seconds = Histogram(
            "hotline_webhook_seconds",
            "Time to handle a Twilio webhook in this web process, by route (per process: scrape each one)",
            ["route"],
            registry=self.registry,
            buckets=WEBHOOK_BUCKETS,
        )
        self.guard = _Guarded()


@token_only(StaffRole.ADMIN)
async def metrics(request: Request) -> Response:
    """Prometheus' text format, for an admin token."""
    ops: OpsMetrics = request.app.state.ops
    encode, content_type = choose_encoder(request.headers.get("accept", ""))  # Prometheus' text, or OpenMetrics
    body = await run_in_threadpool(encode, ops.registry)
    return Response(body, headers={"Content-Type": content_type})


WEBHOOK_PREFIXES = ("/twilio/", "/tencent/", "/android/", "/httpsms/")


class WebhookTimer:
    """ASGI middleware: the handling time of each provider's webhook (`/twilio/*`, `/tencent/*`, `/android/*`,
    `/httpsms/*`), labelled by the
    route's path template (never the raw path or its query: Tencent's carries a secret), into the app's
    `hotline_webhook_seconds`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(WEBHOOK_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            template = getattr(scope.get("route"), "path", None)  # set by the router once a route matched
            ops = getattr(scope["app"].state, "ops", None)
            if isinstance(template, str) and template.startswith(WEBHOOK_PREFIXES) and ops is not None:
                ops.webhook_seconds.labels(template).observe(time.perf_counter() - started)
