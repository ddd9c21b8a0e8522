"""Settings: defaults, and a bad or missing value stops the start with one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.exceptions import SettingsError
from hotline.settings import load_settings, read_settings
from hotline.settings_table import SETTINGS

SID = "AC" + "a" * 32


def test_defaults_on_a_fresh_machine(tmp_path: Path) -> None:
    settings = load_settings({"HOTLINE_DATA_DIR": str(tmp_path)}, env_file=None)
    assert settings.gateway == "local"
    assert settings.embedded_redis
    assert settings.database_url == f"sqlite:///{tmp_path / 'hotline.sqlite3'}"
    assert (settings.region, settings.language, settings.timezone.key) == ("CN", "zh-CN", "Asia/Shanghai")
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.tts_voices["zh-CN"] == ("cmn-CN", "Polly.Zhiyu-Neural")
    assert (settings.dial_timeout_seconds, settings.voicemail_seconds) == (20, 120)
    assert settings.ivr_script.name == "voice_hotline.toml" and settings.duty_phone is None
    # Signature checks stay on without Twilio: a generated token, the same on every start.
    token = str(settings.twilio_auth_token)
    assert len(token) == 32 and (tmp_path / "local_auth_token").stat().st_mode & 0o077 == 0
    assert str(load_settings({"HOTLINE_DATA_DIR": str(tmp_path)}, env_file=None).twilio_auth_token) == token


def test_twilio_credentials_select_the_twilio_gateway(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "HOTLINE_DATA_DIR": str(tmp_path),
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "s3cr3t-9f8e",
            "TWILIO_FROM_NUMBER": "0571 1234 5678",
            "HOTLINE_PUBLIC_URL": "https://hotline.example.org/",
            "HOTLINE_DUTY_PHONE": "0371 6688 0000",
        },
        env_file=None,
    )
    assert settings.gateway == "twilio"
    assert settings.duty_phone == "+8637166880000"
    assert settings.twilio_from_number == "+8657112345678"
    assert settings.callback_url("/twilio/sms") == "https://hotline.example.org/twilio/sms"
    assert "s3cr3t-9f8e" not in repr(settings)  # the token is a Secret
    assert str(settings.twilio_auth_token) == "s3cr3t-9f8e"


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HOTLINE_LANGUAGE=en\nHOTLINE_REGION=US\n")
    settings = load_settings({"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_REGION": "GB"}, env_file=env_file)
    assert (settings.language, settings.region) == ("en", "GB")


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"HOTLINE_GATEWAY": "carrier-pigeon"}, "HOTLINE_GATEWAY"),
        ({"HOTLINE_TIMEZONE": "Mars/Olympus"}, "HOTLINE_TIMEZONE"),
        ({"HOTLINE_REGION": "XX"}, "HOTLINE_REGION"),
        ({"HOTLINE_LANGUAGE": "fr"}, "HOTLINE_LANGUAGE"),
        ({"HOTLINE_PUBLIC_URL": "hotline.example.org"}, "HOTLINE_PUBLIC_URL"),
        ({"REDIS_URL": "memcached://x"}, "REDIS_URL"),
        ({"DATABASE_URL": "hotline.db"}, "DATABASE_URL"),
        ({"TWILIO_ACCOUNT_SID": "nope"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_MESSAGING_SERVICE_SID": "MG1"}, "TWILIO_MESSAGING_SERVICE_SID"),
        ({"TWILIO_FROM_NUMBER": "12"}, "TWILIO_FROM_NUMBER"),
        ({"HOTLINE_SWEEP_SECONDS": "soon"}, "HOTLINE_SWEEP_SECONDS"),
        ({"HOTLINE_GATEWAY": "twilio"}, "TWILIO_ACCOUNT_SID"),
        ({"HOTLINE_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": SID}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t"}, "TWILIO_FROM_NUMBER"),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "+8657112345678"},
            "HOTLINE_PUBLIC_URL",  # Twilio needs https
        ),
        (
            {
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_AUTH_TOKEN": "t",
                "TWILIO_FROM_NUMBER": "+8657112345678",
                "HOTLINE_PUBLIC_URL": "https://h.example.org",
            },
            "HOTLINE_DUTY_PHONE",  # a voice caller's last resort when everything else fails
        ),
        ({"HOTLINE_DUTY_PHONE": "110"}, "HOTLINE_DUTY_PHONE"),
        ({"HOTLINE_TTS_VOICES": "zh-CN=Polly.Zhiyu"}, "HOTLINE_TTS_VOICES"),
        ({"HOTLINE_TTS_VOICES": "zh-CN=cmn-CN:Polly.Zhiyu-Neural"}, "HOTLINE_TTS_VOICES"),  # en missing
        ({"HOTLINE_DIAL_TIMEOUT": "2"}, "HOTLINE_DIAL_TIMEOUT"),
        ({"HOTLINE_VOICEMAIL_SECONDS": "forever"}, "HOTLINE_VOICEMAIL_SECONDS"),
        ({"HOTLINE_IVR_SCRIPT": "/nonexistent/menu.toml"}, "HOTLINE_IVR_SCRIPT"),
    ],
)
def test_bad_values_name_their_variable(tmp_path: Path, environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HOTLINE_DATA_DIR": str(tmp_path), **environ}, env_file=None)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable) and "\n" not in str(caught.value)


def test_an_unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SettingsError) as caught:
        load_settings({"HOTLINE_DATA_DIR": str(blocker / "var")}, env_file=None)
    assert caught.value.variable == "HOTLINE_DATA_DIR"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"HOTLINE_LOG_FORMAT": "xml"}, "HOTLINE_LOG_FORMAT"),
        ({"HOTLINE_LOG_FORMAT": "jsonl"}, "HOTLINE_LOG_FORMAT"),
        ({"HOTLINE_READY_QUEUE_LIMIT": "0"}, "HOTLINE_READY_QUEUE_LIMIT"),
        ({"HOTLINE_READY_QUEUE_LIMIT": "-5"}, "HOTLINE_READY_QUEUE_LIMIT"),
        ({"HOTLINE_READY_QUEUE_LIMIT": "lots"}, "HOTLINE_READY_QUEUE_LIMIT"),
        ({"HOTLINE_READY_QUEUE_LIMIT": "10000001"}, "HOTLINE_READY_QUEUE_LIMIT"),
    ],
)
def test_bad_operations_settings_name_their_variable(tmp_path: Path, environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HOTLINE_DATA_DIR": str(tmp_path), **environ}, env_file=None)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable) and "\n" not in str(caught.value)


def test_operations_settings_default_and_read(tmp_path: Path) -> None:
    defaults = load_settings({"HOTLINE_DATA_DIR": str(tmp_path)}, env_file=None)
    assert (defaults.log_format, defaults.ready_queue_limit) == ("text", 10000)
    given = load_settings(
        {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_LOG_FORMAT": "JSON", "HOTLINE_READY_QUEUE_LIMIT": "250"},
        env_file=None,
    )
    assert (given.log_format, given.ready_queue_limit) == ("json", 250)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("memcached://x", "must start with redis://, rediss://, unix://, redis+sentinel://"),
        ("redis+sentinel:///hotline", "names no sentinel"),
        ("redis+sentinel://s1:26379,s2:26379", "names no service"),
        ("redis+sentinel://s1:twentysix/hotline", "has a bad port for sentinel s1"),
        ("redis://:hunter2-secret@h:65536/0", "has a bad port"),
    ],
)
def test_a_bad_redis_url_says_what_is_wrong_without_its_password(tmp_path: Path, url: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HOTLINE_DATA_DIR": str(tmp_path), "REDIS_URL": url}, env_file=None)
    assert caught.value.variable == "REDIS_URL" and problem in caught.value.problem
    assert "hunter2" not in str(caught.value)


def test_a_sentinel_redis_url_is_kept_as_given(tmp_path: Path) -> None:
    url = "redis+sentinel://:pw@s1:26379,s2:26379/hotline/1?sentinel_password=spw"
    settings = load_settings({"HOTLINE_DATA_DIR": str(tmp_path), "REDIS_URL": url}, env_file=None)
    assert settings.redis_url == url and not settings.embedded_redis


def test_a_postgresql_url_naming_no_driver_means_psycopg(tmp_path: Path) -> None:
    for given in ("postgresql://hotline:pw@db.internal:5432/hotline", "postgres://hotline:pw@db.internal:5432/hotline"):
        loaded = load_settings(_environ_for_database(tmp_path, given), env_file=None)
        assert loaded.database_url == "postgresql+psycopg://hotline:pw@db.internal:5432/hotline"
    kept = "postgresql+psycopg://hotline@/hotline?host=/run/postgresql"
    assert load_settings(_environ_for_database(tmp_path, kept), env_file=None).database_url == kept


def test_a_database_url_that_is_not_one_is_refused_without_repeating_it(tmp_path: Path) -> None:
    for given in ("hotline.sqlite3", "postgresql://secret-pw@db:notaport/x"):
        with pytest.raises(SettingsError, match="DATABASE_URL") as error:
            load_settings(_environ_for_database(tmp_path, given), env_file=None)
        assert "secret-pw" not in str(error.value)


def _environ_for_database(tmp_path: Path, url: str) -> dict[str, str]:
    return {"HOTLINE_DATA_DIR": str(tmp_path), "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:1/0"}


def test_forwarded_allow_ips_is_read_checked_and_trusts_no_one_when_unset(tmp_path: Path) -> None:
    assert load_settings({"HOTLINE_DATA_DIR": str(tmp_path)}, env_file=None).forwarded_allow_ips == ""
    given = {"HOTLINE_DATA_DIR": str(tmp_path), "FORWARDED_ALLOW_IPS": " 10.0.0.5, 10.1.0.0/24,::1 "}
    assert load_settings(given, env_file=None).forwarded_allow_ips == "10.0.0.5,10.1.0.0/24,::1"
    with pytest.raises(SettingsError) as caught:
        load_settings({"HOTLINE_DATA_DIR": str(tmp_path), "FORWARDED_ALLOW_IPS": "nginx.internal"}, env_file=None)
    assert "FORWARDED_ALLOW_IPS" in str(caught.value) and "nginx.internal" in str(caught.value)


def test_a_day_whose_ladder_cannot_keep_the_deadline_is_refused_at_start(tmp_path: Path) -> None:
    base = {"HOTLINE_DATA_DIR": str(tmp_path)}
    fits = load_settings(base, env_file=None)  # 09:00 + 2 h + 3 calls 10 min apart = 11:30 = 12:00 − 3 × 10 min
    assert (fits.checkin_deadline.isoformat(), fits.urgent_accept_minutes) == ("12:00:00", 10)
    for late in (
        {"HOTLINE_CHECKIN_TIMES": "09:30"},
        {"HOTLINE_URGENT_ACCEPT_MINUTES": "11"},
        {"HOTLINE_CALL_RETRIES": "4"},
        {"HOTLINE_CHECKIN_DEADLINE": "11:59"},
    ):
        with pytest.raises(SettingsError) as caught:
            load_settings({**base, **late}, env_file=None)
        message = str(caught.value)
        assert message.startswith("HOTLINE_CHECKIN_DEADLINE ") and "\n" not in message
        assert "check-in" in message and "must be offered by" in message, message
    # A later deadline makes room; a check-in at or after the deadline has a ladder of its own.
    assert load_settings({**base, "HOTLINE_CHECKIN_TIMES": "09:30", "HOTLINE_CHECKIN_DEADLINE": "12:30"}, env_file=None)
    assert load_settings({**base, "HOTLINE_CHECKIN_TIMES": "09:00,14:00"}, env_file=None)


def test_reading_touches_no_file_and_loading_prepares_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "var"
    found = read_settings({"HOTLINE_DATA_DIR": str(data_dir)}, env_file=None)
    assert found["data_dir"] == data_dir and found["secret_key"] is None and found["twilio_auth_token"] is None
    assert not (tmp_path / "new").exists()
    loaded = load_settings({"HOTLINE_DATA_DIR": str(data_dir)}, env_file=None)
    assert sorted(p.name for p in data_dir.iterdir()) == ["local_auth_token", "secret_key"]
    assert str(loaded.secret_key) == (data_dir / "secret_key").read_text()


def test_readme_settings_table_names_every_setting_with_its_default() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    documented = {name.strip("`"): row[1] for row in rows for name in row[0].strip("| ").split(", ")}
    assert set(documented) == {setting.env for setting in SETTINGS}
    for setting in SETTINGS:
        if isinstance(setting.default, str) and setting.default and "," not in setting.env:
            shown = setting.default.replace(str(Path(__file__).parent.parent) + "/", "")
            assert f"`{shown}`" in documented[setting.env], setting.env


def test_a_digit_that_is_no_number_is_a_bad_value_not_a_crash(tmp_path: Path) -> None:
    for name in ("HOTLINE_READY_QUEUE_LIMIT", "HOTLINE_SWEEP_SECONDS", "HOTLINE_CALL_RETRIES"):
        with pytest.raises(SettingsError) as caught:
            load_settings({"HOTLINE_DATA_DIR": str(tmp_path), name: "²"}, env_file=None)
        assert caught.value.variable == name and "whole number" in caught.value.problem
