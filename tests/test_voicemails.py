"""Staff hear a caller's voicemail: the hotline fetches it from Twilio (a local stand-in of Twilio's REST API, with
the real gateway) with the account's credentials, and streams it to staff whose scope holds the task, through the
console and the API; each listen is audited. A stored URL that is not our account's is never fetched."""

from __future__ import annotations

import io
import logging
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from dispatch import audit, register
from dispatch.models import InboundMessage, StaffRole, Task
from dispatch.tokens import create_token
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.callflow import CallFlow
from tests.conftest import DUTY_PHONE, RESIDENT_PHONE, TEST_AUTH_TOKEN, run_worker, tasks
from tests.console_helpers import make_user, sign_in
from tests.twilio_standin import TwilioStandIn
from workers.exceptions import (
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
    RecordingRefusedError,
)
from workers.gateways.local import LOCAL_ACCOUNT_SID, LocalGateway
from workers.gateways.recordings import recording_path, recording_sid_of
from workers.gateways.twilio import TwilioGateway

ACCOUNT_SID = "AC" + "a" * 32
RECORDING_SID = "RE" + "5" * 32
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40  # what the stand-in serves as the recording
COMMUNITY = "幸福里社区"


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(credentials=(ACCOUNT_SID, TEST_AUTH_TOKEN)) as server:
        server.recordings[RECORDING_SID] = MP3
        yield server


@pytest.fixture
def settings(environ: dict[str, str], standin: TwilioStandIn) -> Settings:
    """The hotline on Twilio, whose REST API is the stand-in."""
    return load_settings(
        {
            **environ,
            "HOTLINE_GATEWAY": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_BASE_URL": standin.base_url,
            "HOTLINE_DUTY_PHONE": DUTY_PHONE,
            "HOTLINE_SMS_PER_SECOND": "0",
            "HOTLINE_CPS": "0",
        },
        env_file=None,
    )


def leave_voicemail(client: TestClient, services: Services, recording_url: str) -> tuple[int, int]:
    """A resident calls, nobody answers, and they leave a voicemail Twilio posts as `recording_url`. Returns the
    urgent call-back task it made, and the message that carries the recording."""
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("0")
    flow.no_answer().no_answer("busy").no_answer("failed")
    flow.leave_message(seconds=25, recording_url=recording_url)
    flow.hang_up()
    run_worker(services)
    [task] = tasks(services)
    assert task.source_message_id is not None
    return task.id, task.source_message_id


@pytest.fixture
def voicemail(client: TestClient, services: Services, standin: TwilioStandIn, community: None) -> tuple[int, int]:
    with services.sessions.begin() as session:
        [resident] = register.find_residents_by_phone(session, RESIDENT_PHONE)
        assert resident.household.community is not None
        register.find_or_create_grid(session, resident.household.community, "第2网格")
    return leave_voicemail(client, services, recording_path(standin.base_url, ACCOUNT_SID, RECORDING_SID))


@pytest.fixture
def tokens(services: Services, voicemail: tuple[int, int]) -> dict[str, str]:
    """A clerk of the caller's community, and the leader of the other grid of it."""
    with services.sessions.begin() as session:
        _, clerk = create_token(session, name="街道热线台", role=StaffRole.CLERK, community=COMMUNITY)
        _, other = create_token(session, name="二网格", role=StaffRole.GRID_LEADER, grid=f"{COMMUNITY}/第2网格")
    return {"clerk": clerk, "other": other}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def recording_requests(standin: TwilioStandIn) -> list[Any]:
    return [r for r in standin.requests if "/Recordings/" in r.path]


def listens(services: Services, task_id: int) -> list[Any]:
    with services.readonly() as session:
        found = audit.entries(session, object_kind="task", object_id=task_id)
        return [(e.action, e.actor_name, e.detail) for e in found if e.action == "listen"]


# ── The API ──────────────────────────────────────────────────────────────────────────────────────────────────


