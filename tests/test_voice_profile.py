"""A resident's profile for hearing and memory on the phone: slower and louder speech (SSML prosody), every prompt
said twice, short menus, an SMS copy of what a call said. Real webhooks signed like Twilio's, a real worker, the
local gateway; the TwiML is read back as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from twilio.twiml.voice_response import VoiceResponse

from dispatch import register
from dispatch.ivr.call_plan import PutThrough, SayNode, Step, menu_levels, offered
from dispatch.ivr.check_profiles import callers
from dispatch.ivr.hearing import LOUDER_VOLUME, NO_PROFILE, SLOWER_RATE, Profile, every_voice_profile
from dispatch.ivr.script import load_script
from dispatch.models import Channel, Resident, Task, VoiceProfile
from hotline.cli.ivr import check_path
from hotline.services import Services
from hotline.webhooks.profile_check import PEOPLE, check_profiles
from hotline.webhooks.voice_render import CallWords, Renderer, Speaker
from tests.callflow import CallFlow
from tests.conftest import (
    LIAISON_PHONE,
    PUBLIC_URL,
    RESIDENT_PHONE,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
    tasks,
)
from tests.voice_helpers import SERVICE_DUTY

SCRIPT = Path(__file__).resolve().parent.parent / "ivr_scripts" / "voice_hotline.toml"


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_DUTY_PHONE": SERVICE_DUTY}


class RecordedFlow(CallFlow):
    """A call flow that keeps each TwiML document the hotline answered."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.documents: list[str] = []

    def _post(self, step):  # type: ignore[no-untyped-def]
        status, text = super()._post(step)
        if step.twiml:
            self.documents.append(text)
        return status, text

    @property
    def last(self) -> ET.Element:
        return ET.fromstring(self.documents[-1])  # noqa: S314 -- our own app's answer


def set_profile(services: Services, **switches: bool) -> None:
    with services.sessions.begin() as session:
        resident = session.scalars(select(Resident)).one()
        session.merge(VoiceProfile(resident_id=resident.id, **switches))


def says(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("Say"))


def words(say: ET.Element) -> str:
    return "".join(say.itertext())


@pytest.mark.usefixtures("community")
def test_slower_and_louder_wrap_every_say_in_prosody(client: TestClient, services: Services) -> None:
    plain = RecordedFlow(client, services, RESIDENT_PHONE).call()
    assert not list(plain.last.iter("prosody"))
    set_profile(services, slower=True)
    slower = RecordedFlow(client, services, RESIDENT_PHONE).call()
    assert all(say.find("prosody") is not None for say in says(slower.last))
    assert {p.get("rate") for p in slower.last.iter("prosody")} == {SLOWER_RATE}
    assert {p.get("volume") for p in slower.last.iter("prosody")} == {None}
    set_profile(services, slower=True, louder=True)
    both = RecordedFlow(client, services, RESIDENT_PHONE).call()
    [say] = says(both.last)
    assert say.get("voice") == "Polly.Zhiyu-Neural" and say.text is None
    prosody = say.find("prosody")
    assert prosody is not None and prosody.attrib == {"rate": SLOWER_RATE, "volume": LOUDER_VOLUME}
    assert "梁阿姨您好" in words(say) and "买菜请按2" in words(say)
    both.press("2")  # the choice still works, and its words keep the profile
    assert all(say.find("prosody") is not None for say in says(both.last))
    assert "买菜买粮，已经记下了" in " ".join(both.said)


@pytest.mark.usefixtures("community")
def test_twice_says_each_prompt_twice_and_a_key_in_either_counts(client: TestClient, services: Services) -> None:
    set_profile(services, twice=True)
    flow = RecordedFlow(client, services, RESIDENT_PHONE).call()
    [gather] = flow.last.iter("Gather")
    assert [child.tag for child in gather] == ["Say", "Pause", "Say"]
    first, second = says(gather)
    assert words(first) == words(second) and "买菜请按2" in words(first)
    flow.press("3")  # pressed while the prompt is said: the Gather takes it
    run_worker(services)
    [task] = tasks(services)
    assert task.category == "medicine"
    goodbye = [words(say) for say in says(flow.last)]
    assert len(goodbye) == 4 and goodbye[0] == goodbye[1] and goodbye[2] == goodbye[3]  # noted, then goodbye


