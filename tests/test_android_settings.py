"""The Android gateway's settings: what it needs, how the phones are read, and never a password in a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.exceptions import SettingsError
from hotline.settings import load_settings

KEY = "a-long-signing-key-for-the-phones"
PHONES = "a=http://sms:Pa55%2Cw0rd@192.168.1.20:8080/,b=https://LOGIN:s3cret-b@api.sms-gate.app/3rdparty/v1?device=ffffceb0&limit=300"


def android(tmp_path: Path, **environ: str) -> dict[str, str]:
    return {
        "HOTLINE_DATA_DIR": str(tmp_path),
        "HOTLINE_GATEWAY": "android",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
        "ANDROID_PHONES": PHONES,
        "ANDROID_SIGNING_KEY": KEY,
        **environ,
    }


def test_the_phones_are_read_with_their_device_and_limit(tmp_path: Path) -> None:
    settings = load_settings(android(tmp_path), env_file=None)
    a, b = settings.android_phones
    assert (a.name, a.base_url, a.login, a.password, a.device_id, a.daily_limit) == (
        "a",
        "http://192.168.1.20:8080",
        "sms",
        "Pa55,w0rd",
        None,
        None,
    )
    assert (b.base_url, b.login, b.device_id, b.daily_limit) == (
        "https://api.sms-gate.app/3rdparty/v1",
        "LOGIN",
        "ffffceb0",
        300,
    )
    assert (settings.android_daily_limit, settings.android_quiet_minutes) == (200, 15)
    assert str(settings.android_signing_key) == KEY
    for secret in ("Pa55", "s3cret-b", KEY):
        assert secret not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"ANDROID_PHONES": ""}, "ANDROID_PHONES"),
        ({"ANDROID_SIGNING_KEY": ""}, "ANDROID_SIGNING_KEY"),
        ({"ANDROID_SIGNING_KEY": "8charkey"}, "ANDROID_SIGNING_KEY"),
        ({"HOTLINE_PUBLIC_URL": "http://hotline.example.org"}, "HOTLINE_PUBLIC_URL"),
        ({"ANDROID_PHONES": "a=http://192.168.1.20:8080"}, "ANDROID_PHONES"),  # no login:password
        ({"ANDROID_PHONES": "A phone=http://sms:pw@h:8080"}, "ANDROID_PHONES"),
        ({"ANDROID_PHONES": "a=ftp://sms:pw@h"}, "ANDROID_PHONES"),
        ({"ANDROID_PHONES": "a=http://sms:pw@h:8080?limit=0"}, "ANDROID_PHONES"),
        ({"ANDROID_PHONES": "a=http://sms:pw@h:8080?colour=red"}, "ANDROID_PHONES"),
        ({"ANDROID_PHONES": "a=http://sms:pw@h:80,a=http://sms:pw@g:80"}, "ANDROID_PHONES"),
        ({"ANDROID_PHONES": "a=http://sms:pw@h:99999"}, "ANDROID_PHONES"),
        ({"ANDROID_DAILY_LIMIT": "0"}, "ANDROID_DAILY_LIMIT"),
        ({"ANDROID_QUIET_MINUTES": "1"}, "ANDROID_QUIET_MINUTES"),
        ({"HOTLINE_GATEWAY": "carrier-pigeon"}, "HOTLINE_GATEWAY"),
    ],
)
def test_a_missing_or_bad_value_names_its_variable_and_no_password(
    tmp_path: Path, environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(android(tmp_path, **environ), env_file=None)
    assert caught.value.variable == variable
    assert "pw" not in caught.value.problem and "Pa55" not in str(caught.value)


def test_the_phones_may_post_to_a_hotline_on_the_same_machine(tmp_path: Path) -> None:
    # The app takes http:// only for 127.0.0.1 (a phone with the hotline behind `adb reverse`).
    settings = load_settings(android(tmp_path, HOTLINE_PUBLIC_URL="http://127.0.0.1:8000"), env_file=None)
    assert settings.gateway == "android"


def test_other_gateways_need_no_phones(tmp_path: Path) -> None:
    settings = load_settings({"HOTLINE_DATA_DIR": str(tmp_path)}, env_file=None)
    assert settings.gateway == "local" and settings.android_phones == () and settings.android_signing_key is None
