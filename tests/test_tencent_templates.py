"""Tencent Cloud SMS's templates: every text the hotline sends is mapped to an approved template within Tencent's
rules, checked by `hotline ivr check`; each rendered text reads back as its template; notices that cannot fit are
refused at preview."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from dispatch.exceptions import MessageCatalogError
from dispatch.models import StaffRole
from dispatch.sms_templates import TEMPLATES_FILE, TemplateTable, check_templates, template_of
from dispatch.texts import SMS_TEXTS_FILE, MessageCatalog
from hotline.app import create_app
from hotline.cli import main
from hotline.services import Services
from hotline.settings import Settings
from tests.api_helpers import API, bearer, issue, outbound
from tests.conftest import PUBLIC_URL, Clock, at
from tests.console_helpers import make_user, sign_in
from tests.test_tencent_sms import tencent_render

SAMPLES = {
    "task_id": "12",
    "urgent": "【急】",
    "category": "买菜",
    "resident_name": "梁阿姨",
    "address": "3号楼 2单元 401",
    "resident_phone": "138 0013 8000",
    "liaison_name": "张敏",
    "body": "想买点菜 明天送",
    "tasks": "#12买菜(待接单) #13买药(已接单)",
    "status": "已接单",
    "count": "2",
    "menu": "1好 2买菜 3买药",
    "contact_name": "王芳",
    "return_on": "2026-12-20",
    "notes": "1.单元门坏了，打女儿电话 2.药在门卫",
    "access": "；钥匙：李四（邻居）137 0000 0009；门码：4321#；注意：有狗",  # a visit's, after the phone
}


def test_the_shipped_table_passes_and_every_sent_text_reads_back_as_its_template() -> None:
    assert check_templates() == []
    table = TemplateTable.load()
    catalog = MessageCatalog.load()
    assert len(table.templates) == 42  # 30, and the care circle's 12 (8 SMS, 4 said by call)
    for template in table.templates:
        body = catalog.render(template.key, "zh-CN", **SAMPLES)
        found = table.match(body)
        assert found is not None, template.key
        # What Tencent sends is the sign and the template filled in: the same text as the catalog's.
        expected = re.sub(r"^【[^】]*】", "", body)
        assert tencent_render(found.template.text, found.values) == expected, template.key
        assert "【" not in found.template.text and "}{" not in found.template.text


def test_a_notice_goes_as_the_notice_template() -> None:
    table = TemplateTable.load()
    found = table.match("明天上午9点社区开展免费体检，请带身份证。")
    assert found is not None and found.template is table.notice
    assert found.values == ["明天上午9点社区开展免费体检，请带身份证。"]
    assert table.notice_problem("详情见 https://example.com") is not None
    assert table.notice_problem("通" * (table.notice_longest + 1)) is not None
    assert table.match("详情见 https://example.com") is None
    # A text of no zh-CN key (a resident's English text, the voice hotline's directory) goes as a notice if it fits.
    english = MessageCatalog.load().render("resident_receipt_no_liaison", "en", resident_name="Ann")
    found = table.match(english)
    assert found is not None and found.template is table.notice and found.values == [english]


def planted(tmp_path: Path, edit: str, texts_edit: str = "") -> Path:
    """Copies of the template table and the SMS texts with one change each; returns the table's path."""
    shutil.copy(SMS_TEXTS_FILE, tmp_path / "sms_texts.toml")
    table = TEMPLATES_FILE.read_text(encoding="utf-8")
    old, _, new = edit.partition(" => ")
    assert old in table, old
    (tmp_path / TEMPLATES_FILE.name).write_text(table.replace(old, new, 1), encoding="utf-8")
    if texts_edit:
        texts = (tmp_path / "sms_texts.toml").read_text(encoding="utf-8")
        old, _, new = texts_edit.partition(" => ")
        assert old in texts, old
        (tmp_path / "sms_texts.toml").write_text(texts.replace(old, new), encoding="utf-8")
    return tmp_path / TEMPLATES_FILE.name