@pytest.mark.usefixtures("community")
def test_short_menus_say_three_at_a_time_and_keep_every_key(client: TestClient, services: Services) -> None:
    set_profile(services, short_menus=True)
    flow = RecordedFlow(client, services, RESIDENT_PHONE).call()
    heard = []
    for level in range(3):
        [gather] = flow.last.iter("Gather")
        text = "".join(words(say) for say in says(gather))
        heard.append(text)
        options = text.count("按")
        assert options <= 3, text
        assert parse_qs(urlsplit(gather.get("action", "")).query).get("l", ["0"]) == [str(level)]
        if level < 2:
            assert "更多选项请按7" in text
            flow.press("7")
    assert "梁阿姨您好" in heard[0] and "身体不舒服按4" in heard[0] and "找人按0" in heard[0]
    assert "买菜请按2" in heard[1] and "买药按3" in heard[1]
    assert "倒垃圾、取快递按5" in heard[2] and "医院药店电话按6。" in heard[2] and "更多" not in heard[2]
    assert "重听" not in "".join(heard)  # 9 is not said; it still says the level again
    flow.press("9")
    assert "倒垃圾、取快递按5" in flow.last_said
    flow.press("7")  # "more" after the last level: the first again
    assert "身体不舒服按4" in flow.last_said
    flow.press("2")  # a key of another level still counts at this one
    run_worker(services)
    [task] = tasks(services)
    assert task.category == "groceries"


def test_every_menu_in_the_short_profile_has_at_most_three_and_loses_no_option() -> None:
    script = load_script(SCRIPT)
    for caller in callers(Profile(short_menus=True)):
        for node in (n for n in script.nodes.values() if n.is_menu):
            levels = menu_levels(node, caller)
            for index, level in enumerate(levels):
                assert len(level) + (index + 1 < len(levels)) <= 3, (node.name, caller.kind, index)
            said = [o.digit for level in levels for o in level]
            wanted = [o.digit for o in offered(node, caller) if o.do != "repeat"]
            assert sorted(said) == sorted(wanted), (node.name, caller.kind)
            assert all(node.option(script.more) is None for _ in levels[1:])


@pytest.mark.usefixtures("community")
def test_the_sms_copy_is_sent_once_even_when_the_webhook_is_retried(client: TestClient, services: Services) -> None:
    set_profile(services, sms_copy=True)
    flow = RecordedFlow(client, services, RESIDENT_PHONE).call().press("2")
    assert flow.ended
    flow.resend()  # Twilio retries the key's request
    flow.hang_up()
    run_worker(services)
    copies = [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE and e.kind == "sms"]
    assert len(copies) == 1
    assert copies[0].body.startswith("【社区热线】电话里说：") and "买菜买粮，已经记下了" in copies[0].body
    assert "张敏会尽快给您回电话" in copies[0].body


@pytest.mark.usefixtures("community")
def test_no_copy_to_a_number_that_cannot_take_sms_nor_for_a_call_that_goes_on(
    client: TestClient, services: Services
) -> None:
    set_profile(services, sms_copy=True)
    RecordedFlow(client, services, RESIDENT_PHONE).call().press("6").hang_up()  # the directory: a menu, no end
    run_worker(services)
    assert [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE] == []
    with services.sessions.begin() as session:
        session.scalars(select(Resident)).one().phones[0].landline = True
    RecordedFlow(client, services, RESIDENT_PHONE).call().press("2")
    run_worker(services)
    assert [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE and e.kind == "sms"] == []


@pytest.mark.usefixtures("community")
def test_a_checkin_call_speaks_by_the_profile(client: TestClient, services: Services) -> None:
    set_profile(services, louder=True, short_menus=True)
    flow = RecordedFlow.placed(
        client, services, "CA" + "2" * 32, PUBLIC_URL + "/twilio/voice/checkin", RESIDENT_PHONE, None
    ).pick_up()
    [gather] = flow.last.iter("Gather")
    [say] = says(gather)
    assert say.find("prosody") is not None and say.find("prosody").attrib == {"volume": LOUDER_VOLUME}  # type: ignore[union-attr]
    text = words(say)
    assert "每天问候您一次" in text and "平安无事请按1" in text and "身体不舒服按4" in text and "更多选项请按7" in text
    assert "买菜" not in text
    flow.press("1")
    assert "平安无事，已经记下了" in " ".join(flow.said)


def test_ivr_check_renders_every_profile_of_the_shipped_script(services: Services) -> None:
    assert check_profiles(load_script(SCRIPT), services.settings) == []
    assert len(every_voice_profile()) == 16


def test_ivr_check_names_the_node_and_profile_a_script_breaks_in(tmp_path: Path) -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    taken = tmp_path / "more_taken.toml"
    taken.write_text(text.replace('digit = "6"', 'digit = "7"').replace('["5", "6"]', '["5", "7"]'), encoding="utf-8")
    problems = [str(p) for p in check_path(taken)]
    assert any("node resident_menu" in p and "short_menus" in p and "key 7" in p for p in problems), problems
    crowded = tmp_path / "crowded.toml"
    crowded.write_text(text.replace('[["4", "0"], ["2", "3"], ["5", "6"]]', '[["4", "0", "2"], ["3", "5", "6"]]'))
    problems = [str(p) for p in check_path(crowded)]
    assert any("node resident_menu" in p and "level 1 says 4 options" in p for p in problems), problems
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(text.replace('[["1", "4"], ["2", "3"], ["5", "0"]]', '[["1", "4"], ["2", "8"], ["5", "0"]]'))
    problems = [str(p) for p in check_path(unknown)]
    assert any("node checkin_menu" in p and "key 8" in p for p in problems), problems


