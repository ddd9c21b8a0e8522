"""One fault run, start to finish: the cluster, the load, the faults on a timetable, settling, the checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from benchmarks.register_fixture import generate_register
from dispatch.models import Base, utcnow
from tests.chaos.cluster import Cluster
from tests.chaos.communities import split_register
from tests.chaos.load import Tally, messages, send_all
from tests.chaos.providers import Channel, providers
from tests.chaos.verify import Findings, settle, verify


@dataclass(frozen=True)
class Plan:
    """How big a run is, and when its faults happen (as shares of the sending time)."""

    messages: int = 5000
    seconds: float = 60.0
    residents: int = 500
    workers: int = 2
    kill_worker_every: float = 10.0
    providers_faulty: tuple[float, float] = (0.15, 0.30)  # every channel's provider at once
    redis_killed_at: float = 0.35  # SIGKILL, back from its AOF
    web_restarted_at: float = 0.50  # SIGKILL, started again
    redis_wiped_at: float = 0.75  # SIGKILL, its data deleted: the sweeper rebuilds the work from the database
    jobs_twice_at: float = 0.85  # every SMS decided so far is queued for sending again, as RQ may run a job twice
    popped_and_killed_at: float = 0.80  # a worker takes jobs and is SIGKILLed before starting them (after the wipe)
    settle_seconds: float = 150.0


SHORT = Plan(messages=600, seconds=15.0, residents=100, kill_worker_every=4.0, settle_seconds=120.0)


@dataclass
class Report:
    plan: Plan
    tally: Tally
    findings: Findings
    settled: bool
    settle_seconds: float
    faults: list[str] = field(default_factory=list)
    providers: dict[str, dict[str, int]] = field(default_factory=dict)  # by channel: accepted, refused, late
    popped: int = 0  # jobs taken off the queues by a worker SIGKILLed before starting them

    @property
    def lost(self) -> int:
        return len(self.findings.lost) + (0 if self.settled else 1)

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.findings.duplicated or self.findings.misrouted)

    def line(self) -> str:
        found = self.findings
        return (
            f"chaos: sent={self.plan.messages} acknowledged={len(self.tally.acknowledged)} "
            f"lost={self.lost} duplicated={len(found.duplicated)} misrouted={len(found.misrouted)}"
        )

    def details(self) -> list[str]:
        found = self.findings
        answers = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(self.tally.answers.items()))
        lines = [
            f"deliveries={self.tally.deliveries} ({answers}); not acknowledged within 30 s: {len(self.tally.given_up)}",
            f"faults: {'; '.join(sorted(self.faults, key=_started))};"
            f" jobs taken by a worker that died before starting them: {self.popped}",
            f"settled {'in' if self.settled else 'NOT within'} {self.settle_seconds:.0f} s after the last message",
        ]
        for name, channel in found.channels.items():
            stats = self.providers.get(name, {})
            lines += [
                f"{name}: sent={channel.sent} acknowledged={channel.acknowledged} lost={len(channel.lost)} "
                f"duplicated={len(channel.duplicated)} misrouted={len(channel.misrouted)}; its stand-in accepted "
                f"{stats.get('accepted', 0)}, refused {stats.get('refused', 0)}, answered "
                f"{stats.get('late', 0)} after the gateway's timeout",
                f"  tasks={channel.offers} (one offer each) receipts={channel.receipts}; in doubt (never resent): "
                f"offers {channel.in_doubt['offers']} ({channel.in_doubt_unsent['offers']} never reached {name}), "
                f"receipts {channel.in_doubt['receipts']} ({channel.in_doubt_unsent['receipts']} never reached {name})",
            ]
        return [
            *lines,
            *[f"LOST {item}" for item in found.lost[:20]],
            *[f"DUPLICATED {item}" for item in found.duplicated[:20]],
            *[f"MISROUTED {item}" for item in found.misrouted[:20]],
        ]


def run(plan: Plan, root: Path, database_url: str, echo: Callable[[str], None] = print) -> Report:
    """Run `plan` with its data under `root` (and the database at `database_url`, emptied first)."""
    engine = create_engine(database_url)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    sms = messages(plan.messages, plan.residents)
    with providers() as (channels, settings):
        cluster = Cluster(root, database_url, settings, plan.workers)
        cluster.migrate()
        generate_register(engine, plan.residents, utcnow())
        split_register(engine, plan.residents, channels)
        cluster.start()
        faults: list[str] = []
        try:
            began = time.monotonic()
            injector = threading.Thread(target=_inject, args=(plan, cluster, channels, began, faults, echo))
            injector.start()
            tally = send_all(cluster.port, sms, plan.seconds)
            injector.join()
            sent_by = time.monotonic()
            settled = settle(engine, tally.acknowledged, plan.settle_seconds)
            settle_seconds = time.monotonic() - sent_by
        finally:
            cluster.stop()
        findings = verify(engine, sms, tally.acknowledged, {channel.name: channel.accepted for channel in channels})
        popped = cluster.popped
        stats = {channel.name: channel.stats() for channel in channels}
    engine.dispose()
    return Report(plan, tally, findings, settled, settle_seconds, faults, stats, popped)


def _started(fault: str) -> float:
    """When a fault line's fault began: its leading seconds."""
    return float(fault.split("s ", 1)[0])