def test_the_api_links_the_voicemail_and_streams_it_from_twilio_with_our_credentials(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int], tokens: dict[str, str]
) -> None:
    task_id, message_id = voicemail
    detail = client.get(f"/api/v1/tasks/{task_id}", headers=bearer(tokens["clerk"]))
    assert detail.status_code == 200, detail.text
    link = f"https://hotline.example.org/api/v1/tasks/{task_id}/voicemails/{message_id}"
    assert [v["audio_url"] for v in detail.json()["voicemails"]] == [link]
    assert standin.base_url not in detail.text and "/Recordings/" not in detail.text  # never Twilio's URL
    assert recording_requests(standin) == []  # showing the task fetches nothing

    audio = client.get(link, headers=bearer(tokens["clerk"]))
    assert audio.status_code == 200, audio.text
    assert audio.headers["content-type"] == "audio/mpeg" and audio.content == MP3
    assert audio.headers["cache-control"] == "no-store"
    [fetched] = recording_requests(standin)
    assert fetched.method == "GET"
    assert fetched.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.mp3"
    assert fetched.basic_auth == (ACCOUNT_SID, TEST_AUTH_TOKEN)
    assert listens(services, task_id) == [("listen", "API 街道热线台", f"voicemail message:{message_id}")]


def test_the_api_answers_a_voicemail_out_of_scope_or_without_a_token_as_nothing(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int], tokens: dict[str, str]
) -> None:
    task_id, message_id = voicemail
    path = f"/api/v1/tasks/{task_id}/voicemails/{message_id}"
    missing = client.get(f"/api/v1/tasks/{task_id}/voicemails/{message_id + 1000}", headers=bearer(tokens["clerk"]))
    outside = client.get(path, headers=bearer(tokens["other"]))
    assert (missing.status_code, outside.status_code) == (404, 404)
    nowhere = client.get(f"/api/v1/tasks/999999/voicemails/{message_id}", headers=bearer(tokens["clerk"]))
    assert outside.json()["error"] == nowhere.json()["error"].replace("999999", str(task_id))  # as if no such task
    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer("hl_" + "x" * 43)).status_code == 401
    assert recording_requests(standin) == [] and listens(services, task_id) == []


def test_a_recording_twilio_no_longer_has_is_a_404_that_says_so(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int], tokens: dict[str, str]
) -> None:
    task_id, message_id = voicemail
    del standin.recordings[RECORDING_SID]
    answer = client.get(f"/api/v1/tasks/{task_id}/voicemails/{message_id}", headers=bearer(tokens["clerk"]))
    assert answer.status_code == 404
    assert answer.json() == {"error": "这条录音已经不在了（可能已被删除），请直接给来电人回电。"}
    assert len(recording_requests(standin)) == 1 and listens(services, task_id) == []


def test_twilio_down_or_unreachable_is_a_502_that_says_so_and_never_names_twilio(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int], tokens: dict[str, str]
) -> None:
    task_id, message_id = voicemail
    path = f"/api/v1/tasks/{task_id}/voicemails/{message_id}"
    standin.fail_next = [503]
    down = client.get(path, headers=bearer(tokens["clerk"]))
    standin.__exit__()  # the stand-in stops: nothing listens on its port any more
    gone = client.get(path, headers=bearer(tokens["clerk"]))
    for answer in (down, gone):
        assert answer.status_code == 502
        assert answer.json() == {"error": "暂时取不到这条录音（电话服务商没有回应），请稍后再试，或直接回电。"}
        assert standin.base_url not in answer.text
    assert listens(services, task_id) == []


# ── The console ──────────────────────────────────────────────────────────────────────────────────────────────