def test_a_feedback_call_speaks_by_the_profile_and_its_sms_copy_goes_once(
    client: TestClient, services: Services
) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        resident = register.add_resident(
            session,
            name="王大爷",
            phones=[RESIDENT_PHONE],
            liaison_phone=LIAISON_PHONE,
            region="CN",
            channel=Channel.VOICE,
        )
        session.add(VoiceProfile(resident_id=resident.id, slower=True, twice=True, sms_copy=True))
    post_signed(client, services, "/twilio/sms", sms_params("买药"))
    run_worker(services)
    with services.sessions() as session:
        task_id = session.scalars(select(Task.id)).one()
    for _ in range(2):  # the liaison's "take" twice: the feedback is decided once
        post_signed(client, services, "/twilio/sms", sms_params(f"接{task_id}", from_phone=LIAISON_PHONE))
        run_worker(services)

    to_him = [e for e in local_outbox(services) if e.to_phone == RESIDENT_PHONE]
    [call] = [e for e in to_him if e.kind == "call"]
    [copy] = [e for e in to_him if e.kind == "sms"]
    assert "张敏" in copy.body
    url = urlsplit(call.body)
    params = {"CallSid": "CA" + "1" * 32, "From": "+10000000000", "To": RESIDENT_PHONE, "CallStatus": "in-progress"}
    answer = post_signed(client, services, f"{url.path}?{url.query}", params)
    root = ET.fromstring(answer.text)  # noqa: S314 -- our own app's answer
    spoken = says(root)
    assert len(spoken) == 2 and [c.tag for c in root] == ["Say", "Pause", "Say"]  # twice, not four times
    assert all(say.find("prosody") is not None for say in spoken)
    assert {p.get("rate") for p in root.iter("prosody")} == {SLOWER_RATE} and "张敏" in words(spoken[0])


def fixed(words: CallWords) -> Callable[[Step], CallWords]:
    return lambda step: words


def test_every_profile_writes_the_bytes_twilios_own_builder_writes(services: Services) -> None:
    """Our TwiML writer's <prosody> and <Pause> are twilio's: every node, level and put-through, in every profile."""
    script = load_script(SCRIPT)
    ours, twilios = Renderer(script, services.settings), Renderer(script, services.settings, response=VoiceResponse)
    compared = 0
    for profile in every_voice_profile():
        for language in ("zh-CN", "en"):
            caller = replace(callers(profile, language)[0], name="梁阿姨", liaison_name="张敏", people=PEOPLE)
            given = fixed(CallWords(caller, {"name": "梁阿姨", "liaison": "张敏"}, lambda key: ""))
            for node in script.nodes.values():
                for level in range(len(menu_levels(node, caller))):
                    then = SayNode(Step(node.name, level=level), intro=True)
                    said = ("好的。",)
                    assert ours.plan(said, then, caller, given) == twilios.plan(said, then, caller, given), (
                        node.name,
                        profile.name(),
                        level,
                    )
                    compared += 1
            through = PutThrough(Step("goodbye"), 0)
            assert ours.plan((), through, caller, given) == twilios.plan((), through, caller, given)
    assert compared > 16 * 2 * len(script.nodes)  # short menus add levels


def test_the_rendering_check_names_what_a_profile_broke(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A renderer that forgot a profile's switch, or failed in one, is caught with the node and profile named."""
    script = load_script(SCRIPT)
    real_say = Speaker.say

    def forgets_to_repeat(self: Speaker, verb: Any, text: str, language: str, profile: Profile = NO_PROFILE) -> None:
        real_say(self, verb, text, language, replace(profile, twice=False))

    monkeypatch.setattr(Speaker, "say", forgets_to_repeat)
    problems = [str(p) for p in check_profiles(script, services.settings)]
    assert any("node resident_menu" in p and "twice" in p and "not said twice" in p for p in problems), problems[:3]

    def fails_when_slower(self: Speaker, verb: Any, text: str, language: str, profile: Profile = NO_PROFILE) -> None:
        if profile.slower:
            raise KeyError("rate")
        real_say(self, verb, text, language, profile)

    monkeypatch.setattr(Speaker, "say", fails_when_slower)
    problems = [str(p) for p in check_profiles(script, services.settings)]
    assert any("node goodbye" in p and "slower" in p and "cannot be said" in p for p in problems), problems[:3]
