"""Tencent Cloud voice messages' settings and template: asked for only when calls go through Tencent, each bad value
named; the check-in call's voice template held to Tencent's rules by `hotline ivr check`, never at call time."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.channels import Ability
from dispatch.exceptions import MessageCatalogError
from dispatch.voice_templates import VOICE_TEMPLATES_FILE, CheckinVoiceTemplate, check_voice_templates
from hotline.cli.ivr import check_path
from hotline.exceptions import SettingsError
from hotline.services import Services
from hotline.settings import load_settings
from tests.vms_helpers import VOICE_APP_ID
from workers.gateways.tencent_vms import TencentVoiceGateway


def test_settings_ask_for_the_voice_application_only_when_calls_go_through_tencent(tmp_path: Path) -> None:
    environ = {
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "HOTLINE_GATEWAY": "tencent",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TENCENT_SECRET_ID": "AKID" + "a" * 32,
        "TENCENT_SECRET_KEY": "b" * 32,
        "TENCENT_SMS_APP_ID": "1400006666",
        "TENCENT_SMS_SIGN_NAME": "社区热线",
        "TENCENT_CALLBACK_SECRET": "c" * 32,
    }
    assert load_settings(environ, env_file=None).call_gateway == "none"  # voice calls need setting up: asked for
    calls = {**environ, "HOTLINE_CALL_GATEWAY": "tencent"}
    with pytest.raises(SettingsError) as caught:
        load_settings(calls, env_file=None)
    assert caught.value.variable == "TENCENT_VOICE_APP_ID"
    for name, value in (
        ("TENCENT_VOICE_APP_ID", "14000x"),
        ("TENCENT_VOICE_PLAY_TIMES", "4"),
        ("TENCENT_VMS_ENDPOINT", "http://vms.tencentcloudapi.com"),
    ):
        with pytest.raises(SettingsError) as caught:
            load_settings({**calls, "TENCENT_VOICE_APP_ID": VOICE_APP_ID, name: value}, env_file=None)
        assert caught.value.variable == name
    loaded = load_settings({**calls, "TENCENT_VOICE_APP_ID": VOICE_APP_ID}, env_file=None)
    assert (loaded.call_gateway, loaded.tencent_vms_endpoint) == ("tencent", "vms.tencentcloudapi.com")
    built = Services.build(loaded)
    try:
        assert isinstance(built.call_gateway, TencentVoiceGateway) and built.call_gateway is not built.gateway
        assert not built.intake.calls.can(Ability.SPOKEN_CALLS)  # an alert call goes as an SMS
    finally:
        built.close()

    # SMS through a community's own Android phone, the check-in calls through Tencent: no Tencent SMS needed.
    android = {
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "HOTLINE_GATEWAY": "android",
        "ANDROID_PHONES": "a=http://sms:secret-password@127.0.0.1:9/",
        "ANDROID_SIGNING_KEY": "a-long-signing-key-for-the-phones",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "HOTLINE_CALL_GATEWAY": "tencent",
        "TENCENT_VOICE_APP_ID": VOICE_APP_ID,
        "TENCENT_SECRET_ID": environ["TENCENT_SECRET_ID"],
        "TENCENT_SECRET_KEY": environ["TENCENT_SECRET_KEY"],
        "TENCENT_CALLBACK_SECRET": environ["TENCENT_CALLBACK_SECRET"],
    }
    mixed = load_settings(android, env_file=None)
    assert (mixed.gateways, mixed.call_gateway, mixed.tencent_sms_app_id) == (("android",), "tencent", None)
    assert "tencent" in mixed.call_gateways
    for name in ("TENCENT_SECRET_ID", "TENCENT_CALLBACK_SECRET"):
        with pytest.raises(SettingsError) as caught:
            load_settings({k: v for k, v in android.items() if k != name}, env_file=None)
        assert caught.value.variable == name
    with pytest.raises(SettingsError) as caught:  # another gateway calls only if it is set up
        load_settings({**android, "HOTLINE_CALL_GATEWAY": "twilio"}, env_file=None)
    assert caught.value.variable == "HOTLINE_CALL_GATEWAY"


def test_settings_for_twilio_keep_one_gateway_for_sms_and_calls(services: Services) -> None:
    assert services.voice_gateway is None and services.call_gateway is services.gateway


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('id = "1500001"', 'id = "T-1"', "numeric template id"),
        ("{1}您好", "{1}{2}您好", "side by side"),
        ("需要回电请按0。", "需要回电请按0。" + "请" * 300, "Tencent reads at most 350"),
        ("name_longest = 12", "name_longest = 20", "a variable takes at most 12"),
        ("需要回电请按0。", "详见 www.example.com", "link"),
        ("{1}您好", "您好", "one variable"),
        (
            "身体不舒服请按4",
            "身体不舒服请按2",
            "which is '买菜' in menu_digits.toml",
        ),  # a key's words, another's meaning
        ("身体不舒服请按4，", "", "must offer the key for feeling unwell"),
        ("需要回电请按0", "需要回电请按7", "offers key 7"),
    ],
)
def test_a_voice_template_that_breaks_tencents_rules_is_found_at_check_time(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    text = VOICE_TEMPLATES_FILE.read_text(encoding="utf-8")
    assert old in text and check_voice_templates(VOICE_TEMPLATES_FILE) == []
    broken = tmp_path / VOICE_TEMPLATES_FILE.name
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    found = check_path(broken)
    assert any(problem in str(p) for p in found), found
    with pytest.raises(MessageCatalogError, match=problem):
        CheckinVoiceTemplate.load(broken)


def test_a_long_name_is_cut_to_the_variable_it_rides_in() -> None:
    template = CheckinVoiceTemplate.load()
    assert template.params("  梁  阿姨 ") == ["梁 阿姨"]
    assert template.params("欧" * 40) == ["欧" * template.name_longest]
    assert template.params("") == ["您"]
