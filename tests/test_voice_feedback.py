"""Residents on voice hear back by automated call: the gateway places it, and the call fetches its words."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import Channel, Task
from hotline.services import Services
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import LIAISON_PHONE, PUBLIC_URL, RESIDENT_PHONE, local_outbox, post_signed, run_worker, sms_params


def test_a_voice_resident_gets_a_call_that_says_the_feedback_twice(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_resident(
            session,
            name="王大爷",
            phones=[RESIDENT_PHONE],
            liaison_phone=LIAISON_PHONE,
            region="CN",
            channel=Channel.VOICE,
        )
    post_signed(client, services, "/twilio/sms", sms_params("买药"))  # typed by a grandchild on his phone
    run_worker(services)
    assert [e.kind for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE] == []  # he cannot read SMS
    with services.sessions() as session:
        task_id = session.scalars(select(Task.id)).one()
    post_signed(client, services, "/twilio/sms", sms_params(f"接{task_id}", from_phone=LIAISON_PHONE))
    run_worker(services)

    [call] = [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE]
    assert call.kind == "call" and call.body.startswith(PUBLIC_URL + "/twilio/voice/message?o=")
    url = urlsplit(call.body)
    params = {"CallSid": "CA" + "1" * 32, "From": "+10000000000", "To": RESIDENT_PHONE, "CallStatus": "in-progress"}
    answer = post_signed(client, services, f"{url.path}?{url.query}", params)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
    assert (
        answer.text.count("张敏") == 2
        and 'language="cmn-CN" voice="Polly.Zhiyu-Neural"' in answer.text
        and "<Pause" in answer.text
    )


def test_the_call_endpoint_is_signed_and_never_silent(client: TestClient, services: Services) -> None:
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "in-progress"}
    assert client.post("/twilio/voice/message?o=1", data=params).status_code == 403
    signature = services.signature.sign("/twilio/voice/message", params, query="o=999")
    missing = client.post("/twilio/voice/message?o=999", data=params, headers={SIGNATURE_HEADER: signature})
    assert missing.status_code == 200 and "<Say" in missing.text and "暂时无法播放" in missing.text