def _inject(
    plan: Plan, cluster: Cluster, channels: list[Channel], began: float, faults: list[str], echo: Callable[[str], None]
) -> None:
    """The faults, at their times. Workers are killed in turn every `kill_worker_every` seconds."""
    recovering = threading.Thread(target=_recover, args=(channels, plan.seconds, began, faults, echo))
    timetable: list[tuple[float, str, Callable[[], None]]] = [
        (plan.providers_faulty[0] * plan.seconds, "providers start failing", lambda: _fail(channels)),
        (
            plan.providers_faulty[1] * plan.seconds,
            "providers recover, each once it has refused and answered late",
            recovering.start,
        ),
        (plan.redis_killed_at * plan.seconds, "redis SIGKILLed (AOF kept)", lambda: cluster.kill_redis(wipe=False)),
        (plan.web_restarted_at * plan.seconds, "web SIGKILLed and restarted", cluster.restart_web),
        (plan.redis_wiped_at * plan.seconds, "redis SIGKILLed and wiped", lambda: cluster.kill_redis(wipe=True)),
        (plan.jobs_twice_at * plan.seconds, "every send job so far queued again", cluster.send_jobs_again),
        (
            plan.popped_and_killed_at * plan.seconds,
            "a worker took jobs and was SIGKILLed before starting them",
            lambda: echo(f"  ({cluster.pop_and_kill(cluster.workers[0])} jobs taken)"),
        ),
    ]
    at, turn = plan.kill_worker_every, 0
    while at < plan.seconds:
        worker = cluster.workers[turn % len(cluster.workers)]
        timetable.append((at, f"{worker.name} SIGKILLed", lambda w=worker: cluster.kill(w)))  # type: ignore[misc]
        at, turn = at + plan.kill_worker_every, turn + 1
    for when, what, action in sorted(timetable, key=lambda item: item[0]):
        time.sleep(max(0.0, began + when - time.monotonic()))
        start = time.monotonic()
        action()
        faults.append(f"{start - began:.1f}s {what} ({time.monotonic() - start:.1f}s)")
        echo(f"  {faults[-1]}")
    recovering.join()


def _fail(channels: list[Channel]) -> None:
    for channel in channels:
        channel.set_faulty(True)


def _recover(
    channels: list[Channel], bound: float, began: float, faults: list[str], echo: Callable[[str], None]
) -> None:
    """Each provider answers normally again once it has refused a send and answered one too late (waiting at most
    `bound` seconds in all for that): on a busy machine few sends may fall inside the faulty window, and the run must
    show both on every channel. A late answer holds a worker for the gateway's whole timeout, so with two workers
    the last channel may wait a while for its turn: meanwhile the other faults keep to their times."""
    deadline = time.monotonic() + bound
    waiting = list(channels)
    while waiting:
        for channel in [c for c in waiting if (c.refusals and c.late) or time.monotonic() > deadline]:
            channel.set_faulty(False)
            waiting.remove(channel)
            faults.append(f"{time.monotonic() - began:.1f}s {channel.name} recovers")
            echo(f"  {faults[-1]}")
        time.sleep(0.05)
