"""A job popped by a worker that died before starting it: its hash still says `queued`, its id sits in no list.

The database decides. The sweeper queues again every message and SMS its rows say are owed, whatever a job's
hash says, unless the job is really on its way: waiting in a list, waiting its time in the scheduled registry, or
being executed under a live heartbeat.
"""

from __future__ import annotations

import time

from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import outbox
from dispatch.models import InboundMessage, OutboundMessage
from hotline.jobs import checkins as checkin_jobs
from hotline.jobs import sends, sweeper
from hotline.services import Services
from tests.conftest import (
    LIAISON_PHONE,
    PHONES,
    Clock,
    at,
    local_outbox,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
)
from tests.test_durability import sweep_now
from workers.queues import (
    CHECKINS,
    INBOUND,
    MAINTENANCE,
    OUTBOUND,
    enqueue_batch,
    enqueue_checkin_tick,
    enqueue_send,
    enqueue_sweep,
)


def popped_and_died(services: Services, queue_name: str) -> list[str]:
    """What a worker leaves that pops every job of a queue and dies before starting one: ids gone from the list,
    their hashes still saying `queued`."""
    key = Queue(queue_name, connection=services.redis).key
    taken = []
    while (job_id := services.redis.lpop(key)) is not None:
        taken.append(job_id.decode())  # type: ignore[union-attr]
    assert taken, f"nothing was waiting in {queue_name}"
    for job_id in taken:
        assert Job.fetch(job_id, connection=services.redis).get_status() == JobStatus.QUEUED
    return taken


def test_an_inbound_message_whose_job_was_popped_by_a_dead_worker_is_processed(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    for body in ("买菜", "买药", "倒垃圾"):
        post_signed(client, services, "/twilio/sms", sms_params(body))
    assert len(popped_and_died(services, INBOUND)) == 3
    run_worker(services)
    assert local_outbox(services) == []  # no worker can see them: they are in no list

    sweep_now(services)
    with services.sessions() as session:
        assert None not in session.scalars(select(InboundMessage.processed_at)).all()
    assert len(sent_to(services, LIAISON_PHONE)) == 3  # one offer per message, none twice
    assert sweeper.sweep(grace_seconds=0)["inbound"] == 0  # and once done, nothing is queued again


def test_a_send_whose_job_was_popped_by_a_dead_worker_goes_out_exactly_once(
    services: Services, registered: dict[str, int]
) -> None:
    with services.sessions.begin() as session:
        row = outbox.queue_sms(session, dedupe_key="lost-send", to_phone=LIAISON_PHONE, body="请回电")
        assert row is not None
        session.flush()
        outbound_id = row.id
    assert enqueue_send(services.redis, outbound_id)
    assert popped_and_died(services, OUTBOUND) == [f"send-{outbound_id}"]
    run_worker(services)
    assert local_outbox(services) == []

    sweep_now(services)
    assert sent_to(services, LIAISON_PHONE) == ["请回电"]
    sweep_now(services)  # the claim stays the guard: a second sweep, or a second job, sends nothing
    sends.send_sms(outbound_id)
    assert sent_to(services, LIAISON_PHONE) == ["请回电"]


def test_a_checkin_batch_popped_by_a_dead_worker_is_sent_once_to_everyone(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    clock.now = at("09:00")
    checkin_jobs.checkin_tick()
    assert popped_and_died(services, CHECKINS)
    run_worker(services)
    assert local_outbox(services) == []

    sweep_now(services)
    with services.sessions() as session:
        owed = list(session.scalars(select(OutboundMessage.to_phone).where(OutboundMessage.checkin_id.is_not(None))))
    assert owed and sorted(entry.to_phone for entry in local_outbox(services)) == sorted(owed)
    assert PHONES["梁阿姨"] in owed


def test_the_sweep_and_the_tick_are_queued_again_after_a_dead_worker_popped_them(services: Services) -> None:
    """The sweeper itself must not be lost: its job popped and never run would stop every later sweep."""
    assert enqueue_sweep(services.redis) and enqueue_checkin_tick(services.redis)
    assert not enqueue_sweep(services.redis)  # waiting in the list: not queued twice
    assert sorted(popped_and_died(services, MAINTENANCE)) == ["checkin-tick", "sweep"]
    assert enqueue_sweep(services.redis) and enqueue_checkin_tick(services.redis)
    assert services.redis.llen(Queue(MAINTENANCE, connection=services.redis).key) == 2


def test_work_really_on_its_way_is_not_queued_twice(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    post_signed(client, services, "/twilio/sms", sms_params("买药"))
    inbound = Queue(INBOUND, connection=services.redis)
    assert inbound.count == 2
    # One of them is being run by a worker whose heartbeat is live: its execution in the started registry.
    running = services.redis.lpop(inbound.key).decode()  # type: ignore[union-attr]
    registry = StartedJobRegistry(INBOUND, connection=services.redis)
    services.redis.zadd(registry.key, {f"{running}:execution": time.time() + 60})

    assert sweeper.sweep(grace_seconds=0)["inbound"] == 0
    assert inbound.count == 1

    # Its heartbeat lapses (the worker died on another machine): now it is owed, and queued again.
    services.redis.zadd(registry.key, {f"{running}:execution": time.time() - 1})
    assert sweeper.sweep(grace_seconds=0)["inbound"] == 1
    assert sorted(inbound.get_job_ids()) == ["inbound-1", "inbound-2"]
    run_worker(services)
    assert len(sent_to(services, LIAISON_PHONE)) == 2


def test_checkin_rows_a_waiting_batch_will_send_are_not_batched_again(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    clock.now = at("09:00")
    checkin_jobs.checkin_tick()
    popped_and_died(services, CHECKINS)
    with services.sessions() as session:
        owed = sorted(session.scalars(select(OutboundMessage.id).where(OutboundMessage.checkin_id.is_not(None))))
    assert len(owed) > 3
    assert enqueue_batch(services.redis, owed[:3])  # a batch of three is waiting: only the rest is owed a job

    assert sweeper.sweep(grace_seconds=0)["outbound"] == len(owed) - 3
    assert Queue(CHECKINS, connection=services.redis).count == 2
    run_worker(services)
    assert len(local_outbox(services)) == len(owed)
