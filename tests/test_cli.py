"""The `hotline` command, through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hotline.cli import main
from hotline.services import Services


@pytest.fixture
def runner(environ: dict[str, str], services: Services) -> CliRunner:
    """The CLI, on the same fresh database and Redis as `services`."""
    return CliRunner(env=environ)


def test_register_and_list(runner: CliRunner) -> None:
    added = runner.invoke(main, ["liaisons", "add", "--name", "张敏", "--phone", "139 1234 5678"])
    assert added.exit_code == 0, added.output
    assert "+8613912345678" in added.output
    added = runner.invoke(
        main, ["residents", "add", "--name", "梁阿姨", "--phone", "13800138000", "--liaison", "13912345678"]
    )
    assert added.exit_code == 0, added.output
    assert "liaison 张敏" in added.output
    listed = runner.invoke(main, ["residents", "list"])
    assert "梁阿姨\t+8613800138000\tsms\t#1\t张敏" in listed.output


def test_bad_phone_is_one_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["liaisons", "add", "--name", "张敏", "--phone", "12345"])
    assert result.exit_code == 1
    assert "'12345' is not a usable phone number" in result.output
    assert "Traceback" not in result.output


def test_unknown_liaison_and_duplicate_numbers_are_refused(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["residents", "add", "--name", "A", "--phone", "13800138000", "--liaison", "13912345678"]
    )
    assert result.exit_code == 1 and "no liaison with phone 139****5678" in result.output
    runner.invoke(main, ["liaisons", "add", "--name", "张敏", "--phone", "13912345678"])
    again = runner.invoke(main, ["liaisons", "add", "--name", "李", "--phone", "+86 139 1234 5678"])
    assert again.exit_code == 1 and "already registered" in again.output


def test_bad_setting_stops_with_one_line_naming_it(environ: dict[str, str]) -> None:
    result = CliRunner(env={**environ, "HOTLINE_TIMEZONE": "Nowhere/Land"}).invoke(main, ["residents", "list"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "hotline: configuration error: HOTLINE_TIMEZONE 'Nowhere/Land' is not an IANA timezone such as Asia/Shanghai"
    ]


def test_outbox_lists_newest_first_as_text_and_json(runner: CliRunner, services, registered) -> None:  # type: ignore[no-untyped-def]
    assert "outbox is empty" in runner.invoke(main, ["outbox"]).output
    services.gateway.send_sms("+8613912345678", "第一条")
    services.gateway.send_sms("+8613800138000", "第二条")
    lines = runner.invoke(main, ["outbox", "--json"]).output.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["body"] for r in records] == ["第二条", "第一条"]
    assert set(records[0]) == {"to", "kind", "body", "time", "status", "sid"}
    assert records[0]["time"].endswith("+08:00")  # shown in HOTLINE_TIMEZONE
    text = runner.invoke(main, ["outbox"]).output
    assert text.index("第二条") < text.index("第一条")


def test_db_upgrade(runner: CliRunner) -> None:
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output


def test_inbox_shows_unregistered_senders_for_staff(runner: CliRunner, client, services, registered) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import STRANGER_PHONE, post_signed, run_worker, sms_params

    post_signed(client, services, "/twilio/sms", sms_params("我是新搬来的", from_phone=STRANGER_PHONE))
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    waiting = [json.loads(line) for line in runner.invoke(main, ["inbox", "--json"]).output.splitlines()]
    assert [r["outcome"] for r in waiting] == ["waiting", "waiting"]
    run_worker(services)
    everything = runner.invoke(main, ["inbox", "--json"]).output.splitlines()
    assert [json.loads(line)["outcome"] for line in everything] == ["task_created", "unknown_sender"]
    strangers = [
        json.loads(line) for line in runner.invoke(main, ["inbox", "--json", "--unregistered"]).output.splitlines()
    ]
    assert [(r["from"], r["body"]) for r in strangers] == [(STRANGER_PHONE, "我是新搬来的")]
    assert strangers[0]["triage"] == "#1"  # on the board as triage item 1, for staff to link, register or close
    assert "#1" in runner.invoke(main, ["inbox", "--unregistered"]).output


def test_the_voice_fallback_twiml_puts_callers_through_to_the_duty_phone_and_never_calls_us(
    environ: dict[str, str],
) -> None:
    from xml.etree import ElementTree

    from dispatch.ivr.script import VOICE_SCRIPT_FILE, load_script

    runner = CliRunner(env={**environ, "HOTLINE_DUTY_PHONE": "0571 8765 4321"})
    result = runner.invoke(main, ["ivr", "fallback"])
    assert result.exit_code == 0, result.output
    twiml = ElementTree.fromstring(result.output)  # noqa: S314 - our own output
    assert [verb.tag for verb in twiml] == ["Say", "Dial", "Say", "Say", "Hangup"]
    assert twiml.find("Dial/Number").text == "+8657187654321"  # type: ignore[union-attr]
    script = load_script(VOICE_SCRIPT_FILE)
    assert twiml[0].text == script.phrase("error_apology", "zh-CN")
    assert "http" not in result.output  # Twilio plays it from its own copy: nothing may point back at us
    english = ElementTree.fromstring(runner.invoke(main, ["ivr", "fallback", "--language", "en"]).output)  # noqa: S314
    assert english[0].text == script.phrase("error_apology", "en")

    unset = CliRunner(env={**environ, "HOTLINE_DUTY_PHONE": ""}).invoke(main, ["ivr", "fallback"])
    assert unset.exit_code == 1 and "HOTLINE_DUTY_PHONE" in unset.output
