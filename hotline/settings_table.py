"""The hotline's settings as a table: each variable's `Settings` field, kind of value, default and meaning.

The order is the order of checking: a default or a kind that reads another setting (the gateway's default
reads the Twilio credentials, a phone number reads the region) comes after it. README's settings table says
the same for operators; `tests/test_settings.py` checks that the two name the same variables.
"""

from __future__ import annotations

import ipaddress

import phonenumbers
from starlette.datastructures import Secret

from dispatch.channels import CHANNELS, Ability
from hotline.android_settings import ANDROID_SETTINGS
from hotline.checkin_settings import CHECKIN_SETTINGS
from hotline.httpsms_settings import HTTPSMS_SETTINGS
from hotline.settings_reader import (
    BadValue,
    Found,
    Setting,
    base_url,
    existing_file,
    folder,
    http_url,
    matching,
    number,
    one_of,
    phone_number,
    plain,
    time_of_day,
    timezone,
    whole,
)
from hotline.tencent_settings import TENCENT_SETTINGS
from ivr_scripts import SCRIPTS_DIR

LANGUAGES = ("zh-CN", "en")
DEFAULT_DATA_DIR = "./var"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOCAL_CHANNELS = ("twilio", "tencent", "android")
TWILIO_API_DEFAULT = "https://api.twilio.com"
# Twilio <Say> language and voice per language: Amazon Polly's neural Mandarin and English voices.
DEFAULT_TTS_VOICES = "zh-CN=cmn-CN:Polly.Zhiyu-Neural,en=en-US:Polly.Joanna-Neural"
DEFAULT_IVR_SCRIPT = SCRIPTS_DIR / "voice_hotline.toml"


def database_url(raw: str, found: Found) -> str:
    """A SQLAlchemy URL; `postgresql://` (or `postgres://`), naming no driver, means psycopg 3, the one installed
    with `pip install 'hotline[postgresql]'`."""
    from sqlalchemy.exc import ArgumentError

    from dispatch.db import engine_url

    problem = "must be a SQLAlchemy URL such as sqlite:///path or postgresql+psycopg://user@host/dbname"
    if "://" not in raw:
        raise BadValue(problem)
    try:
        return engine_url(raw)
    except (ArgumentError, ValueError):
        raise BadValue(problem) from None


def redis_url(raw: str, found: Found) -> str:
    """One of the forms in hotline/redis_url.py, with examples there; kept as given."""
    from hotline.redis_url import RedisUrlError, check

    try:
        check(raw)
    except RedisUrlError as exc:
        raise BadValue(str(exc)) from None
    return raw


def secret_key(raw: str, found: Found) -> str:
    """A key long enough to sign session cookies."""
    if len(raw) < 32:
        raise BadValue("must be at least 32 characters (python3 -c 'import secrets; print(secrets.token_hex(32))')")
    return raw


def sentry_dsn(raw: str, found: Found) -> Secret:
    """Where error reports go: a Sentry DSN (https://KEY@HOST/PROJECT), kept as a secret (its key lets anyone
    send reports)."""
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        Dsn(raw)
    except BadDsn:
        raise BadValue("must be a Sentry DSN such as https://KEY@o1.ingest.sentry.io/PROJECT") from None
    return Secret(raw)


