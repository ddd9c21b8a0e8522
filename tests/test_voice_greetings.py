"""A familiar voice: a liaison records the greeting of their households' check-in calls on the hotline, hears it
back and keeps it (or records again, or keeps the old one); the check-in calls of their households play it, others
hear text-to-speech, and after staff remove it so do theirs. Real webhooks signed like Twilio's; the local gateway
keeps the recordings; both stores."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, Liaison, LiaisonGreeting, StaffRole
from hotline.services import Services
from hotline.webhooks.signatures import SIGNATURE_HEADER
from hotline.webhooks.voice_render import Renderer
from tests.api_helpers import bearer, issue
from tests.callflow import CallFlow
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, RESIDENT_PHONE, STRANGER_PHONE
from tests.console_helpers import csrf_of, make_user, sign_in
from workers.gateways.local import LocalGateway

OTHER_RESIDENT = "+8613800138111"  # a household whose liaison is 李强 (the backup of 梁阿姨's)
HOME = "幸福里社区"


@pytest.fixture
def other_household(services: Services, community: None) -> None:
    with services.sessions.begin() as session:
        register.add_resident(
            session,
            name="陈伯伯",
            phones=[OTHER_RESIDENT],
            liaison_phone=BACKUP_PHONE,
            address=register.Address(HOME, "5号楼", "1单元", "101"),
            region="CN",
        )


def recording(services: Services) -> str:
    gateway = services.gateway
    assert isinstance(gateway, LocalGateway)
    return gateway.make_recording(2)[1]


def greetings(services: Services) -> list[tuple[str, str]]:
    """(status, recording URL) of every greeting, oldest first."""
    with services.sessions() as session:
        rows = session.execute(
            select(LiaisonGreeting.status, LiaisonGreeting.recording_url).order_by(LiaisonGreeting.id)
        )
        return [(status, url) for status, url in rows]


def kept_times(services: Services) -> list[tuple[object, object]]:
    with services.sessions() as session:
        rows = session.execute(select(LiaisonGreeting.kept_at, LiaisonGreeting.ended_at).order_by(LiaisonGreeting.id))
        return [(kept, ended) for kept, ended in rows]


def record(flow: CallFlow, url: str) -> CallFlow:
    """At the liaison menu: 4, then a greeting after the beep."""
    flow.press("4")
    assert "请在嘀声后说出您对居民的问候" in flow.last_said and flow.waiting is not None
    assert flow.waiting.tag == "Record" and flow.waiting.attrib["finishOnKey"] == "#"
    assert flow.waiting.attrib["maxLength"] == "20"
    return flow.leave_message(seconds=6, recording_url=url)


def checkin_call(client: TestClient, services: Services, phone: str) -> CallFlow:
    """A check-in call the hotline placed to `phone`, answered by a person."""
    url = services.settings.callback_url("/twilio/voice/checkin")
    return CallFlow.placed(client, services, CallFlow(client, services, phone).sid, url, phone, None).pick_up()


def played(flow: CallFlow) -> list[str]:
    """The URLs of the greetings the call played."""
    prefix = f"[play {flow.services.settings.public_url}/voice/greetings/"
    return [text.removeprefix("[play ").removesuffix("]") for text in flow.said if text.startswith(prefix)]


@pytest.mark.usefixtures("other_household")
def test_a_liaison_records_hears_and_keeps_a_greeting_that_their_households_check_in_calls_play(
    client: TestClient, services: Services
) -> None:
    url = recording(services)
    flow = record(CallFlow(client, services, LIAISON_PHONE).call(), url)
    assert "您录的问候是" in flow.said[-3] and played(flow) and "保留这段问候请按1" in flow.last_said
    assert greetings(services) == [("pending", url)]
    flow.resend()  # Twilio posts the recording twice: stored once
    assert greetings(services) == [("pending", url)]

    # Twilio fetches the played-back audio through the signed link; a changed signature or id gets nothing.
    link = urlsplit(played(flow)[0])
    audio = client.get(f"{link.path}?{link.query}")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav" and audio.content[:4] == b"RIFF"
    changed = "1" if link.query.endswith("0") else "0"  # the signature's last character, made another
    assert client.get(f"{link.path}?{link.query[:-1]}{changed}").status_code == 404
    assert client.get(link.path).status_code == 404

    flow.press("1")
    assert "您的问候已经保存" in " ".join(flow.said[-2:]) and "听待办请按1" in flow.last_said
    kept = kept_times(services)
    flow.resend()  # a retried keep changes nothing
    assert greetings(services) == [("current", url)] and kept_times(services) == kept
    flow.hang_up()

    call = checkin_call(client, services, RESIDENT_PHONE)
    [greeting] = played(call)
    assert call.said[0] == f"[play {greeting}]" and "梁阿姨您好" not in " ".join(call.said)  # the voice instead of TTS
    assert "平安无事请按1" in call.last_said  # the check-in's keys still in TTS
    fetched = urlsplit(greeting)
    assert client.get(f"{fetched.path}?{fetched.query}").status_code == 200
    call.press("1")

    other = checkin_call(client, services, OTHER_RESIDENT)  # another liaison's household: TTS
    assert played(other) == [] and "陈伯伯您好" in other.said[0]


@pytest.mark.usefixtures("community")
def test_recording_again_and_keeping_the_old_one(client: TestClient, services: Services) -> None:
    first, second, third = recording(services), recording(services), recording(services)
    flow = record(CallFlow(client, services, LIAISON_PHONE).call(), first)
    flow.press("1")
    flow = record(flow, second)
    flow.press("2")  # record again: the second is dropped
    assert "请在嘀声后" in flow.last_said and flow.waiting is not None and flow.waiting.tag == "Record"
    flow.resend()
    flow.leave_message(seconds=5, recording_url=third)
    flow.press("3")  # keep the old one
    assert "这段没有保存" in " ".join(flow.said[-2:])
    assert greetings(services) == [("current", first), ("discarded", second), ("discarded", third)]
    flow = record(flow, recording(services))  # a later keep replaces the current one, which stays as history
    flow.silence()
    assert "没有听到您按键" in flow.said[-2] and "保留这段问候请按1" in flow.last_said
    flow.press("1")
    statuses = [status for status, _ in greetings(services)]
    assert statuses == ["replaced", "discarded", "discarded", "current"]


@pytest.mark.usefixtures("community")
def test_silence_twice_keeps_the_old_greeting_and_nothing_recorded_keeps_it_too(
    client: TestClient, services: Services
) -> None:
    flow = CallFlow(client, services, LIAISON_PHONE).call().press("4")
    flow.say_nothing_after_beep()
    assert "没有录到声音" in " ".join(flow.said[-2:]) and flow.waiting is not None and flow.waiting.tag == "Gather"
    record(flow, recording(services)).silence().silence()
    assert "这段没有保存" in " ".join(flow.said[-2:])
    assert [status for status, _ in greetings(services)] == ["discarded"]


@pytest.mark.usefixtures("community")
def test_a_caller_who_is_not_a_liaison_never_reaches_the_recording(client: TestClient, services: Services) -> None:
    resident = CallFlow(client, services, RESIDENT_PHONE).call()
    assert "录给居民的问候" not in resident.said[0]
    resident.press("4")
    assert resident.waiting is None or resident.waiting.tag != "Record"
    stranger = CallFlow(client, services, STRANGER_PHONE).call().press("4")
    assert stranger.waiting is None or stranger.waiting.tag != "Record"
    # A forged step for the greeting, signed as Twilio would sign it, from a number that is not a liaison's.
    forged = CallFlow(client, services, STRANGER_PHONE)
    forged.call_state.waiting = None
    params = forged.call_state.params({"RecordingUrl": recording(services), "RecordingDuration": "3"})
    path = "/twilio/voice/greeting/recorded?n=liaison_menu"
    signature = services.signature.sign("/twilio/voice/greeting/recorded", params, "n=liaison_menu")
    answer = client.post(path, data=params, headers={SIGNATURE_HEADER: signature})
    assert answer.status_code == 200 and "<Play" not in answer.text and "医院和药店电话请按1" in answer.text
    assert greetings(services) == []


@pytest.mark.usefixtures("community")
def test_after_staff_remove_it_the_check_in_call_greets_in_tts_again(client: TestClient, services: Services) -> None:
    record(CallFlow(client, services, LIAISON_PHONE).call(), recording(services)).press("1")
    assert played(checkin_call(client, services, RESIDENT_PHONE))
    make_user(services, "clerk1", StaffRole.CLERK, community=HOME)
    with services.sessions.begin() as session:
        register.find_or_create_community(session, "别的社区")
    make_user(services, "clerk2", StaffRole.CLERK, community="别的社区")
    with services.sessions() as session:
        liaison_id = session.scalar(select(Liaison.id).where(Liaison.phone == LIAISON_PHONE))

    sign_in(client, "clerk2")  # another community's clerk: nothing to see, nothing to remove
    assert client.get(f"/people/liaisons/{liaison_id}/greeting").status_code == 404
    assert client.get(f"/people/liaisons/{liaison_id}/greeting/audio").status_code == 404
    client.cookies.clear()

    sign_in(client, "clerk1")
    page = client.get(f"/people/liaisons/{liaison_id}/greeting")
    assert (
        page.status_code == 200
        and "张敏" in page.text
        and f'src="/people/liaisons/{liaison_id}/greeting/audio"' in page.text
    )
    audio = client.get(f"/people/liaisons/{liaison_id}/greeting/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    removed = client.post(f"/people/liaisons/{liaison_id}/greeting", data={"csrf_token": csrf_of(page.text)})
    assert removed.status_code == 200 and "已删除" in removed.text
    again = client.post(f"/people/liaisons/{liaison_id}/greeting", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 200
    assert [status for status, _ in greetings(services)] == ["removed"]
    with services.sessions() as session:
        entries = session.scalars(select(AuditEntry.action).where(AuditEntry.object_kind == "liaison")).all()
    assert sorted(entries) == ["listen", "remove"]

    call = checkin_call(client, services, RESIDENT_PHONE)
    assert played(call) == [] and "梁阿姨您好" in call.said[0]


@pytest.mark.usefixtures("community")
def test_a_greeting_whose_liaison_stopped_is_not_played(client: TestClient, services: Services) -> None:
    record(CallFlow(client, services, LIAISON_PHONE).call(), recording(services)).press("1")
    with services.sessions.begin() as session:
        liaison = session.scalar(select(Liaison).where(Liaison.phone == LIAISON_PHONE))
        assert liaison is not None
        liaison.active = False
    assert played(checkin_call(client, services, RESIDENT_PHONE)) == []


@pytest.mark.usefixtures("community")
def test_the_store_keeps_one_current_greeting_per_liaison_and_one_row_per_recording(services: Services) -> None:
    with services.sessions() as session:
        liaison_id = session.scalar(select(Liaison.id).where(Liaison.phone == LIAISON_PHONE))
    assert liaison_id is not None

    def add(sid: str, url: str, status: str) -> None:
        with services.sessions.begin() as session:
            session.add(LiaisonGreeting(liaison_id=liaison_id, call_sid=sid, recording_url=url, status=status))

    add("CA1", "https://a/RE1", "current")
    with pytest.raises(IntegrityError):
        add("CA2", "https://a/RE2", "current")  # a second current one: two keeps racing cannot both win
    with pytest.raises(IntegrityError):
        add("CA1", "https://a/RE1", "pending")  # the same recording of the same call again
    add("CA2", "https://a/RE2", "pending")
    assert greetings(services) == [("current", "https://a/RE1"), ("pending", "https://a/RE2")]


@pytest.mark.usefixtures("community")
def test_a_greeting_the_provider_no_longer_has_falls_back_to_tts(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, LIAISON_PHONE).call().press("4")
    flow.leave_message(seconds=4)  # a recording the local gateway does not hold (another account's URL)
    flow.press("1")
    call = checkin_call(client, services, RESIDENT_PHONE)
    [link] = played(call)
    fetched = urlsplit(link)
    assert client.get(f"{fetched.path}?{fetched.query}").status_code == 404
    assert [status for status, _ in greetings(services)] == ["gone"]
    again = checkin_call(client, services, RESIDENT_PHONE)
    assert played(again) == [] and "梁阿姨您好" in again.said[0]


@pytest.mark.usefixtures("community")
def test_the_api_reads_and_removes_a_greeting_in_scope_only(client: TestClient, services: Services) -> None:
    record(CallFlow(client, services, LIAISON_PHONE).call(), recording(services)).press("1")
    with services.sessions.begin() as session:
        register.find_or_create_community(session, "别的社区")
        liaison_id = session.scalar(select(Liaison.id).where(Liaison.phone == LIAISON_PHONE))
    url = f"/api/v1/liaisons/{liaison_id}/greeting"
    elsewhere = bearer(issue(services, StaffRole.CLERK, community="别的社区"))
    leader = bearer(issue(services, StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格"))
    clerk = bearer(issue(services, StaffRole.CLERK, community=HOME))
    assert client.get(url, headers=elsewhere).status_code == 404
    assert client.delete(url, headers=elsewhere).status_code == 404
    assert client.delete(url, headers=leader).status_code == 403
    assert [status for status, _ in greetings(services)] == ["current"]

    read = client.get(url, headers=clerk)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["liaison"]["name"] == "张敏" and body["current"]["status"] == "current"
    assert [g["status"] for g in body["history"]] == ["current"] and "recording_url" not in body["current"]
    assert client.delete(url, headers=clerk).json() == {"removed": True}
    assert client.delete(url, headers=clerk).json() == {"removed": False}  # again: nothing changes
    assert client.get(url, headers=clerk).json()["current"] is None
    assert [status for status, _ in greetings(services)] == ["removed"]
    assert played(checkin_call(client, services, RESIDENT_PHONE)) == []  # text-to-speech again


@pytest.mark.usefixtures("community")
def test_a_check_in_menu_with_a_recorded_prompt_still_plays_the_liaisons_greeting_first(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A community that recorded the check-in menu: the liaison's own voice greets, then the recording."""
    record(CallFlow(client, services, LIAISON_PHONE).call(), recording(services)).press("1")
    voice = client.app.state.voice  # type: ignore[attr-defined]
    name = voice.script.entry["checkin"]
    menu = dataclasses.replace(voice.script.nodes[name], audio={"zh-CN": "https://example.org/checkin.mp3"})
    script = dataclasses.replace(voice.script, nodes={**voice.script.nodes, name: menu})
    monkeypatch.setattr(voice, "script", script)
    monkeypatch.setattr(voice, "render", Renderer(script, services.settings))
    call = checkin_call(client, services, RESIDENT_PHONE)
    [greeting] = played(call)
    assert call.said[:2] == [f"[play {greeting}]", "[play https://example.org/checkin.mp3]"]
    call.press("1")
