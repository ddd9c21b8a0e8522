"""The Android gateway with the real `android-sms-gateway` client, against local stand-ins of the app's local
server: what each answer means, one SMS per row whatever happens, several phones sharing the load within each SIM's
daily limit, and a quiet phone given nothing while another is heard from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from dispatch.models import OutboundStatus, utcnow
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.android_helpers import (
    all_sent,
    android_services,
    given_today,
    heard_at,
    message_id_of,
    outbound,
    queue,
)
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE
from tests.standins.android import LOGIN, AndroidStandIn
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
)
from workers.gateways.android_sms import AndroidSmsGateway


@pytest.fixture
def phone_a() -> Iterator[AndroidStandIn]:
    with AndroidStandIn() as phone:
        yield phone


@pytest.fixture
def phone_b() -> Iterator[AndroidStandIn]:
    with AndroidStandIn() as phone:
        yield phone


@pytest.fixture
def one_phone(environ: dict[str, str], phone_a: AndroidStandIn) -> Iterator[Services]:
    with android_services(environ, {"a": phone_a.setting("a")}) as built:
        yield built


@pytest.fixture
def two_phones(environ: dict[str, str], phone_a: AndroidStandIn, phone_b: AndroidStandIn) -> Iterator[Services]:
    with android_services(environ, {"a": phone_a.setting("a"), "b": phone_b.setting("b")}) as built:
        yield built


def test_an_sms_goes_through_the_real_client_under_our_row_s_id(one_phone: Services, phone_a: AndroidStandIn) -> None:
    row = queue(one_phone, LIAISON_PHONE, "新求助#1 梁阿姨想买菜", "t:1")
    assert deliver_sms(one_phone, row)
    [request] = phone_a.requests
    assert (request.method, request.path, request.basic_auth) == ("POST", "/messages", (LOGIN, phone_a.password))
    assert request.body is not None
    message_id = message_id_of(one_phone, row)
    assert request.body["id"] == message_id and message_id.startswith(f"hl{row}-")
    assert request.body["phoneNumbers"] == [LIAISON_PHONE]
    assert request.body["textMessage"] == {"text": "新求助#1 梁阿姨想买菜"}
    assert request.body["withDeliveryReport"] is True
    sent = outbound(one_phone, row)
    assert (sent.status, sent.provider_sid) == (OutboundStatus.SENT, f"AGa:{message_id}")
    assert given_today(one_phone) == {"a": 1}


def test_a_wrong_password_is_refused_and_the_row_fails(environ: dict[str, str], phone_a: AndroidStandIn) -> None:
    wrong = phone_a.setting("a").replace(phone_a.password, "not-" + phone_a.password)
    with android_services(environ, {"a": wrong}) as services:
        row = queue(services, LIAISON_PHONE, "x", "t:1")
        assert deliver_sms(services, row)  # settled: refused for good
        failed = outbound(services, row)
        assert failed.status == OutboundStatus.FAILED and "401" in (failed.error or "")
        assert given_today(services) == {"a": 0}  # not counted against the SIM
    assert phone_a.sent == [] and phone_a.requests[0].basic_auth == (LOGIN, "not-" + phone_a.password)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, GatewayTemporaryError),
        (503, GatewayTemporaryError),  # the phone's queue is full
        (429, GatewayTemporaryError),
        (400, GatewayRejectedError),
        (404, GatewayRejectedError),
    ],
)
def test_each_answer_says_whether_to_try_again(
    one_phone: Services, phone_a: AndroidStandIn, status: int, error: type[Exception]
) -> None:
    row = queue(one_phone, LIAISON_PHONE, "x", "t:1")
    phone_a.fail_next.append(status)
    with pytest.raises(error) as caught:
        one_phone.gateway.send_sms(LIAISON_PHONE, "x", outbound_id=row)
    assert getattr(caught.value, "status", None) == status
    assert phone_a.sent == [] and given_today(one_phone) == {"a": 0}


def test_an_answer_too_late_is_ambiguous_and_never_sent_again(one_phone: Services, phone_a: AndroidStandIn) -> None:
    gateway = one_phone.gateway
    assert isinstance(gateway, AndroidSmsGateway)
    assert gateway._http.timeout.read == 10.0  # the client sets no timeout of its own: ours, on every request
    gateway._http.timeout = 1.0  # type: ignore[assignment]  # only the hung send should ever reach it
    row = queue(one_phone, LIAISON_PHONE, "x", "t:1")
    phone_a.hang_next = 1
    with pytest.raises(GatewayAmbiguousError):
        gateway.send_sms(LIAISON_PHONE, "x", outbound_id=row)
    gateway._http.timeout = 10.0  # type: ignore[assignment]
    assert given_today(one_phone) == {"a": 1}  # it may have gone: it counts
    assert deliver_sms(one_phone, row)  # the row is not sent again by a later job run either
    assert len(phone_a.sent) == 1


def test_a_phone_that_cannot_be_reached_is_temporary(environ: dict[str, str]) -> None:
    with android_services(environ, {"a": "a=http://sms:pw@127.0.0.1:9"}) as services:  # the discard port
        row = queue(services, LIAISON_PHONE, "x", "t:1")
        with pytest.raises(GatewayTemporaryError):
            services.gateway.send_sms(LIAISON_PHONE, "x", outbound_id=row)
        assert not deliver_sms(services, row)  # back to pending, to be tried again
        assert outbound(services, row).status == OutboundStatus.PENDING
        assert given_today(services) == {"a": 0}


def test_a_row_sent_twice_reaches_the_phone_once(one_phone: Services, phone_a: AndroidStandIn) -> None:
    row = queue(one_phone, LIAISON_PHONE, "x", "t:1")
    assert deliver_sms(one_phone, row) and deliver_sms(one_phone, row)  # the job run twice
    # A worker that died after the phone took the SMS, before it recorded so: the same row handed over again.
    again = one_phone.gateway.send_sms(LIAISON_PHONE, "x", outbound_id=row)
    assert again == outbound(one_phone, row).provider_sid
    assert len(phone_a.sent) == 1 and len(phone_a.requests) == 2  # the second was refused by the phone (409)
    assert given_today(one_phone) == {"a": 1}


def test_two_phones_share_the_load(two_phones: Services, phone_a: AndroidStandIn, phone_b: AndroidStandIn) -> None:
    rows = [queue(two_phones, RESIDENT_PHONE, f"第{i}条", f"t:{i}") for i in range(6)]
    for row in rows:
        assert deliver_sms(two_phones, row)
    assert len(phone_a.sent) == 3 and len(phone_b.sent) == 3
    assert sorted(text for _, text in all_sent(phone_a, phone_b)) == sorted(f"第{i}条" for i in range(6))
    for row in rows:  # the provider id names the phone that took it
        phone = "a" if message_id_of(two_phones, row) in phone_a.messages else "b"
        assert outbound(two_phones, row).provider_sid == f"AG{phone}:{message_id_of(two_phones, row)}"
    assert given_today(two_phones) == {"a": 3, "b": 3}


def test_a_phone_that_is_busy_hands_the_sms_to_another(
    two_phones: Services, phone_a: AndroidStandIn, phone_b: AndroidStandIn
) -> None:
    row = queue(two_phones, RESIDENT_PHONE, "x", "t:1")
    phone_a.fail_next.append(503)
    phone_b.fail_next.append(503)
    with pytest.raises(GatewayTemporaryError):  # both busy: try again later
        two_phones.gateway.send_sms(RESIDENT_PHONE, "x", outbound_id=row)
    assert all_sent(phone_a, phone_b) == [] and given_today(two_phones) == {"a": 0, "b": 0}
    first, second = (phone_a, phone_b) if row % 2 == 0 else (phone_b, phone_a)  # the row's turn picks its first
    first.fail_next.append(503)
    assert deliver_sms(two_phones, row)
    assert (len(first.sent), len(second.sent)) == (0, 1)
    assert sorted(given_today(two_phones).values()) == [0, 1]


def test_a_phone_at_its_daily_limit_gets_nothing_more(
    environ: dict[str, str], phone_a: AndroidStandIn, phone_b: AndroidStandIn
) -> None:
    phones = {"a": phone_a.setting("a", limit="2"), "b": phone_b.setting("b")}
    with android_services(environ, phones, ANDROID_DAILY_LIMIT="1") as services:
        rows = [queue(services, RESIDENT_PHONE, f"第{i}条", f"t:{i}") for i in range(5)]
        settled = [deliver_sms(services, row) for row in rows]
        assert settled.count(True) == 3  # a: its own limit of 2; b: the default of 1
        assert (len(phone_a.sent), len(phone_b.sent)) == (2, 1)
        waiting = [row for row, done in zip(rows, settled, strict=True) if not done]
        assert [outbound(services, row).status for row in waiting] == [OutboundStatus.PENDING] * 2
        assert given_today(services) == {"a": 2, "b": 1}
        # The next day, in the community's timezone, each SIM may send again.
        gateway = services.gateway
        assert isinstance(gateway, AndroidSmsGateway)
        gateway._clock = lambda: utcnow() + timedelta(days=1)
        assert all(deliver_sms(services, row) for row in waiting)
        assert len(phone_a.sent) + len(phone_b.sent) == 5


def test_a_quiet_phone_gets_nothing_while_another_is_heard(
    two_phones: Services, phone_a: AndroidStandIn, phone_b: AndroidStandIn
) -> None:
    heard_at(two_phones, "a", utcnow() - timedelta(hours=2))  # its last ping, two hours ago
    heard_at(two_phones, "b", utcnow())
    rows = [queue(two_phones, RESIDENT_PHONE, f"第{i}条", f"t:{i}") for i in range(4)]
    for row in rows:
        assert deliver_sms(two_phones, row)
    assert (len(phone_a.sent), len(phone_b.sent)) == (0, 4)
    # When the phone that is heard from cannot take more, the quiet one still can: better late than never.
    phone_b.fail_next.append(503)
    row = queue(two_phones, RESIDENT_PHONE, "第5条", "t:5")
    assert deliver_sms(two_phones, row)
    assert len(phone_a.sent) == 1


def test_no_calls_and_no_recordings(one_phone: Services, phone_a: AndroidStandIn) -> None:
    with pytest.raises(GatewayRejectedError):
        one_phone.gateway.place_call(RESIDENT_PHONE, twiml_url="https://hotline.example.org/twilio/voice/message")
    with pytest.raises(RecordingMissingError):
        one_phone.gateway.open_recording("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1")
    assert phone_a.requests == []


def test_in_cloud_mode_the_message_names_its_phone_s_device(environ: dict[str, str]) -> None:
    with AndroidStandIn(prefix="/3rdparty/v1") as cloud:
        phones = {"a": cloud.setting("a", device=cloud.device_id), "b": cloud.setting("b", device="not-this-one")}
        with android_services(environ, phones) as services:
            rows = [queue(services, RESIDENT_PHONE, f"第{i}条", f"t:{i}") for i in range(2)]
            assert all(deliver_sms(services, row) for row in rows)
            statuses = sorted(outbound(services, row).status for row in rows)
    assert [r.path for r in cloud.requests] == ["/3rdparty/v1/messages"] * 2
    assert [m["deviceId"] for m in cloud.sent] == [cloud.device_id]  # the server sends through that phone only
    assert statuses == sorted([OutboundStatus.SENT, OutboundStatus.FAILED])  # an unknown device: refused (400)
