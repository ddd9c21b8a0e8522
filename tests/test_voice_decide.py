"""The voice hotline's decisions as a pure function, from a call step and its facts to a plan: no database.

The same plans, said as TwiML, are read by the simulator's interpreter (`hotline.simulator.twiml`), the one the
call-flow tests and the phone simulator drive calls with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch.context import DispatchContext
from dispatch.ivr.call_plan import (
    Accepted,
    CallStep,
    HangUp,
    Listing,
    MenuFacts,
    Need,
    Plan,
    Press,
    PutThrough,
    RecordGreeting,
    SayNode,
    Sms,
    Step,
    TakeOldest,
    TaskFacts,
)
from dispatch.ivr.calls import Caller, Person
from dispatch.ivr.decide import directory_sms, plan_dial, plan_menu, plan_recorded
from dispatch.ivr.script import GOODBYE, VOICE_SCRIPT_FILE, IvrScript, load_script
from dispatch.resident_replies import ReplyVocabulary
from dispatch.tasks.liaison_reading import CommandTable
from dispatch.texts import MessageCatalog
from hotline.settings import load_settings
from hotline.simulator.twiml import Call
from hotline.webhooks.voice_render import CallWords, Renderer
from tests.conftest import HOTLINE_NUMBER, make_environ

SID = "CA0123456789abcdef0123456789abcdef"
MOBILE, OTHER_MOBILE = "+8613900000001", "+8613900000002"
LIAISON = Person("liaison", "张敏", "+8613800000001")
DUTY = Person("duty", "社区值班", "+862150000000")
LISTED = (Listing("社区医院", "+862150000001"), Listing("大药房", "+862150000002"))
REPLIES = ReplyVocabulary.load()
SCRIPT = load_script(VOICE_SCRIPT_FILE, REPLIES)
CONTEXT = DispatchContext(
    catalog=MessageCatalog.load(),
    replies=REPLIES,
    commands=CommandTable.load(),
    staff_language="zh-CN",
    timezone=ZoneInfo("Asia/Shanghai"),
    fever_threshold=37.3,
    auto_replies_per_number_per_hour=6,
    unknown_replies_per_hour=20,
)
RESIDENT = Caller(
    "resident",
    MOBILE,
    "zh-CN",
    name="梁阿姨",
    liaison_name="张敏",
    resident_id=1,
    household_id=1,
    community_id=1,
    is_resident=True,
    can_sms=True,
    people=(LIAISON, DUTY),
)
STRANGER = Caller("unknown", OTHER_MOBILE, "zh-CN", community_id=1, can_sms=True, people=(DUTY,))
LIAISON_CALLER = Caller("liaison", LIAISON.phone, "zh-CN", name="张敏", liaison_id=7, community_id=1, people=(DUTY,))


def at(caller: Caller, node: str, **step: object) -> CallStep:
    return CallStep(SID, caller, Step(node, **step))  # type: ignore[arg-type]


def menu(call: CallStep, digits: str = "", speech: str = "", facts: MenuFacts | None = None) -> Plan:
    return plan_menu(SCRIPT, CONTEXT, call, Press(digits, speech), facts or MenuFacts())


# ── which menu ──────────────────────────────────────────────────────────────────────────────────────────────


def test_a_key_chooses_the_next_menu_and_remembers_the_way_back() -> None:
    plan = menu(at(STRANGER, "general_menu", rounds=1), "1")
    assert plan == Plan(SayNode(Step("directory", rounds=0, back="general_menu", actions=1), intro=True), chose=True)
    back = menu(at(STRANGER, "directory", back="general_menu", actions=1), "8")
    assert back.then == SayNode(Step("general_menu", actions=2)) and not back.chose


def test_silence_asks_again_then_puts_through_to_a_person_never_hangs_up() -> None:
    first = menu(at(RESIDENT, "resident_menu"))
    assert first.then == SayNode(Step("resident_menu", rounds=1)) and first.say == (SCRIPT.phrase("no_input", "zh-CN"),)
    wrong = menu(at(RESIDENT, "resident_menu"), "7")
    assert wrong.say == (SCRIPT.phrase("wrong_input", "zh-CN"),)
    last = menu(at(RESIDENT, "resident_menu", rounds=SCRIPT.rounds - 1))
    assert last == Plan(PutThrough(Step("resident_menu", rounds=SCRIPT.rounds - 1), 0), dialled=1)


def test_a_silent_checkin_call_becomes_a_callback_need() -> None:
    plan = menu(CallStep(SID, RESIDENT, Step("checkin_menu", rounds=SCRIPT.rounds - 1), outbound=True))
    assert plan.then == SayNode(Step(GOODBYE, task=True))
    assert [(n.what, n.need) for n in plan.needs] == [("checkin_menu:silent", "callback")]


# ── which task ──────────────────────────────────────────────────────────────────────────────────────────────


def test_a_key_makes_its_need_and_unwell_is_urgent() -> None:
    unwell = next(o for o in SCRIPT.nodes["resident_menu"].options if o.need == "unwell")
    plan = menu(at(RESIDENT, "resident_menu"), unwell.digit)
    [need] = plan.needs
    assert (need.what, need.need, need.urgent) == ("resident_menu:unwell", "unwell", True)
    assert plan.then == SayNode(Step("unwell", back="resident_menu", task=True, actions=1), intro=True)
    assert plan.chose and plan.say and not plan.sms and plan.take is None


def test_words_read_towards_health_choose_the_unwell_task() -> None:
    plan = menu(at(RESIDENT, "resident_menu"), speech="我头晕，想买点菜")
    assert [n.need for n in plan.needs] == ["unwell"]
    assert "我头晕" in plan.needs[0].body


def test_words_that_match_no_task_are_not_a_choice() -> None:
    plan = menu(at(RESIDENT, "resident_menu"), speech="今天天气不错啊")
    assert not plan.needs and plan.say == (SCRIPT.phrase("wrong_input", "zh-CN"),)


# ── the caps on directory SMS ───────────────────────────────────────────────────────────────────────────────


def test_the_directory_is_texted_to_a_mobile_once_per_call() -> None:
    plan = menu(at(RESIDENT, "directory"), "1", facts=MenuFacts(directory=LISTED))
    [sms] = plan.sms
    assert sms == Sms(f"call:{SID}:directory", MOBILE, sms.body, "zh-CN")
    assert "社区医院" in sms.body and "大药房" in sms.body
    assert plan.say == (SCRIPT.phrase("directory_sent", "zh-CN"),) and plan.chose


@pytest.mark.parametrize(
    ("caller", "facts"),
    [
        (RESIDENT, MenuFacts()),  # nothing listed
        (RESIDENT, MenuFacts(directory=LISTED, replies_to_caller=6)),  # the number's hourly answers used up
        (STRANGER, MenuFacts(directory=LISTED, replies_to_unknown=20)),  # the hour's answers to strangers used up
    ],
)
def test_no_directory_sms_past_a_cap(caller: Caller, facts: MenuFacts) -> None:
    plan = menu(at(caller, "directory"), "1", facts=facts)
    assert plan.sms == () and plan.say == ("",)
    assert plan.then == SayNode(Step(GOODBYE, back="directory", actions=1), intro=True)


def test_a_landline_is_not_offered_the_directory_sms_nor_texted_it() -> None:
    landline = at(dataclasses.replace(RESIDENT, can_sms=False), "directory")
    assert directory_sms(SCRIPT, CONTEXT, landline, MenuFacts(directory=LISTED)) is None
    plan = menu(landline, "1", facts=MenuFacts(directory=LISTED))
    assert plan.sms == () and plan.say == (SCRIPT.phrase("wrong_input", "zh-CN"),)


def test_a_stranger_under_the_caps_is_texted_under_their_own_key() -> None:
    facts = MenuFacts(directory=LISTED, replies_to_caller=5, replies_to_unknown=19)
    [sms] = menu(at(STRANGER, "directory"), "1", facts=facts).sms
    assert sms.dedupe_key == f"unknown-caller:{SID}:directory"


# ── take the oldest task; an acceptance found ───────────────────────────────────────────────────────────────


def test_a_liaison_takes_the_oldest_task_keyed_by_the_choice() -> None:
    plan = menu(at(LIAISON_CALLER, "liaison_menu", actions=3), "2")
    assert plan.take == TakeOldest(7, f"call:{SID}:accept:3") and plan.say == ()
    assert plan.then == SayNode(Step("liaison_menu", back="liaison_menu", actions=4), intro=True)


def test_only_a_liaison_records_a_greeting() -> None:
    plan = menu(at(LIAISON_CALLER, "liaison_menu", actions=1), "4")
    assert plan == Plan(RecordGreeting(Step("liaison_menu", actions=2)), chose=True)
    # The liaison menu reached with no liaison on the line (a stale or odd step): the menu again, no recording.
    other = menu(at(STRANGER, "liaison_menu", actions=1), "4")
    assert other.then == SayNode(Step("liaison_menu", actions=2))


def test_an_acceptance_found_takes_nothing_more_and_says_what_it_took() -> None:
    found = Accepted(TaskFacts("梁阿姨", "groceries", "3号楼2单元101"))
    plan = menu(at(LIAISON_CALLER, "liaison_menu", actions=3), "2", facts=MenuFacts(accepted=found))
    assert plan.take is None
    assert "梁阿姨" in plan.say[0] and "3号楼2单元101" in plan.say[0]
    taken_none = menu(at(LIAISON_CALLER, "liaison_menu"), "2", facts=MenuFacts(accepted=Accepted(None)))
    assert taken_none.take is None and taken_none.say == (SCRIPT.phrase("nothing_to_accept", "zh-CN"),)


# ── put-through and voicemail ───────────────────────────────────────────────────────────────────────────────


def test_a_put_through_goes_down_the_chain_and_an_answer_ends_the_call() -> None:
    call = at(RESIDENT, "resident_menu")
    assert plan_dial(call, "no-answer", 0) == Plan(PutThrough(call.step, 1), dialled=2)
    assert plan_dial(call, "busy", 1).dialled == 2  # past the last person: voicemail, counted once per person
    assert plan_dial(call, "completed", 0) == Plan(HangUp(), connected=True)
    checkin = CallStep(SID, RESIDENT, Step("checkin_menu"), outbound=True)
    assert plan_dial(checkin, "completed", 0).checkin_needs


def test_a_voicemail_is_an_urgent_callback_need() -> None:
    plan = plan_recorded(SCRIPT, CONTEXT, at(STRANGER, "general_menu"), "https://api.twilio.com/rec/RE1", "12")
    assert plan.needs == (Need("voicemail", "callback", plan.needs[0].body, True, "https://api.twilio.com/rec/RE1"),)
    assert plan.voicemail and plan.then == SayNode(Step(GOODBYE, task=True))
    assert plan_recorded(SCRIPT, CONTEXT, at(STRANGER, "general_menu"), "", "") == Plan(SayNode(Step(GOODBYE)))


# ── the same plans, as the simulator's interpreter hears them ───────────────────────────────────────────────


def heard(script: IvrScript, plan: Plan, caller: Caller, tmp_path: Path) -> Call:
    settings = load_settings(make_environ(tmp_path, "redis://127.0.0.1:1/0"), env_file=None)

    def words(step: Step) -> CallWords:
        return CallWords(caller, {"name": caller.name}, lambda key: "")

    call = Call(SID, caller.phone, HOTLINE_NUMBER, "AC0", "https://example.org/status")
    call.feed(Renderer(script, settings).plan(plan.say, plan.then, caller, words))
    return call


@pytest.mark.parametrize(
    ("plan", "waits_at", "first_words"),
    [
        (menu(at(RESIDENT, "resident_menu")), "Gather", "no_input"),
        (menu(at(RESIDENT, "resident_menu"), "0"), "Dial", "putting_through"),
        (menu(at(STRANGER, "general_menu"), "2"), "Record", "voicemail_prompt"),
        (plan_dial(at(RESIDENT, "resident_menu"), "completed", 0), None, None),
    ],
)
def test_each_plan_is_valid_twiml_that_says_its_words_then_waits_for_the_caller(
    plan: Plan, waits_at: str | None, first_words: str | None, tmp_path: Path
) -> None:
    call = heard(SCRIPT, plan, RESIDENT, tmp_path)
    assert call.waiting_at == waits_at and call.ended == (waits_at is None)
    if first_words == "putting_through":
        assert "张敏" in call.said[0].text and call.dialled == [LIAISON.phone]
    elif first_words is not None:
        assert call.said[0].text == SCRIPT.phrase(first_words, "zh-CN")
