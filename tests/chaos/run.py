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
from tests.chaos.cluster import Cluster, FaultyTwilio
from tests.chaos.load import Tally, messages, send_all
from tests.chaos.verify import Findings, settle, verify


@dataclass(frozen=True)
class Plan:
    """How big a run is, and when its faults happen (as shares of the sending time)."""

    messages: int = 5000
    seconds: float = 60.0
    residents: int = 500
    workers: int = 2
    kill_worker_every: float = 10.0
    twilio_faulty: tuple[float, float] = (0.15, 0.30)
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
    twilio: dict[str, int] = field(default_factory=dict)
    popped: int = 0  # jobs taken off the queues by a worker SIGKILLed before starting them

    @property
    def lost(self) -> int:
        return len(self.findings.lost) + (0 if self.settled else 1)

    def line(self) -> str:
        return (
            f"chaos: sent={self.plan.messages} acknowledged={len(self.tally.acknowledged)} "
            f"lost={self.lost} duplicated={len(self.findings.duplicated)}"
        )

    def details(self) -> list[str]:
        found = self.findings
        answers = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(self.tally.answers.items()))
        return [
            f"deliveries={self.tally.deliveries} ({answers}); not acknowledged within 30 s: {len(self.tally.given_up)}",
            f"faults: {'; '.join(self.faults)}; jobs taken by a worker that died before starting them: {self.popped}",
            f"twilio stand-in: created={self.twilio['created']} refused (429/500)={self.twilio['refused']} "
            f"answered after the gateway's timeout={self.twilio['late']}",
            f"settled {'in' if self.settled else 'NOT within'} {self.settle_seconds:.0f} s after the last message",
            f"tasks={found.offers} (one offer each) receipts={found.receipts}; in doubt (never resent): "
            f"offers {found.in_doubt['offers']} ({found.in_doubt_unsent['offers']} never reached Twilio), "
            f"receipts {found.in_doubt['receipts']} ({found.in_doubt_unsent['receipts']} never reached Twilio)",
            *[f"LOST {item}" for item in found.lost[:20]],
            *[f"DUPLICATED {item}" for item in found.duplicated[:20]],
        ]


def run(plan: Plan, root: Path, database_url: str, echo: Callable[[str], None] = print) -> Report:
    """Run `plan` with its data under `root` (and the database at `database_url`, emptied first)."""
    engine = create_engine(database_url)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    sms = messages(plan.messages, plan.residents)
    with FaultyTwilio() as twilio:
        cluster = Cluster(root, database_url, twilio.base_url, plan.workers)
        cluster.migrate()
        generate_register(engine, plan.residents, utcnow())
        cluster.start()
        faults: list[str] = []
        try:
            began = time.monotonic()
            injector = threading.Thread(target=_inject, args=(plan, cluster, twilio, began, faults, echo))
            injector.start()
            tally = send_all(cluster.port, sms, plan.seconds)
            injector.join()
            sent_by = time.monotonic()
            settled = settle(engine, tally.acknowledged, plan.settle_seconds)
            settle_seconds = time.monotonic() - sent_by
        finally:
            cluster.stop()
        findings = verify(engine, sms, tally.acknowledged, twilio.accepted)
        popped = cluster.popped
        stats = {"created": sum(twilio.accepted.values()), "refused": twilio.refused, "late": twilio.late}
    engine.dispose()
    return Report(plan, tally, findings, settled, settle_seconds, faults, stats, popped)


def _inject(
    plan: Plan, cluster: Cluster, twilio: FaultyTwilio, began: float, faults: list[str], echo: Callable[[str], None]
) -> None:
    """The faults, at their times. Workers are killed in turn every `kill_worker_every` seconds."""
    timetable: list[tuple[float, str, Callable[[], None]]] = [
        (plan.twilio_faulty[0] * plan.seconds, "twilio starts failing", lambda: setattr(twilio, "faulty", True)),
        (plan.twilio_faulty[1] * plan.seconds, "twilio recovers", lambda: _recover(twilio, plan.seconds)),
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


def _recover(twilio: FaultyTwilio, bound: float) -> None:
    """Twilio answers normally again, once it has refused a send and answered one too late (waiting at most `bound`
    seconds for that): on a busy machine few sends may fall inside the faulty window, and the run must show both."""
    deadline = time.monotonic() + bound
    while not (twilio.refused and twilio.late) and time.monotonic() < deadline:
        time.sleep(0.05)
    twilio.faulty = False
