"""A message answered 200 is never lost: not with Redis down, not with Redis wiped, not when a job runs twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from rq import Queue
from sqlalchemy import select, text
from starlette.testclient import TestClient

from dispatch.models import InboundMessage, OutboundMessage, OutboundStatus, Task
from hotline.app import create_app
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs import inbound, sends, sweeper
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import (
    LIAISON_PHONE,
    PUBLIC_URL,
    fresh_services,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
    temporary_redis,
)
from workers.queues import MAINTENANCE, SWEEP_JOB, process_alive


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A redis-server this test may stop and start, apart from the session's."""
    with temporary_redis() as server:
        yield server


@pytest.fixture
def fragile(settings: Settings, own_redis: EmbeddedRedis) -> Iterator[Services]:
    with fresh_services(replace(settings, redis_url=own_redis.url)) as built:
        yield built


def sweep_now(services: Services) -> None:
    """Queue a sweeper run that ignores the grace period, and let a real worker do it and what it queues."""
    Queue(MAINTENANCE, connection=services.redis).enqueue(SWEEP_JOB, grace_seconds=0)
    run_worker(services)


def test_nothing_is_lost_while_redis_is_down(
    settings: Settings, fragile: Services, own_redis: EmbeddedRedis, registered_on: None
) -> None:
    own_redis.stop()
    assert not own_redis.is_running()
    with TestClient(create_app(settings, fragile), base_url=PUBLIC_URL) as client:
        response = post_signed(client, fragile, "/twilio/sms", sms_params("买降压药"))
    assert response.status_code == 200
    with fragile.sessions() as session:
        stored = session.scalars(select(InboundMessage)).one()
    assert stored.body == "买降压药" and stored.processed_at is None

    own_redis.start()
    sweep_now(fragile)
    to_liaison = [e for e in local_outbox(fragile) if e.to_phone == LIAISON_PHONE]
    assert len(to_liaison) == 1 and "买降压药" in to_liaison[0].body


def test_work_wiped_from_redis_is_rebuilt_from_the_database(
    settings: Settings, fragile: Services, registered_on: None
) -> None:
    with TestClient(create_app(settings, fragile), base_url=PUBLIC_URL) as client:
        post_signed(client, fragile, "/twilio/sms", sms_params("快递"))
    fragile.redis.flushall()  # Redis lost its data: the queued job is gone
    run_worker(fragile)
    assert local_outbox(fragile) == []
    sweep_now(fragile)
    assert len([e for e in local_outbox(fragile) if e.to_phone == LIAISON_PHONE]) == 1


def test_sweeper_leaves_finished_work_alone(client: TestClient, services: Services, registered: dict[str, int]) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    assert sweeper.sweep(grace_seconds=0) == {
        "inbound": 0,
        "outbound": 0,
        "abandoned": 0,
        "escalation_sms": 0,
        "flagged": 0,
    }
    run_worker(services)
    assert len(local_outbox(services)) == 2


def test_a_job_run_twice_changes_nothing_and_sends_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    with services.sessions() as session:
        message_id = session.scalars(select(InboundMessage.id)).one()
    assert inbound.process_inbound_sms(message_id) == "task_created"
    assert inbound.process_inbound_sms(message_id) == "already handled"
    run_worker(services)  # the job the webhook queued runs too
    with services.sessions() as session:
        outbound_ids = session.scalars(select(OutboundMessage.id)).all()
        assert len(session.scalars(select(Task)).all()) == 1
    for outbound_id in outbound_ids:
        assert sends.deliver_sms(services, outbound_id) is True
        sends.send_sms(outbound_id)
    assert len(local_outbox(services)) == 2


