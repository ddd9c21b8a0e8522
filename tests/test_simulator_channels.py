"""The phone simulator and the demo speaking each channel (`HOTLINE_LOCAL_CHANNEL`, `hotline demo --channel`): the
local gateway stands in for Twilio, Tencent Cloud SMS or SMS Gateway for Android; the simulator posts what that
provider posts, to its webhook, signed or secreted as it does, through the real checks; that channel's abilities
apply; and Tencent's texts are the approved templates as a phone receives them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx2 as httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from dispatch.channels import CHANNELS, Ability
from dispatch.models import InboundMessage, LocalOutboxEntry, OutboundMessage, TaskCategory
from dispatch.sms_templates import TemplateTable
from hotline.exceptions import SettingsError
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.conftest import LIAISON_PHONE, PUBLIC_URL, RESIDENT_PHONE, TEST_AUTH_TOKEN, run_worker, tasks
from tests.console_helpers import make_user, sign_in

CALLBACK_SECRET = "a-demo-callback-secret-of-some-length"
SIGNING_KEY = "a-long-signing-key-for-the-demo-phone"
SIGN = "幸福里热线"  # not the catalog's sign: Tencent's texts carry the approved one
CHANNEL_SETTINGS = {
    "twilio": {},
    "tencent": {"TENCENT_CALLBACK_SECRET": CALLBACK_SECRET, "TENCENT_SMS_SIGN_NAME": SIGN},
    "android": {"ANDROID_SIGNING_KEY": SIGNING_KEY, "ANDROID_PHONES": "demo=http://sms:pw@127.0.0.1:8080"},
}
INBOUND_PREFIX = {"twilio": "SM", "tencent": "TC", "android": "AG"}
WEBHOOK = {"twilio": "/twilio/sms", "tencent": "/tencent/sms/reply", "android": "/android/events"}
REPORT = {"twilio": "/twilio/status", "tencent": "/tencent/sms/status", "android": "/android/events"}


@pytest.fixture(params=["twilio", "tencent", "android"])
def channel(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(environ: dict[str, str], channel: str) -> Settings:
    """The local gateway standing in for `channel`, as `hotline demo --channel` sets it up."""
    return load_settings({**environ, "HOTLINE_LOCAL_CHANNEL": channel, **CHANNEL_SETTINGS[channel]}, env_file=None)


@pytest.fixture
def staff(client: TestClient, services: Services) -> dict[str, str]:
    make_user(services)
    return {"X-CSRF-Token": sign_in(client), "Accept": "application/json"}


@dataclass
class Seen:
    """One request the simulator made to the app, as the app received it."""

    path: str  # with its query
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def recorded(client: TestClient) -> Iterator[list[Seen]]:
    """Every request the simulator makes to the webhooks, raw."""
    seen: list[Seen] = []
    webhooks = client.app.state.simulator  # type: ignore[attr-defined]
    real_app = webhooks._transport.app

    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        query = scope["query_string"].decode()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append(Seen(scope["path"] + ("?" + query if query else ""), headers, body))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await real_app(scope, replay, send)

    webhooks._transport = httpx.ASGITransport(app=recording)
    yield seen


def post(client: TestClient, headers: dict[str, str], path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def thread(client: TestClient, phone: str) -> list[dict[str, str]]:
    return client.get("/simulator/api/phone", params={"phone": phone}).json()["thread"]  # type: ignore[no-any-return]


def inbound(services: Services) -> list[InboundMessage]:
    with services.readonly() as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def outbound_by_sid(services: Services, sid: str) -> OutboundMessage:
    with services.readonly() as session:
        return session.scalars(select(OutboundMessage).where(OutboundMessage.provider_sid == sid)).one()


def outbox_entry(services: Services, key: str) -> LocalOutboxEntry:
    with services.readonly() as session:
        entry = session.get(LocalOutboxEntry, int(key.removeprefix("out-")))
        assert entry is not None
        return entry


def assert_as_the_provider_posts(channel: str, seen: Seen, services: Services) -> None:
    """The request is in that provider's format, signed (or carrying the secret) as it does."""
    if channel == "twilio":
        fields = dict(parse_qsl(seen.body.decode(), keep_blank_values=True))
        signature = seen.headers["x-twilio-signature"]
        assert RequestValidator(TEST_AUTH_TOKEN).validate(PUBLIC_URL + seen.path, fields, signature)
    elif channel == "tencent":
        assert seen.path.endswith(f"?s={CALLBACK_SECRET}")
        assert "x-twilio-signature" not in seen.headers
        json.loads(seen.body)
    else:
        assert seen.path.endswith("?phone=demo")
        stamp = seen.headers["x-timestamp"]
        expected = hmac.new(SIGNING_KEY.encode(), seen.body + stamp.encode(), hashlib.sha256).hexdigest()
        assert seen.headers["x-signature"] == expected
        envelope = json.loads(seen.body)
        assert {"deviceId", "event", "id", "webhookId", "payload"} <= set(envelope)


