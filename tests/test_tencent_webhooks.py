"""Tencent Cloud SMS, inbound: the reply callback becomes the same work a Twilio SMS does, stored once however often
it comes; the status callback marks delivery and climbs a failed offer; no secret, no entry."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch.models import Base, InboundMessage, OutboundMessage, OutboundStatus, Task, TaskStatus
from hotline.services import Services
from hotline.webhooks.paths import Tencent
from tests.conftest import (
    BACKUP_PHONE,
    LIAISON_PHONE,
    RESIDENT_PHONE,
    local_outbox,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
)
from tests.route_requests import row_counts

CALLBACK_SECRET = "Tc-callback-" + "s3cr3t" * 4
REPLY_URL = f"{Tencent.REPLY}?s={CALLBACK_SECRET}"
STATUS_URL = f"{Tencent.STATUS}?s={CALLBACK_SECRET}"
OK = {"result": 0, "errmsg": "OK"}


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "TENCENT_CALLBACK_SECRET": CALLBACK_SECRET}


def reply(text: str = "想买点菜", mobile: str = RESIDENT_PHONE.removeprefix("+86"), at: int = 1_900_000_000) -> dict:
    """The body Tencent posts for one reply (短信回复)."""
    return {"extend": "", "mobile": mobile, "nationcode": "86", "sign": "社区热线", "text": text, "time": at}


def post_json(client: TestClient, url: str, payload: Any) -> Any:
    return client.post(
        url, content=json.dumps(payload, ensure_ascii=False).encode(), headers={"Content-Type": "application/json"}
    )


def tasks(services: Services) -> list[Task]:
    with services.sessions() as session:
        return list(session.scalars(select(Task).order_by(Task.id)))


def offer(services: Services, phone: str = LIAISON_PHONE) -> OutboundMessage:
    with services.sessions() as session:
        return session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == phone)).one()


def test_a_reply_becomes_the_work_a_twilio_sms_would(
    client: TestClient, services: Services, registered: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    before = row_counts(services)
    with caplog.at_level(logging.INFO):
        answer = post_json(client, REPLY_URL, reply("想买点菜"))
    assert answer.status_code == 200 and answer.json() == OK
    run_worker(services)
    by_tencent = work_done(services)
    with services.sessions() as session:
        message = session.scalars(select(InboundMessage)).one()
        assert (message.from_phone, message.body) == (RESIDENT_PHONE, "想买点菜")
        assert message.provider_sid.startswith("TC") and message.processed_at is not None
    assert RESIDENT_PHONE[3:] not in caplog.text and "想买点菜" not in caplog.text
    assert by_tencent["tasks"] == [("groceries", TaskStatus.OFFERED, registered["resident"])]

    # The same words by Twilio, once the work above is forgotten: the same task and the same SMS.
    forget_work(services, before)
    post_signed(client, services, "/twilio/sms", sms_params("想买点菜"))
    run_worker(services)
    assert work_done(services) == by_tencent


def work_done(services: Services) -> dict[str, list[Any]]:
    """The tasks made and the SMS sent, task numbers left out (they differ from run to run on PostgreSQL)."""
    number = re.compile(r"(#|接|完)\d+")
    return {
        "tasks": [(t.category, t.status, t.resident_id) for t in tasks(services)],
        "sms": [(e.to_phone, number.sub(r"\1N", e.body)) for e in local_outbox(services)],
    }


def forget_work(services: Services, before: dict[str, int]) -> None:
    """Delete the rows of every table that has more than `before`, and empty Redis: the register stays."""
    changed = {name for name, count in row_counts(services).items() if count != before.get(name)}
    with services.sessions.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in changed:
                session.execute(table.delete())
    services.redis.flushall()


def test_a_reply_delivered_twice_is_stored_once(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    for _ in range(2):
        assert post_json(client, REPLY_URL, reply("想买药")).json() == OK
    run_worker(services)
    assert post_json(client, REPLY_URL, reply("想买药")).json() == OK  # and once more, after it was acted on
    run_worker(services)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
    assert len(tasks(services)) == 1 and len(sent_to(services, LIAISON_PHONE)) == 1
    # The same words at another time are another message.
    assert post_json(client, REPLY_URL, reply("想买药", at=1_900_000_060)).json() == OK
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2


def test_without_the_secret_nothing_is_stored(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    before = row_counts(services)
    for url in (
        Tencent.REPLY,
        f"{Tencent.REPLY}?s=",
        f"{Tencent.REPLY}?s={CALLBACK_SECRET[:-1]}x",
        f"{Tencent.REPLY}?s={CALLBACK_SECRET}x",
    ):
        assert post_json(client, url, reply()).status_code == 403, url
    for url in (Tencent.STATUS, f"{Tencent.STATUS}?s=wrong"):
        report = [{"sid": "2019:1", "report_status": "FAIL", "mobile": "13912345678", "nationcode": "86"}]
        assert post_json(client, url, report).status_code == 403, url
    assert row_counts(services) == before


@pytest.mark.parametrize(
    ("url", "body", "words"),
    [
        (REPLY_URL, b"{not json", "must be JSON"),
        (REPLY_URL, b"\xff\xfe", "must be JSON"),
        (REPLY_URL, b"[]", "must be a JSON object"),
        (REPLY_URL, json.dumps({**reply(), "mobile": ""}).encode(), "mobile"),
        (REPLY_URL, json.dumps({**reply(), "time": "soon"}).encode(), "time"),
        (REPLY_URL, json.dumps({**reply(), "text": None}).encode(), "text"),
        (REPLY_URL, json.dumps({**reply(), "nationcode": "+86"}).encode(), "nationcode"),
        (STATUS_URL, b'{"sid": "1"}', "JSON array"),
        (STATUS_URL, b'[{"report_status": "SUCCESS"}]', "sid"),
    ],
)
def test_bad_json_is_a_clear_400(client: TestClient, services: Services, url: str, body: bytes, words: str) -> None:
    before = row_counts(services)
    answer = client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and words in answer.text, answer.text
    assert row_counts(services) == before


def test_a_status_report_marks_delivery(client: TestClient, services: Services, registered: dict[str, int]) -> None:
    post_json(client, REPLY_URL, reply("想买点菜"))
    run_worker(services)
    sid = offer(services).provider_sid
    assert sid is not None
    report = {
        "user_receive_time": "2030-03-04 09:00:05",
        "nationcode": "86",
        "mobile": LIAISON_PHONE[3:],
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": sid,
    }
    assert post_json(client, STATUS_URL, [report]).json() == OK
    assert offer(services).status == OutboundStatus.DELIVERED
    late = {**report, "report_status": "FAIL", "errmsg": "UNDELIV"}
    assert post_json(client, STATUS_URL, [late]).json() == OK  # late and backwards: no change
    assert offer(services).status == OutboundStatus.DELIVERED
    assert post_json(client, STATUS_URL, [{**report, "sid": "2019:unknown"}]).json() == OK  # not ours: ignored


def test_a_failed_offer_climbs_as_with_twilio(client: TestClient, services: Services, community: None) -> None:
    post_json(client, REPLY_URL, reply("买药"))
    run_worker(services)
    first = offer(services)
    report = {
        "nationcode": "86",
        "mobile": LIAISON_PHONE[3:],
        "report_status": "FAIL",
        "errmsg": "UNDELIV",
        "description": "用户短信未送达",
        "sid": str(first.provider_sid),
    }
    assert post_json(client, STATUS_URL, [report]).json() == OK
    run_worker(services)  # the webhook queued the backup's offer
    [task] = tasks(services)
    assert task.rung == 1 and len(sent_to(services, BACKUP_PHONE)) == 1
    assert offer(services).status == OutboundStatus.UNDELIVERED
    assert post_json(client, STATUS_URL, [report, report]).json() == OK  # Tencent pushes again
    run_worker(services)
    [task] = tasks(services)
    assert task.rung == 1 and len(sent_to(services, BACKUP_PHONE)) == 1


def test_a_blank_reply_is_kept_not_refused(client: TestClient, services: Services, registered: dict[str, int]) -> None:
    assert post_json(client, REPLY_URL, reply("")).json() == OK  # Tencent would drop it after two retries of a 400
    with services.sessions() as session:
        assert session.scalars(select(InboundMessage.body)).all() == [""]