def test_a_send_claimed_by_a_dead_worker_is_marked_unknown_not_resent(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    from dispatch import outbox
    from dispatch.models import utcnow

    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    with services.sessions.begin() as session:
        message_id = session.scalars(select(InboundMessage.id)).one()
    services.redis.flushall()
    from dispatch.intake_batch import handle_inbound_message

    with services.sessions.begin() as session:
        result = handle_inbound_message(session, message_id, services.intake)
    offer_id = result.outbound_ids[0]
    with services.sessions.begin() as session:
        assert outbox.claim_for_sending(session, offer_id) is not None  # and then the worker died
        session.get(OutboundMessage, offer_id).claimed_at = utcnow() - sweeper.SEND_LEASE * 2  # type: ignore[union-attr]
    counts = sweeper.sweep(grace_seconds=0)
    assert counts["abandoned"] == 1
    run_worker(services)
    with services.sessions() as session:
        assert session.get(OutboundMessage, offer_id).status == OutboundStatus.UNKNOWN  # type: ignore[union-attr]
    assert [e.to_phone for e in local_outbox(services)] != [] and all(
        e.to_phone != LIAISON_PHONE for e in local_outbox(services)
    )


@pytest.fixture
def registered_on(fragile: Services) -> None:
    from dispatch import register
    from tests.conftest import RESIDENT_PHONE

    with fragile.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_resident(session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN")


def test_any_failure_after_the_commit_still_answers_200(
    client: TestClient, services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_enqueue(*args: object) -> bool:
        raise RuntimeError("injected fault after the commit")

    monkeypatch.setattr("hotline.handover.enqueue_inbound_many", broken_enqueue)
    assert post_signed(client, services, "/twilio/sms", sms_params("买菜")).status_code == 200
    monkeypatch.undo()
    sweep_now(services)
    assert len([e for e in local_outbox(services) if e.to_phone == LIAISON_PHONE]) == 1


def test_a_job_whose_worker_was_killed_mid_job_runs_again(
    client: TestClient, services: Services, registered: dict[str, int], environ: dict[str, str]
) -> None:
    """A real worker process takes the job, blocks on the database, and is SIGKILLed. RQ still says STARTED;
    the sweeper sees the process is gone and releases the job at once."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import UTC, datetime

    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    from workers.queues import INBOUND

    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    with services.sessions.begin() as holder:
        holder.execute(text("UPDATE liaisons SET active = active"))  # holds SQLite's write lock, or a row lock
        worker = subprocess.Popen(
            [sys.executable, "-m", "hotline", "worker"],
            env=environ,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        job = Job.fetch("inbound-1", connection=services.redis)
        deadline = time.monotonic() + 30
        # Killed once it runs the job and its scheduler has started (a worker killed before that leaves a lock
        # with no scheduler behind it: see the next test).
        while job.get_status(refresh=True) != JobStatus.STARTED or not services.redis.keys("rq:scheduler:*"):
            assert time.monotonic() < deadline, "the worker never took the job"
            time.sleep(0.05)
        scheduler_pids = [int(services.redis.hget(key, "pid") or 0) for key in services.redis.keys("rq:scheduler:*")]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        # The scheduler is the worker's child: SIGKILL reaches it too, a moment later (a sweep before that moment
        # sees it alive and frees its locks at the next sweep).
        while any(process_alive(pid) for pid in scheduler_pids):
            assert time.monotonic() < deadline, "the worker's scheduler outlived SIGKILL"
            time.sleep(0.05)
    registry = StartedJobRegistry(INBOUND, connection=services.redis)
    assert job.get_status(refresh=True) == JobStatus.STARTED  # RQ does not know the worker is dead
    assert registry.get_job_ids() == ["inbound-1"]  # and its heartbeat would keep it so for about 90 s
    assert services.redis.keys("rq:scheduler-lock:*")  # the dead worker's scheduler holds the locks

    # The sweep, at once: the worker's process is gone from this machine, so its job is released without
    # waiting for the heartbeat, RQ counts the dead worker's try and schedules the retry, and the dead
    # worker's scheduler locks are freed so a live worker's scheduler moves that retry on time.
    sweeper.sweep(grace_seconds=0)
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    assert not services.redis.keys("rq:scheduler-lock:*")
    due = ScheduledJobRegistry(INBOUND, connection=services.redis).get_scheduled_time(job)
    # A live worker with its scheduler, run again and again as a worker would keep running, until the retry has
    # run (bounded): a busy machine may reach the due time later than the clock says it is due.
    deadline = time.monotonic() + max(0.0, (due - datetime.now(UTC)).total_seconds()) + 60
    while not [e for e in local_outbox(services) if e.to_phone == LIAISON_PHONE]:
        assert time.monotonic() < deadline, f"the retry due at {due:%H:%M:%S} never ran: {job.get_status(refresh=True)}"
        run_worker(services, with_scheduler=True)
        time.sleep(0.2)
    assert len([e for e in local_outbox(services) if e.to_phone == LIAISON_PHONE]) == 1


def test_a_worker_is_judged_dead_by_its_process_only_on_the_machine_it_runs_on(services: Services) -> None:
    """Two containers can share a hostname and not their process ids: a worker recorded as running elsewhere is
    left to its heartbeat, even if no process here has its id."""
    import subprocess
    import sys

    from rq import Worker

    from workers.queues import machine_identity, register_worker_home, release_dead_local_workers

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_pid = int(gone.stdout)
    here, elsewhere = Worker(["hotline-inbound"], connection=services.redis), Worker([], connection=services.redis)
    for worker in (here, elsewhere):
        worker.register_birth()  # type: ignore[no-untyped-call]
        services.redis.hset(worker.key, "pid", dead_pid)
    register_worker_home(services.redis, here.name)
    services.redis.set(f"hotline:worker-home:{elsewhere.name}", "another-boot:pid:[4026531836]")
    assert machine_identity() != "another-boot:pid:[4026531836]"
    assert release_dead_local_workers(services.redis) == [here.name]
    assert [w.name for w in Worker.all(connection=services.redis)] == [elsewhere.name]


def test_a_scheduler_lock_left_by_a_worker_that_died_before_its_scheduler_started_is_freed(
    services: Services,
) -> None:
    from workers.queues import ORPHAN_LOCK_TTL, release_dead_local_workers

    services.redis.set("rq:scheduler-lock:hotline-inbound", "a-worker-that-died", ex=ORPHAN_LOCK_TTL - 5)
    services.redis.set("rq:scheduler-lock:hotline-outbound", "a-worker-starting-now", ex=61)
    release_dead_local_workers(services.redis)
    assert services.redis.keys("rq:scheduler-lock:*") == [b"rq:scheduler-lock:hotline-outbound"]


def test_the_scheduler_stops_when_asked_even_if_redis_fails_as_it_says_goodbye(
    own_redis: EmbeddedRedis, environ: dict[str, str]
) -> None:
    """SIGTERM makes RQ's cron scheduler record its death in Redis. If Redis is gone, that write fails; the
    scheduler must still stop, not take the failure for an outage to wait out (it would never stop)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from redis import Redis
    from rq.cron import CronScheduler

    env = {**environ, "REDIS_URL": own_redis.url, "HOTLINE_SWEEP_SECONDS": "1"}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "hotline", "scheduler"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        with Redis.from_url(own_redis.url) as client:
            while not CronScheduler.all(client):
                assert time.monotonic() < deadline, "the scheduler never started"
                time.sleep(0.1)
        own_redis.stop()  # Redis goes away; the scheduler is between two runs
        os.killpg(scheduler.pid, signal.SIGTERM)
        assert scheduler.wait(15) == 0
    finally:
        if scheduler.poll() is None:
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.wait()