def trusted_proxies(raw: str, found: Found) -> str:
    """Addresses or networks (10.0.0.5, 10.0.0.0/24, ::1), comma-separated, or "*"."""
    items = [item.strip() for item in raw.split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise BadValue(f"{item!r} is not an address or network") from None
    return ",".join(items)


def tts_voices(raw: str, found: Found) -> dict[str, tuple[str, str]]:
    """`zh-CN=cmn-CN:Polly.Zhiyu-Neural,en=en-US:Polly.Joanna-Neural` → language → (Say language, voice)."""
    voices = {}
    for item in raw.split(","):
        language, _, spec = item.strip().partition("=")
        say_language, _, voice = spec.partition(":")
        if language not in LANGUAGES or not say_language or not voice:
            raise BadValue("must be language=say-language:voice pairs, e.g. " + DEFAULT_TTS_VOICES)
        voices[language] = (say_language, voice)
    for language in LANGUAGES:
        if language not in voices:
            raise BadValue(f"has no voice for {language}")
    return voices


def _sqlite_in_data_dir(found: Found) -> str:
    return f"sqlite:///{found['data_dir'] / 'hotline.sqlite3'}"


def _twilio_if_credentials(found: Found) -> str:
    return "twilio" if found["twilio_account_sid"] and found["twilio_auth_token"] else "local"


GATEWAY_NAMES = ("local", "twilio", "tencent", "android")


def other_gateways(raw: str, found: Found) -> tuple[str, ...]:
    """The gateways, besides HOTLINE_GATEWAY, that a community may choose for its SMS or calls: comma-separated."""
    names = tuple(dict.fromkeys(name.strip().lower() for name in raw.split(",") if name.strip()))
    for name in names:
        if name not in GATEWAY_NAMES:
            raise BadValue(f"names {name!r}; each must be one of {', '.join(GATEWAY_NAMES)}")
    return tuple(name for name in names if name != found["gateway"])


def local_channel(raw: str, found: Found) -> str:
    """The provider the local gateway stands in for: its abilities apply, and the simulator speaks as it."""
    if raw not in LOCAL_CHANNELS:
        raise BadValue(f"must be one of {', '.join(LOCAL_CHANNELS)}, not {raw!r}")
    if raw != "twilio" and found["gateway"] != "local":
        raise BadValue("is only for HOTLINE_GATEWAY=local (the demo); a real gateway is its own channel")
    return raw


def channel_of(found: Found) -> str:
    """The channel whose abilities apply: the gateway's, or the one the local gateway stands in for."""
    return str(found["local_channel"] if found["gateway"] == "local" else found["gateway"])


def call_gateway(raw: str, found: Found) -> str:
    """ "none", a gateway the hotline is set up with (HOTLINE_GATEWAY or HOTLINE_GATEWAYS) that places calls, or
    "tencent" (its voice messages, whatever carries the SMS)."""
    if raw == "none":
        return raw
    known = (found["gateway"], *(found["other_gateways"] or ()))
    # Tencent's voice messages have a gateway of their own: the calls need no Tencent SMS (checked after the table).
    if raw not in known and raw != "tencent":
        raise BadValue(f"must be 'none', 'tencent' or one of the gateways, {', '.join(known)}, not {raw!r}")
    channel = found["local_channel"] if raw == "local" else raw
    if not CHANNELS[channel].can(Ability.CHECKIN_CALLS):
        raise BadValue(f"{channel!r} places no calls: leave it unset, or 'none'")
    return raw


# Channels whose calls need setting up of their own (Tencent's: a voice application and an approved voice template):
# they place calls only when HOTLINE_CALL_GATEWAY names them.
_CALLS_WHEN_ASKED = ("tencent",)


def _calls_if_the_gateway_places_them(found: Found) -> str:
    channel = channel_of(found)
    return (
        found["gateway"]
        if CHANNELS[channel].can(Ability.CHECKIN_CALLS) and channel not in _CALLS_WHEN_ASKED
        else "none"
    )


SETTINGS: tuple[Setting, ...] = (
    Setting("HOTLINE_DATA_DIR", "data_dir", folder, DEFAULT_DATA_DIR, "the database, the embedded Redis, the secrets"),
    Setting("DATABASE_URL", "database_url", database_url, _sqlite_in_data_dir, "SQLite (WAL) or PostgreSQL"),
    Setting("REDIS_URL", "redis_url", redis_url, None, "unset: the embedded redis-server in the data dir"),
    Setting(
        "TWILIO_ACCOUNT_SID",
        "twilio_account_sid",
        matching(r"^AC[0-9a-fA-F]{32}$", "must be AC followed by 32 hex digits"),
        help="AC…",
    ),
    Setting("TWILIO_AUTH_TOKEN", "twilio_auth_token", plain, None, "unset: a local token kept in the data dir"),
    Setting(
        "TWILIO_MESSAGING_SERVICE_SID",
        "twilio_messaging_service_sid",
        matching(r"^MG[0-9a-fA-F]{32}$", "must be MG followed by 32 hex digits"),
        help="MG…; sends SMS instead of the from number",
    ),
    Setting(
        "HOTLINE_GATEWAY",
        "gateway",
        one_of(
            ("local", "twilio", "tencent", "android"),
            "must be 'local', 'twilio', 'tencent' or 'android', not {value!r}",
        ),
        _twilio_if_credentials,
        "local: an outbox, never the network; android: SMS through the community's own phones",
    ),
    Setting(
        "HOTLINE_GATEWAYS",
        "other_gateways",
        other_gateways,
        None,
        "more gateways a community may choose for its SMS or calls, e.g. tencent,android; each needs its settings",
    ),
    Setting(
        "HOTLINE_LOCAL_CHANNEL",
        "local_channel",
        local_channel,
        "twilio",
        "with the local gateway: the provider it stands in for (twilio, tencent, android), as `hotline demo --channel`",
    ),
    Setting(
        "HOTLINE_CALL_GATEWAY",
        "call_gateway",
        call_gateway,
        _calls_if_the_gateway_places_them,
        "none: no automated calls; the ladder's visit comes at the call's time",
    ),
    Setting(
        "HOTLINE_REGION",
        "region",
        one_of(
            phonenumbers.SUPPORTED_REGIONS, "{value!r} is not a region code phonenumbers knows, such as CN", str.upper
        ),
        "CN",
        "the region national phone numbers are read in",
    ),
    Setting("TWILIO_FROM_NUMBER", "twilio_from_number", phone_number, None, "the hotline's number, kept as E.164"),
    Setting("HOTLINE_PUBLIC_URL", "public_url", base_url, "http://127.0.0.1:8000", "the base URL Twilio calls"),
    Setting("HOTLINE_SECRET_KEY", "secret_key", secret_key, None, "unset: a key kept in the data dir"),
    Setting(
        "HOTLINE_CLOCK_SPEED",
        "clock_speed",
        number(1.0, 3600.0, "must be a number from 1 (real time) to 3600"),
        "1",
        "the demo's fast clock: simulated seconds per real second",
    ),
    Setting("HOTLINE_CLOCK_START", "clock_start", plain, None, "REAL_EPOCH@SIMULATED_EPOCH the fast clock counts from"),
    Setting(
        "HOTLINE_LOG_FORMAT",
        "log_format",
        one_of(("text", "json"), "must be 'text' or 'json', not {value!r}", str.lower),
        "text",
        "log lines as text or JSON lines",
    ),
    Setting(
        "HOTLINE_LOG_LEVEL",
        "log_level",
        one_of(
            ("DEBUG", "INFO", "WARNING", "ERROR"), "must be DEBUG, INFO, WARNING or ERROR, not {value!r}", str.upper
        ),
        "INFO",
        "the least a log line must matter to be written",
    ),
    Setting("SENTRY_DSN", "sentry_dsn", sentry_dsn, None, "unset: no error reports leave the machine"),
    Setting(
        "HOTLINE_READY_QUEUE_LIMIT",
        "ready_queue_limit",
        whole(1, 10_000_000, "queued jobs"),
        "10000",
        "/readyz fails with more jobs waiting",
    ),
    Setting(
        "HOTLINE_READY_INBOUND_SECONDS",
        "ready_inbound_seconds",
        whole(10, 86400, "seconds"),
        "120",
        "/readyz fails while a message this old is unprocessed",
    ),
    Setting(
        "HOTLINE_STAFF_SMS_PER_HOUR",
        "staff_sms_per_hour",
        whole(1, 1000, "SMS an hour"),
        "20",
        "most SMS one member of staff sends by hand in an hour",
    ),
    Setting(
        "HOTLINE_MEDICINE_LEAD_DAYS",
        "medicine_lead_days",
        whole(0, 30, "days"),
        "3",
        "a medicine task this many days before it runs out",
    ),
    Setting("FORWARDED_ALLOW_IPS", "forwarded_allow_ips", trusted_proxies, "", "proxies whose X-Forwarded-* is read"),
    Setting("HOTLINE_TIMEZONE", "timezone", timezone, "Asia/Shanghai", "the community's IANA timezone"),
    Setting(
        "HOTLINE_LANGUAGE",
        "language",
        one_of(LANGUAGES, f"must be one of {', '.join(LANGUAGES)}"),
        "zh-CN",
        "texts to liaisons and staff",
    ),
    Setting(
        "HOTLINE_SWEEP_SECONDS",
        "sweep_interval_seconds",
        whole(1, 3600, "seconds"),
        "30",
        "how often the sweeper runs",
    ),
    Setting(
        "HOTLINE_FEVER_THRESHOLD",
        "fever_threshold",
        number(36.0, 40.0, "must be a temperature in °C between 36.0 and 40.0"),
        "37.3",
        "°C; at or above it a resident is unwell",
    ),
    Setting(
        "HOTLINE_URGENT_ACCEPT_MINUTES",
        "urgent_accept_minutes",
        whole(1, 1440, "minutes"),
        "10",
        "an urgent task not taken by then climbs the ladder",
    ),
    Setting(
        "HOTLINE_NORMAL_ACCEPT_MINUTES",
        "normal_accept_minutes",
        whole(1, 1440, "minutes"),
        "60",
        "the same for other tasks",
    ),
    Setting(
        "HOTLINE_AUTO_REPLIES_PER_HOUR",
        "auto_replies_per_number_per_hour",
        whole(1, 1440, "replies"),
        "6",
        "automatic answers to one number per hour",
    ),
    Setting(
        "HOTLINE_UNKNOWN_REPLIES_PER_HOUR",
        "unknown_replies_per_hour",
        whole(1, 1440, "replies"),
        "20",
        "answers to unregistered numbers per hour",
    ),
    Setting("HOTLINE_DONE_BY", "done_by", time_of_day("20:00"), "20:00", "a task not done by then is flagged"),
    Setting("HOTLINE_REDIS_SERVER", "redis_server_binary", plain, None, "the embedded Redis's redis-server"),
    Setting("HOTLINE_DUTY_PHONE", "duty_phone", phone_number, None, "the service's duty phone; required with Twilio"),
    Setting("HOTLINE_TTS_VOICES", "tts_voices", tts_voices, DEFAULT_TTS_VOICES, "per language, the <Say> voice"),
    Setting(
        "HOTLINE_DIAL_TIMEOUT",
        "dial_timeout_seconds",
        whole(5, 60, "seconds"),
        "20",
        "how long a put-through rings each person",
    ),
    Setting(
        "HOTLINE_VOICEMAIL_SECONDS",
        "voicemail_seconds",
        whole(10, 600, "seconds"),
        "120",
        "the longest voicemail recorded",
    ),
    Setting("HOTLINE_IVR_SCRIPT", "ivr_script", existing_file, str(DEFAULT_IVR_SCRIPT), "the voice menu script"),
    *CHECKIN_SETTINGS,
    Setting("TWILIO_API_BASE_URL", "twilio_api_base_url", http_url, TWILIO_API_DEFAULT, "where the REST client sends"),
    *TENCENT_SETTINGS,
    *ANDROID_SETTINGS,
    *HTTPSMS_SETTINGS,
)
