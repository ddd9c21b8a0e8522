"""Voice scripts as data: loading, `hotline ivr check` on shipped and planted-broken scripts, audio (the call tree's
picture: tests/test_ivr_picture.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from dispatch.exceptions import IvrScriptError
from dispatch.ivr.check import check_file, speaking_seconds
from dispatch.ivr.script import VOICE_SCRIPT_FILE, load_script
from dispatch.resident_replies import ReplyVocabulary
from hotline.app import create_app
from hotline.cli import main
from hotline.services import Services
from hotline.settings import Settings
from ivr_scripts import SCRIPTS_DIR
from tests.callflow import CallFlow
from tests.conftest import RESIDENT_PHONE

SHIPPED = VOICE_SCRIPT_FILE.read_text(encoding="utf-8")


def planted(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    return [str(p) for p in check_file(path)]


def test_shipped_scripts_pass_the_checker() -> None:
    assert check_file(VOICE_SCRIPT_FILE) == []
    result = CliRunner().invoke(main, ["ivr", "check"])
    assert result.exit_code == 0, result.output
    assert {line.split(":")[0] for line in result.output.splitlines()} == {p.name for p in SCRIPTS_DIR.glob("*.toml")}


def test_menu_digits_are_the_shared_table() -> None:
    script = load_script()
    digits = ReplyVocabulary.load().digits
    menu = script.nodes["resident_menu"]
    for option in menu.options:
        if option.do == "task":
            assert digits[option.digit] == option.need  # "press 3 for medicine" means 3 by SMS too
    assert [o.digit for o in menu.options if o.do == "task"] == ["2", "3", "4", "5"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'node = "directory"\nsay = { "zh-CN" = "医院药店电话按6',
            'node = "nowhere"\nsay = { "zh-CN" = "医院药店电话按6',
            "key 6 goes to node 'nowhere', which does not exist",
        ),
        ('resident = "resident_menu"', 'resident = "start"', "resident callers go to node 'start'"),
        (
            'say = { "zh-CN" = "买药按3，", en = "Medicine, 3." }',
            'say = { "zh-CN" = "买药按3，" }',
            "key 3 has no en text",
        ),
        (
            'digit = "0"\ndo = "person"\nsay = { "zh-CN" = "找人按0',
            'digit = "0"\ndo = "repeat"\nsay = { "zh-CN" = "找人按0',
            "node resident_menu: menu has no way to a person",
        ),
        (
            'digit = "6"\ndo = "goto"\nnode = "directory"',
            'digit = "5"\ndo = "goto"\nnode = "directory"',
            "key 5 is used 2 times",
        ),
        (
            'do = "task"\nneed = "medicine"',
            'digit = "7"\ndo = "task"\nneed = "medicine"',
            "key 7 makes medicine, which menu_digits.toml gives key 3",
        ),
        (
            'error_sorry = "对不起，请稍后再打来。"\n',
            "",
            "phrase error_sorry: no zh-CN text",
        ),  # en has one, zh-CN lost it
        ("{next_step}祝您身体健康", "{next_steps}祝您身体健康", "unknown placeholder ['next_steps']"),
        ("[node.goodbye]\nprompt", '[node.goodbye]\nnext = "nowhere"\nprompt', "key next goes to node 'nowhere'"),
        (
            'do = "goto"\nnode = "liaison_tasks"',
            'do = "repeat"\nnode = "liaison_tasks"',
            "warning: node liaison_tasks: no caller can reach it",
        ),
        (
            'intro = { "zh-CN" = "{name}您好，这里是社区热线。',
            'intro = { "zh-CN" = "{name}您好，这里是社区热线，我们为您提供买菜、买药、倒垃圾、取快递等各种帮助。',
            "warning: node resident_menu: zh-CN takes about 2",
        ),
        ('do = "task"\nneed = "groceries"', 'do = "teleport"\nneed = "groceries"', "do must be one of"),
        (
            "正在为您转接{person}",
            "正在为您转接{who}",
            "phrase putting_through: (zh-CN) uses unknown placeholder ['who']",
        ),
        ("[node.goodbye]", "[node.farewell]", "node goodbye: is required"),
    ],
)
def test_a_planted_mistake_is_found(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in SHIPPED
    found = problems(planted(tmp_path, SHIPPED.replace(old, new, 1)))
    assert any(expected in p for p in found), found
    result = CliRunner().invoke(main, ["ivr", "check", str(tmp_path / "broken.toml")])
    assert result.exit_code == 1 and expected in result.output


def test_the_menu_of_too_many_choices_is_flagged(tmp_path: Path) -> None:
    extra = '\n[[node.resident_menu.option]]\ndigit = "7"\ndo = "voicemail"\nsay = { "zh-CN" = "留言按7", en = "7" }\n'
    marker = "[node.unwell]"
    found = problems(planted(tmp_path, SHIPPED.replace(marker, extra + "\n" + marker, 1)))
    assert any("6 choices besides 0 and 9; at most 5" in p for p in found), found


def test_not_toml_or_wrong_version_is_one_clear_problem(tmp_path: Path) -> None:
    assert "version" in problems(planted(tmp_path, SHIPPED.replace("version = 1", "version = 7", 1)))[0]
    assert problems(planted(tmp_path, "kind = [broken"))[0].startswith("error: broken.toml")


def test_speaking_time_estimate() -> None:
    assert speaking_seconds("买菜请按2，") == pytest.approx(5 / 4 + 0.3)
    assert speaking_seconds("For groceries, press 2.") == pytest.approx(3 / 2.5 + 1 / 4 + 0.6)


def test_the_service_refuses_a_script_that_would_break_calls(tmp_path: Path, settings: Settings) -> None:
    broken = planted(tmp_path, SHIPPED.replace('resident = "resident_menu"', 'resident = "start"', 1))
    with pytest.raises(IvrScriptError, match="resident callers go to node 'start'"):
        Services.build(dataclasses.replace(settings, ivr_script=broken))
    runner = CliRunner(env={"HOTLINE_DATA_DIR": str(tmp_path / "var"), "HOTLINE_IVR_SCRIPT": str(broken)})
    result = runner.invoke(main, ["worker", "--burst"])
    assert result.exit_code == 2 and "resident callers go to node 'start'" in result.output


def test_a_recorded_prompt_is_played_instead_of_spoken(tmp_path: Path, settings: Settings, services: Services) -> None:
    script = planted(tmp_path, SHIPPED.replace("[node.unwell]\n", '[node.unwell]\naudio = { "zh-CN" = "README.md" }\n'))
    assert check_file(script) == []
    voiced = dataclasses.replace(services, voice_script=load_script(script))
    with TestClient(create_app(settings, voiced), base_url=settings.public_url) as client:
        with services.sessions.begin() as session:
            from dispatch import register

            register.add_resident(session, name="梁阿姨", phones=[RESIDENT_PHONE], region="CN")
        flow = CallFlow(client, voiced, RESIDENT_PHONE).call().press("4")
        assert flow.last_said == "[play https://hotline.example.org/ivr-audio/README.md]"
        assert client.get("/ivr-audio/README.md").status_code == 200
    missing = planted(tmp_path, SHIPPED.replace("[node.unwell]\n", '[node.unwell]\naudio = { "zh-CN" = "gone.mp3" }\n'))
    assert any("'gone.mp3' is not in ivr_scripts/audio/" in p for p in problems(missing))
