"""Jobs queued by an earlier release name their function by its former path (`workers.jobs.…`): RQ stores that
path with the job. After an upgrade the hotline's worker still runs them, to the same effect."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.utils import import_attribute
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import outbox
from dispatch.models import InboundMessage
from hotline.jobs.worker import FORMER_NAMES, HotlineJob
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, post_signed, run_worker, sent_to, sms_params
from workers.queues import FAILURE_TTL, INBOUND, JOB_FUNCTIONS, OUTBOUND


def test_an_inbound_job_queued_by_its_former_name_runs_to_completion(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    inbound = Queue(INBOUND, connection=services.redis)
    [job_id] = inbound.job_ids
    inbound.empty()  # the job this release queued is gone; the one an earlier release queued is waiting instead
    message_id = int(job_id.removeprefix("inbound-"))
    old = inbound.enqueue("workers.jobs.process_inbound_sms", message_id, job_id=job_id, failure_ttl=FAILURE_TTL)

    run_worker(services)

    assert old.get_status(refresh=True) == "finished"
    with services.sessions() as session:
        assert session.scalar(select(InboundMessage.processed_at).where(InboundMessage.id == message_id))
    assert len(sent_to(services, LIAISON_PHONE)) == 1  # the task's offer, sent by the job and its follow-up send


def test_a_send_queued_by_its_former_name_goes_out_once(services: Services, registered: dict[str, int]) -> None:
    with services.sessions.begin() as session:
        row = outbox.queue_sms(session, dedupe_key="old-name-send", to_phone=LIAISON_PHONE, body="请回电")
        assert row is not None
        session.flush()
        outbound_id = row.id
    outbound = Queue(OUTBOUND, connection=services.redis)
    for _ in range(2):  # queued twice, as a retry would: sent once
        outbound.enqueue("workers.jobs.send_sms", outbound_id, failure_ttl=FAILURE_TTL)
    run_worker(services)
    assert sent_to(services, LIAISON_PHONE) == ["请回电"]


@pytest.mark.parametrize("former", sorted(FORMER_NAMES))
def test_every_former_name_is_read_as_the_function_now(former: str, services: Services) -> None:
    job = HotlineJob.create(former, connection=services.redis)
    assert job.func is import_attribute(FORMER_NAMES[former])


def test_every_job_the_queues_name_is_a_function_of_hotline_jobs() -> None:
    for name in JOB_FUNCTIONS:
        assert name.startswith("hotline.jobs.")
        assert callable(import_attribute(name)), name
    assert set(FORMER_NAMES.values()) == set(JOB_FUNCTIONS)  # every job has its former name mapped