@pytest.mark.usefixtures("community")
def test_a_residents_sms_and_its_delivery_report_go_through_the_providers_webhooks(
    client: TestClient, services: Services, staff: dict[str, str], recorded: list[Seen], channel: str
) -> None:
    post(client, staff, "/simulator/api/sms", {"phone": RESIDENT_PHONE, "body": "买药"})
    [seen] = recorded
    assert seen.path.split("?")[0] == WEBHOOK[channel]
    assert_as_the_provider_posts(channel, seen, services)
    if channel == "tencent":
        reply = json.loads(seen.body)
        assert (reply["mobile"], reply["nationcode"], reply["text"]) == ("13800138000", "86", "买药")
        assert isinstance(reply["time"], int) and set(reply) == {
            "extend",
            "mobile",
            "nationcode",
            "sign",
            "text",
            "time",
        }
    if channel == "android":
        envelope = json.loads(seen.body)
        assert envelope["event"] == "sms:received"
        assert (envelope["payload"]["sender"], envelope["payload"]["message"]) == (RESIDENT_PHONE, "买药")
    [message] = inbound(services)
    assert (message.from_phone, message.body) == (RESIDENT_PHONE, "买药")
    assert message.provider_sid.startswith(INBOUND_PREFIX[channel])

    run_worker(services)
    [task] = tasks(services)
    assert task.category == TaskCategory.MEDICINE
    receipt = thread(client, RESIDENT_PHONE)[-1]
    assert receipt["from"] == "hotline" and "张敏" in receipt["body"] and receipt["status"] == "sent"
    offer = thread(client, LIAISON_PHONE)[-1]
    assert f"接{task.id}" in offer["body"]

    # The liaison's phone never got the offer: the provider says so in its own format, and the row follows.
    sid = outbox_entry(services, offer["id"]).sid
    assert post(client, staff, "/simulator/api/report", {"phone": LIAISON_PHONE, "id": offer["id"], "status": "failed"})
    report = recorded[-1]
    assert report.path.split("?")[0] == REPORT[channel]
    assert_as_the_provider_posts(channel, report, services)
    if channel == "tencent":
        [item] = json.loads(report.body)
        assert (item["sid"], item["report_status"], item["mobile"]) == (sid, "FAIL", "13912345678")
    if channel == "android":
        assert json.loads(report.body)["event"] == "sms:failed"
    assert outbound_by_sid(services, sid).status in ("failed", "undelivered")
    assert thread(client, LIAISON_PHONE)[-1]["status"] == "failed"
    # Reported once: a second click is refused and posts nothing.
    again = {"phone": LIAISON_PHONE, "id": offer["id"], "status": "delivered"}
    assert "not waiting" in post(client, staff, "/simulator/api/report", again, 409)["error"]
    assert len(recorded) == 2

    # The resident's receipt arrived.
    receipt_sid = outbox_entry(services, receipt["id"]).sid
    post(client, staff, "/simulator/api/report", {"phone": RESIDENT_PHONE, "id": receipt["id"], "status": "delivered"})
    assert outbound_by_sid(services, receipt_sid).status == "delivered"


