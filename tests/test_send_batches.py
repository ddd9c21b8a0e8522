"""Sends in batches: a send job that finds others waiting behind it claims all their SMS in one statement and
hands them to the gateway together, each exactly once; within the provider's rate, and through each community's
gateway, as a send alone."""

from __future__ import annotations

import threading

import pytest
from rq import Queue
from sqlalchemy import select

from dispatch.models import OutboundMessage, OutboundStatus
from dispatch.outbox import queue_sms
from hotline.handover import Decided, hand_over
from hotline.jobs import sends
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.conftest import fresh_services, local_outbox, run_worker
from workers.exceptions import GatewayAmbiguousError, GatewayTemporaryError
from workers.gateways.local import LocalGateway
from workers.queues import OUTBOUND
from workers.throttle import Throttle

PHONES = [f"+861390013{i:04d}" for i in range(6)]


def decide(services: Services, count: int = 6) -> list[int]:
    """Store `count` SMS and queue a send job each, as intake hands them over."""
    with services.sessions.begin() as session:
        rows = [queue_sms(session, dedupe_key=f"test:{i}", to_phone=PHONES[i], body=f"第{i}条") for i in range(count)]
        ids = [row.id for row in rows if row is not None]
    hand_over(services.redis, Decided(new_sends=ids))
    return ids


def statuses(services: Services) -> dict[int, str]:
    with services.sessions() as session:
        return {row.id: str(row.status) for row in session.scalars(select(OutboundMessage))}


def test_the_first_send_job_hands_the_waiting_ones_over_together_and_a_second_run_sends_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = LocalGateway.send_sms_many

    def counted(self: LocalGateway, messages: list[tuple[str, str, str | None]]) -> list[str]:
        calls.append(len(messages))
        return real(self, messages)

    monkeypatch.setattr(LocalGateway, "send_sms_many", counted)
    ids = decide(services)
    assert Queue(OUTBOUND, connection=services.redis).count == 6
    run_worker(services)
    assert calls == [6]  # one gateway call for all six
    assert sorted(entry.to_phone for entry in local_outbox(services)) == PHONES
    assert set(statuses(services).values()) == {str(OutboundStatus.SENT)}
    # The same jobs again, as a retried job or a sweeper's requeue would run them: nothing is sent.
    assert sends.send_together(services, ids) == "0 together, 0 one by one, 0 to try again"
    hand_over(services.redis, Decided(sends=ids))
    run_worker(services)
    assert len(local_outbox(services)) == 6 and calls == [6]


def test_two_send_jobs_at_once_with_the_same_rows_send_each_once(services: Services) -> None:
    ids = decide(services)
    start, errors = threading.Barrier(2), []

    def send(order: list[int]) -> None:
        try:
            start.wait(10)
            sends.send_together(services, order)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(order,)) for order in (ids, list(reversed(ids)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(entry.to_phone for entry in local_outbox(services)) == PHONES


def test_a_gateway_that_fails_the_batch_gets_them_one_by_one(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: LocalGateway, messages: list[tuple[str, str, str | None]]) -> list[str]:
        raise GatewayTemporaryError("batch endpoint down")

    monkeypatch.setattr(LocalGateway, "send_sms_many", refuse)
    decide(services)
    run_worker(services)
    assert sorted(entry.to_phone for entry in local_outbox(services)) == PHONES
    assert set(statuses(services).values()) == {str(OutboundStatus.SENT)}


def test_a_batch_the_gateway_may_have_taken_is_never_sent_again(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsure(self: LocalGateway, messages: list[tuple[str, str, str | None]]) -> list[str]:
        raise GatewayAmbiguousError("timed out after the request was sent")

    monkeypatch.setattr(LocalGateway, "send_sms_many", unsure)
    ids = decide(services)
    run_worker(services)
    assert local_outbox(services) == []  # nothing sent one by one behind a batch that may have gone
    assert statuses(services) == dict.fromkeys(ids, str(OutboundStatus.UNKNOWN))


@pytest.fixture
def limited(environ: dict[str, str]) -> Settings:
    return load_settings({**environ, "HOTLINE_SMS_PER_SECOND": "2"}, env_file=None)


def test_with_a_rate_limit_they_go_one_by_one_within_it_and_the_rest_wait(limited: Settings) -> None:
    with fresh_services(limited) as services:
        assert isinstance(services.throttle, Throttle) and services.throttle.limited("sms")
        ids = decide(services)
        run_worker(services)  # no scheduler: the ones over the rate wait in the scheduled registry
        sent = {row_id for row_id, status in statuses(services).items() if status == str(OutboundStatus.SENT)}
        assert 1 <= len(sent) <= 2  # two tokens a second: never six at once
        assert len(local_outbox(services)) == len(sent)
        waiting = statuses(services)
        assert all(waiting[i] == str(OutboundStatus.PENDING) for i in ids if i not in sent)  # none lost
        queue = Queue(OUTBOUND, connection=services.redis)
        retried = set(queue.scheduled_job_registry.get_job_ids()) | set(queue.failed_job_registry.get_job_ids())
        retried |= {job_id for job_id in queue.job_ids}
        assert {f"send-{i}" for i in ids if i not in sent} <= retried  # each comes back to be sent
