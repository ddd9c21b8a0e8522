"""The inbound SMS group commit: webhooks arriving together share one transaction and one queued job.

Many webhooks are sent at once through the ASGI app in one event loop (httpx's ASGI transport), so they really
do meet in one batch; Twilio's habit of delivering the same webhook several times at once is among them.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx2 as httpx
import pytest
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.inbound import InboundSms, StoredInbound, store_inbound_batch
from dispatch.models import InboundMessage, Task
from hotline.app import create_app
from hotline.jobs import sweeper
from hotline.services import Services
from hotline.settings import Settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import LIAISON_PHONE, local_outbox, run_worker, sign, sms_params
from workers.queues import INBOUND


async def _post_all(settings: Settings, services: Services, forms: list[dict[str, str]]) -> list[httpx.Response]:
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500, as uvicorn would send
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:

        def post(form: dict[str, str]):  # type: ignore[no-untyped-def]
            signature = sign(services, "/twilio/sms", form)
            return client.post("/twilio/sms", data=form, headers={SIGNATURE_HEADER: signature})

        return list(await asyncio.gather(*(post(form) for form in forms)))


def _queued_ids(services: Services) -> list[int]:
    """Every inbound message id in the jobs waiting on the inbound queue, repeats included."""
    return [i for job in Queue(INBOUND, connection=services.redis).get_jobs() for i in job.args]


def test_webhooks_arriving_together_are_stored_once_each_and_queued_once_each(
    settings: Settings, services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotline.webhooks import inbound_batcher

    commits: list[int] = []

    def counted(session: Session, messages: list[InboundSms]) -> list[StoredInbound]:
        commits.append(len(messages))
        return store_inbound_batch(session, messages)

    monkeypatch.setattr(inbound_batcher, "store_inbound_batch", counted)
    repeated = sms_params("买菜")
    forms = [repeated, *(sms_params("买菜") for _ in range(20)), repeated, repeated]  # delivered 3 times at once

    answers = asyncio.run(_post_all(settings, services, forms))

    assert [a.status_code for a in answers] == [200] * len(forms)
    with services.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(InboundMessage))
    assert stored == 21
    queued = _queued_ids(services)
    assert sorted(queued) == list(range(1, 22))  # each new message once, the repeats not at all
    assert sum(commits) == len(forms) and len(commits) < len(forms)  # shared commits: it did batch
    sweeper.sweep(grace_seconds=0)  # the sweeper finds every job waiting, and queues nothing twice
    assert sorted(_queued_ids(services)) == list(range(1, 22))

    run_worker(services)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1  # one need of one household: one task
    assert len([e for e in local_outbox(services) if e.to_phone == LIAISON_PHONE]) == 1


def test_a_failed_commit_answers_500_to_the_whole_batch_and_stores_nothing(
    settings: Settings, services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("injected: the database went away")

    monkeypatch.setattr("hotline.webhooks.inbound_batcher.store_inbound_batch", broken)
    forms = [sms_params(f"第{i}条") for i in range(5)]
    answers = asyncio.run(_post_all(settings, services, forms))
    assert {a.status_code for a in answers} == {500}  # Twilio retries each: nothing was acknowledged
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0

    monkeypatch.undo()
    answers = asyncio.run(_post_all(settings, services, forms))  # Twilio's retries
    assert {a.status_code for a in answers} == {200}
    assert sorted(_queued_ids(services)) == [1, 2, 3, 4, 5]


def test_one_message_that_cannot_be_stored_fails_alone(
    settings: Settings, services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotline.webhooks import inbound_batcher

    def poisoned(session: Session, messages: list[InboundSms]) -> list[StoredInbound]:
        if any(m.body == "坏" for m in messages):
            raise RuntimeError("injected: a row the database refuses")
        return store_inbound_batch(session, messages)

    monkeypatch.setattr(inbound_batcher, "store_inbound_batch", poisoned)
    forms = [sms_params("买菜"), sms_params("坏"), sms_params("倒垃圾")]
    answers = asyncio.run(_post_all(settings, services, forms))
    assert [a.status_code for a in answers] == [200, 500, 200]
    with services.sessions() as session:
        assert sorted(session.scalars(select(InboundMessage.body))) == sorted(["买菜", "倒垃圾"])


def test_a_nul_in_a_message_is_dropped_not_a_500(
    settings: Settings, services: Services, registered: dict[str, int]
) -> None:
    answers = asyncio.run(_post_all(settings, services, [sms_params("买\x00菜"), sms_params("倒垃圾")]))
    assert [a.status_code for a in answers] == [200, 200]
    with services.sessions() as session:
        assert sorted(session.scalars(select(InboundMessage.body))) == sorted(["买菜", "倒垃圾"])


def test_store_inbound_batch_names_the_first_row_for_every_repeat(services: Services) -> None:
    def message(sid: str) -> InboundSms:
        return InboundSms.parse(message_sid=sid, from_phone="13800138000", to_phone="", body="hi", region="CN")

    old, new = "SM" + uuid.uuid4().hex, "SM" + uuid.uuid4().hex
    with services.sessions.begin() as session:
        [first] = store_inbound_batch(session, [message(old)])
    with services.sessions.begin() as session:
        results = store_inbound_batch(session, [message(new), message(old), message(new)])
    assert first.created and not first.processed
    assert results[0].created and results[0].message_id != first.message_id
    assert (results[1].message_id, results[1].created) == (first.message_id, False)
    assert (results[2].message_id, results[2].created) == (results[0].message_id, False)
    with services.sessions() as session:
        row = session.scalars(select(InboundMessage).where(InboundMessage.provider_sid == new)).one()
    assert row.from_phone == "+8613800138000"  # stored in E.164


@pytest.mark.parametrize("path", ["/twilio/sms", "/twilio/voice"])
def test_a_webhook_body_over_64_kb_is_refused_with_413_and_stores_nothing(
    settings: Settings, services: Services, registered: dict[str, int], path: str
) -> None:
    from starlette.testclient import TestClient

    call = {"CallSid": "CA" + uuid.uuid4().hex, "CallStatus": "ringing"}
    form = sms_params("买" * 30_000) | call  # about 270 kB once form-encoded
    with TestClient(create_app(settings, services)) as client:
        answer = client.post(path, data=form, headers={SIGNATURE_HEADER: sign(services, path, form)})
        assert answer.status_code == 413
        form = sms_params("买" * 1000) | call  # a long SMS is fine
        assert client.post(path, data=form, headers={SIGNATURE_HEADER: sign(services, path, form)}).status_code == 200
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == (1 if path == "/twilio/sms" else 0)