@pytest.mark.usefixtures("community")
def test_a_tampered_request_is_refused_and_stores_nothing(
    client: TestClient, services: Services, staff: dict[str, str], recorded: list[Seen], channel: str
) -> None:
    post(client, staff, "/simulator/api/sms", {"phone": RESIDENT_PHONE, "body": "买药"})
    [seen] = recorded
    headers = {k: v for k, v in seen.headers.items() if k not in ("host", "content-length")}
    # The same request, with other words in it (and, for Tencent, the URL's secret changed): refused.
    tampered = seen.body.replace("买药".encode(), "我很好".encode())
    if channel == "twilio":
        tampered = seen.body.replace(b"%E4%B9%B0%E8%8D%AF", "我很好".encode())
    path = seen.path.replace(CALLBACK_SECRET, CALLBACK_SECRET[:-1] + "x") if channel == "tencent" else seen.path
    assert tampered != seen.body or path != seen.path
    response = client.post(path, content=tampered, headers=headers)
    assert response.status_code == 403, response.text
    assert [m.body for m in inbound(services)] == ["买药"]
    # The untouched request is the provider's retry: taken, and stored once.
    assert client.post(seen.path, content=seen.body, headers=headers).status_code in (200, 204)
    assert [m.body for m in inbound(services)] == ["买药"]


@pytest.mark.parametrize("channel", ["tencent"])
@pytest.mark.usefixtures("community")
def test_tencent_texts_are_the_approved_templates_as_the_phone_receives_them(
    client: TestClient, services: Services, staff: dict[str, str]
) -> None:
    post(client, staff, "/simulator/api/sms", {"phone": RESIDENT_PHONE, "body": "买药 看看 www.example.com"})
    run_worker(services)
    table = TemplateTable.load()
    with services.readonly() as session:
        sent = {row.provider_sid: row.body for row in session.scalars(select(OutboundMessage))}
        outbox = list(session.scalars(select(LocalOutboxEntry).where(LocalOutboxEntry.kind == "sms")))
    assert outbox
    for entry in outbox:
        decided = sent[entry.sid]
        found = table.match(decided)
        assert found is not None
        assert entry.body == found.rendered(SIGN)  # the approved sign, the template filled in
        assert entry.body.startswith(f"【{SIGN}】") and not decided.startswith(f"【{SIGN}】")
    offer = next(e.body for e in outbox if e.to_phone == LIAISON_PHONE)
    assert "www.example.com" not in offer and table.link_replacement in offer  # no link in a variable


def test_each_channel_has_its_abilities_and_calls_only_where_it_has_a_voice_menu(
    client: TestClient, services: Services, staff: dict[str, str], settings: Settings, channel: str
) -> None:
    page = client.get("/simulator").text
    if channel == "twilio":
        assert settings.call_gateway == "local" and services.intake.calls.can(Ability.CHECKIN_CALLS)
        assert 'id="dial"' in page and 'id="no-voice"' not in page
        return
    assert settings.call_gateway == "none" and services.intake.calls == CHANNELS["none"]
    assert 'id="dial"' not in page and 'id="no-voice"' in page and "没有语音" in page
    refused = post(client, staff, "/simulator/api/call", {"phone": RESIDENT_PHONE}, 409)
    assert channel in refused["error"]
    channels_page = client.get("/channels").text
    assert "不能自动打签到电话" in channels_page  # the shortfall: the visit comes at the call's time


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"HOTLINE_LOCAL_CHANNEL": "tencent"}, "TENCENT_CALLBACK_SECRET"),
        ({"HOTLINE_LOCAL_CHANNEL": "android", "ANDROID_SIGNING_KEY": SIGNING_KEY}, "ANDROID_PHONES"),
        ({"HOTLINE_LOCAL_CHANNEL": "sms"}, "HOTLINE_LOCAL_CHANNEL"),
        ({"HOTLINE_LOCAL_CHANNEL": "android", "HOTLINE_CALL_GATEWAY": "local"}, "HOTLINE_CALL_GATEWAY"),
    ],
)
def test_a_stand_in_without_what_its_provider_needs_is_a_clear_error(
    environ: dict[str, str], overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**environ, **overrides}, env_file=None)


def test_a_real_gateway_is_its_own_channel(environ: dict[str, str]) -> None:
    twilio = {"HOTLINE_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "HOTLINE_DUTY_PHONE": LIAISON_PHONE}
    with pytest.raises(SettingsError, match="HOTLINE_LOCAL_CHANNEL"):
        load_settings({**environ, **twilio, "HOTLINE_LOCAL_CHANNEL": "tencent"}, env_file=None)