def test_the_task_page_offers_a_player_and_the_console_streams_the_voicemail_to_staff_in_scope(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int]
) -> None:
    task_id, message_id = voicemail
    make_user(services, "clerk", StaffRole.CLERK, community=COMMUNITY)
    sign_in(client, "clerk")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    src = f"/tasks/{task_id}/voicemails/{message_id}"
    assert f'src="{src}"' in page.text and "<audio controls" in page.text
    assert "的电话留言" in page.text  # the player's label, from the catalog
    assert standin.base_url not in page.text and "/Recordings/" not in page.text
    assert recording_requests(standin) == []  # preload="none": nothing is fetched until play is pressed

    audio = client.get(src)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/mpeg" and audio.content == MP3
    assert [r.basic_auth for r in recording_requests(standin)] == [(ACCOUNT_SID, TEST_AUTH_TOKEN)]
    assert listens(services, task_id) == [("listen", "clerk", f"voicemail message:{message_id}")]


def test_the_console_answers_a_voicemail_out_of_scope_as_missing_and_refuses_the_signed_out(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int]
) -> None:
    task_id, message_id = voicemail
    src = f"/tasks/{task_id}/voicemails/{message_id}"
    signed_out = client.get(src, follow_redirects=False)
    assert signed_out.status_code in (303, 401) and signed_out.content[:3] != MP3[:3]
    make_user(services, "leader2", StaffRole.GRID_LEADER, grid=f"{COMMUNITY}/第2网格")
    sign_in(client, "leader2")
    outside, missing = client.get(src), client.get(f"/tasks/{task_id}/voicemails/{message_id + 1000}")
    assert outside.status_code == missing.status_code == 404
    assert "找不到" in outside.text
    assert recording_requests(standin) == [] and listens(services, task_id) == []


def test_the_console_says_in_words_when_the_recording_is_gone(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int]
) -> None:
    task_id, message_id = voicemail
    standin.recordings.clear()
    make_user(services)
    sign_in(client)
    answer = client.get(f"/tasks/{task_id}/voicemails/{message_id}")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "这条录音已经不在了" in answer.text and standin.base_url not in answer.text


# ── Refused URLs (SSRF) ──────────────────────────────────────────────────────────────────────────────────────