@pytest.mark.parametrize(
    ("edit", "texts_edit", "line"),
    [
        ('checkin_reminder = "2400028"\n => ', "", "sms_texts.toml key checkin_reminder: no template"),
        (
            "version = 1 => version = 1",
            'liaison_done = "#{task_id}已完成，谢谢！" => liaison_done = "#{task_id}已完成，谢谢！"\n'
            'liaison_thanks = "谢谢您，{liaison_name}！"',
            "sms_texts.toml key liaison_thanks: no template",
        ),
        ('liaison_done = "2400007" => liaison_done = "24-7"', "", "liaison_done: id '24-7' must be Tencent's numeric"),
        (
            "version = 1 => version = 1",
            'liaison_noted = "#{task_id}已记录备注。" => liaison_noted = "#{task_id}已记录【备注】。"',
            "liaison_noted: the template '#{1}已记录【备注】。' has a character Tencent refuses",
        ),
        (
            "version = 1 => version = 1",
            'liaison_noted = "#{task_id}已记录备注。" => liaison_noted = "{task_id}"',
            "liaison_noted: the template '{1}' is only variables",
        ),
        ('template = "社区通知：{1}" => template = "社区通知：{1}{2}"', "", "has two variables side by side"),
        ('template = "社区通知：{1}" => template = "社区通知 www.example.com {1}"', "", "has a link in its own text"),
        (
            "body = { longest = 134 } => body = { longest = 480 }",
            "",
            "[variables] body can be 480 characters; a variable takes at most 300",
        ),
        (
            "variable_limit = 300 => variable_limit = 490",
            "",
            "the template '社区通知：{1}' can be 509 characters with the sign and the longest values",
        ),
        ("menu = { longest = 40 }\n => ", "", "placeholder menu has no longest length in [variables]"),
        ("variable_limit = 300 => variable_limit = 12", "", "[variables] resident_name can be 30 characters"),
    ],
)
def test_ivr_check_refuses_a_table_that_breaks_a_rule_with_a_clear_line(
    tmp_path: Path, edit: str, texts_edit: str, line: str
) -> None:
    path = planted(tmp_path, edit, texts_edit)
    result = CliRunner().invoke(main, ["ivr", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert line in result.output, result.output
    assert all(out.startswith(f"{path.name}: error: ") for out in result.output.splitlines())
    with pytest.raises(MessageCatalogError, match=re.escape(line)):
        TemplateTable.load(path, tmp_path / "sms_texts.toml")


def test_the_templates_to_submit_are_printed() -> None:
    result = CliRunner().invoke(main, ["ivr", "templates"])
    assert result.exit_code == 0, result.output
    lines = dict((row.split("\t")[0], row.split("\t")[2]) for row in result.output.splitlines())
    text = MessageCatalog.load().texts["zh-CN"]["liaison_task_offer"]
    assert lines["liaison_task_offer"] == template_of(text)[0]
    assert lines["liaison_task_offer"] == "#{1}：{2} {3} {4}。回复“接{5}”接单。原话：{6}"
    assert lines["notice"] == "社区通知：{1}"


def test_settings_with_the_tencent_gateway_need_its_key_app_sign_and_callback_secret(tmp_path: Path) -> None:
    from hotline.exceptions import SettingsError
    from hotline.settings import load_settings

    environ = {
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "HOTLINE_GATEWAY": "tencent",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
        "TENCENT_SECRET_ID": "AKID" + "a" * 32,
        "TENCENT_SECRET_KEY": "b" * 32,
        "TENCENT_SMS_APP_ID": "1400006666",
        "TENCENT_SMS_SIGN_NAME": "社区热线",
        "TENCENT_CALLBACK_SECRET": "c" * 32,
    }
    loaded = load_settings(environ, env_file=None)
    assert loaded.gateway == "tencent" and loaded.tencent_sms_endpoint == "sms.tencentcloudapi.com"
    assert "b" * 32 not in repr(loaded) and "c" * 32 not in repr(loaded)
    for name in ("TENCENT_SECRET_KEY", "TENCENT_SMS_SIGN_NAME", "TENCENT_CALLBACK_SECRET"):
        with pytest.raises(SettingsError) as caught:
            load_settings({k: v for k, v in environ.items() if k != name}, env_file=None)
        assert caught.value.variable == name
    for name, value in (
        ("TENCENT_SMS_SIGN_NAME", "【社区热线】"),
        ("TENCENT_SMS_ENDPOINT", "http://sms.tencentcloudapi.com"),
        ("TENCENT_CALLBACK_SECRET", "short"),
        ("HOTLINE_PUBLIC_URL", "http://hotline.example.org"),
        ("HOTLINE_LANGUAGE", "en"),
    ):
        with pytest.raises(SettingsError) as caught:
            load_settings({**environ, name: value}, env_file=None)
        assert caught.value.variable == name
    local = load_settings({**environ, "TENCENT_SMS_ENDPOINT": "http://127.0.0.1:9000"}, env_file=None)
    assert replace(local, gateway="local").tencent_sms_endpoint == "http://127.0.0.1:9000"


def test_a_notice_that_cannot_fit_the_template_is_refused_at_preview_and_send(
    settings: Settings, services: Services, community: None, clock: Clock
) -> None:
    clock.now = at("10:00")
    notice = {
        "target_kind": "community",
        "target": "幸福里社区",
        "channels": "sms",
        "body": "停水安排见 www.example.com",
    }
    tencent = replace(settings, gateway="tencent")
    with TestClient(create_app(tencent, replace(services, settings=tencent)), base_url=PUBLIC_URL) as client:
        headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
        preview = client.post(f"{API}/notices/preview", json=notice, headers=headers).json()
        assert preview["ok"] is False and [p["code"] for p in preview["problems"]] == ["template_unfit"]
        sent = client.post(f"{API}/notices", json={**notice, "request_key": "key-0001"}, headers=headers)
        assert sent.status_code == 409 and "link" in sent.text, sent.text  # as any notice refused
        assert outbound(services) == []
        make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
        token = sign_in(client, "clerk")
        page = client.post(
            "/notices/preview",
            data={"target": "community:幸福里社区", "channels": "sms", "body": notice["body"]},
            headers={"X-CSRF-Token": token, "accept": "application/json"},
        )
        assert "只能套用已审核的通知模板：内容不能含网址链接，最多 300 字" in page.json()["html"]
        fits = client.post(f"{API}/notices/preview", json={**notice, "body": "明天上午停水"}, headers=headers)
        assert fits.json()["ok"] is True
        by_call = client.post(f"{API}/notices/preview", json={**notice, "channels": "call"}, headers=headers)
        assert "template_unfit" not in by_call.text  # a call says the words: no SMS template involved
    # With another gateway the same notice goes as it is.
    with TestClient(create_app(settings, services), base_url=PUBLIC_URL) as client:
        headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
        assert client.post(f"{API}/notices/preview", json=notice, headers=headers).json()["ok"] is True


def test_no_variable_carries_a_link_whatever_the_register_holds() -> None:
    table = TemplateTable.load()
    body = MessageCatalog.load().render(
        "liaison_accepted",
        "zh-CN",
        **{**SAMPLES, "address": "3号楼 见 http://t.cn/abc", "resident_name": "x.com", "access": ""},
    )
    found = table.match(body)
    assert found is not None and found.template.key == "liaison_accepted"
    assert not any("t.cn" in value or "x.com" in value for value in found.values), found.values
    assert found.values[2:4] == [table.link_replacement, "3号楼 见 " + table.link_replacement]