def test_a_stored_url_that_is_not_our_accounts_recording_is_refused_logged_and_never_fetched(
    client: TestClient,
    services: Services,
    standin: TwilioStandIn,
    voicemail: tuple[int, int],
    tokens: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    task_id, message_id = voicemail
    base = standin.base_url
    evil = "http://operator:hunter2@169.254.169.254/latest/meta-data?token=s3cr3t"
    refused = [
        evil,
        recording_path(base, "AC" + "b" * 32, RECORDING_SID),  # another account
        recording_path("https://api.twilio.com", ACCOUNT_SID, RECORDING_SID),  # not the configured base
        recording_path(base, ACCOUNT_SID, RECORDING_SID) + "?x=1",
        recording_path(base, ACCOUNT_SID, "../../Calls.json"),
        base.replace("http://", "http://user:pw@") + f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
    ]
    caplog.set_level(logging.INFO)
    for url in refused:
        with services.sessions.begin() as session:
            session.execute(update(InboundMessage).where(InboundMessage.id == message_id).values(recording_url=url))
        answer = client.get(f"/api/v1/tasks/{task_id}/voicemails/{message_id}", headers=bearer(tokens["clerk"]))
        assert answer.status_code == 404, url
        assert "不属于本热线的电话账户" in answer.json()["error"]
        assert url not in answer.text
    assert recording_requests(standin) == [] and listens(services, task_id) == []
    logged = [r.getMessage() for r in caplog.records if r.name == "hotline.voicemail_audio"]
    assert len(logged) == len(refused) and all(f"task {task_id}" in line for line in logged)
    assert "169.254.169.254" in logged[0]
    assert not any(secret in line for line in logged for secret in ("hunter2", "s3cr3t", "meta-data", "pw@"))


def test_only_our_accounts_recordings_under_our_api_base_have_a_sid() -> None:
    base = "https://api.twilio.com"
    assert (
        recording_sid_of(recording_path(base, ACCOUNT_SID, RECORDING_SID), api_base_url=base, account_sid=ACCOUNT_SID)
        == RECORDING_SID
    )
    for url in (
        f"https://api.twilio.com.evil.example/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        f"http://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        f"https://api.twilio.com:444/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}#x",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}/../../Calls",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{RECORDING_SID}",
        "",
    ):
        with pytest.raises(RecordingRefusedError):
            recording_sid_of(url, api_base_url=base, account_sid=ACCOUNT_SID)


# ── The gateways ─────────────────────────────────────────────────────────────────────────────────────────────


def twilio_gateway(standin: TwilioStandIn, auth_token: str = TEST_AUTH_TOKEN) -> TwilioGateway:
    return TwilioGateway(
        account_sid=ACCOUNT_SID,
        auth_token=auth_token,
        from_number="+8657112345678",
        messaging_service_sid=None,
        api_base_url=standin.base_url,
        timeout=10.0,
    )


def test_the_twilio_gateway_reads_twilios_answers_to_a_recording_fetch(standin: TwilioStandIn) -> None:
    url = recording_path(standin.base_url, ACCOUNT_SID, RECORDING_SID)
    media = twilio_gateway(standin).open_recording(url)
    try:
        assert (media.content_type, media.size, b"".join(media.chunks)) == ("audio/mpeg", len(MP3), MP3)
    finally:
        media.close()
    with pytest.raises(GatewayRejectedError) as refused:
        twilio_gateway(standin, auth_token="wrong").open_recording(url)
    assert refused.value.status == 401
    with pytest.raises(RecordingMissingError):
        twilio_gateway(standin).open_recording(recording_path(standin.base_url, ACCOUNT_SID, "RE" + "6" * 32))
    standin.fail_next = [503]
    with pytest.raises(GatewayTemporaryError):
        twilio_gateway(standin).open_recording(url)
    ours = (ACCOUNT_SID, TEST_AUTH_TOKEN)
    assert [r.basic_auth for r in standin.requests] == [ours, (ACCOUNT_SID, "wrong"), ours, ours]


def test_the_stand_in_refuses_a_recording_without_credentials(standin: TwilioStandIn) -> None:
    import requests

    url = recording_path(standin.base_url, ACCOUNT_SID, RECORDING_SID) + ".mp3"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=(ACCOUNT_SID, TEST_AUTH_TOKEN), timeout=5).content == MP3


def test_the_local_gateway_keeps_a_short_playable_wav_and_serves_it_by_the_same_url_check(
    services: Services, tmp_path: Any
) -> None:
    gateway = LocalGateway(services.sessions, recordings=tmp_path / "recordings")
    sid, url = gateway.make_recording(25)
    assert url == recording_path("https://api.twilio.com", LOCAL_ACCOUNT_SID, sid)
    media = gateway.open_recording(url)
    try:
        audio = b"".join(media.chunks)
    finally:
        media.close()
    assert media.content_type == "audio/wav" and media.size == len(audio)
    with wave.open(io.BytesIO(audio)) as wav:
        assert 1.0 <= wav.getnframes() / wav.getframerate() <= 2.0
    with pytest.raises(RecordingMissingError):
        gateway.open_recording(recording_path("https://api.twilio.com", LOCAL_ACCOUNT_SID, "RE" + "7" * 32))
    with pytest.raises(RecordingRefusedError):
        gateway.open_recording(recording_path("https://api.twilio.com", ACCOUNT_SID, sid))


def test_tasks_made_without_a_voicemail_offer_none(
    client: TestClient, services: Services, voicemail: tuple[int, int], tokens: dict[str, str]
) -> None:
    task_id, message_id = voicemail
    with services.sessions.begin() as session:
        session.execute(update(InboundMessage).where(InboundMessage.id == message_id).values(recording_url=None))
        assert session.scalar(select(Task.id).where(Task.id == task_id)) == task_id
    detail = client.get(f"/api/v1/tasks/{task_id}", headers=bearer(tokens["clerk"])).json()
    assert detail["voicemails"] == []
    answer = client.get(f"/api/v1/tasks/{task_id}/voicemails/{message_id}", headers=bearer(tokens["clerk"]))
    assert answer.status_code == 404
