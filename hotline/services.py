"""The composition root: builds the engine, Redis connection, gateway and catalog from settings, once.

The web app and the workers both get their parts from here. Nothing is built at import time.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dispatch.channels import CHANNELS
from dispatch.checkins.rules import CheckinRules
from dispatch.context import DispatchContext
from dispatch.db import make_engine, make_read_session_factory, make_session_factory
from dispatch.exceptions import IvrScriptError
from dispatch.ivr.check import check_script
from dispatch.ivr.script import IvrScript, load_script
from dispatch.models import utcnow
from dispatch.models.base import set_clock
from dispatch.resident_replies import KEYWORDS_FILE, MENU_FILE, ReplyVocabulary
from dispatch.sms_templates import TemplateTable
from dispatch.tasks.liaison_reading import COMMANDS_FILE, CommandTable
from dispatch.texts import SMS_TEXTS_FILE, MessageCatalog
from dispatch.voice_templates import CheckinVoiceTemplate
from hotline.redis_url import connect
from hotline.settings import Settings, load_settings
from hotline.webhooks.signatures import TwilioSignatureCheck
from workers.gateways import Gateway
from workers.gateways.android_sms import AndroidSmsGateway
from workers.gateways.local import LocalGateway
from workers.gateways.local_channels import LocalAndroidGateway, LocalTencentGateway
from workers.gateways.tencent_sms import TencentSmsGateway
from workers.gateways.tencent_vms import TencentVoiceGateway
from workers.gateways.twilio import TwilioGateway
from workers.throttle import Throttle

log = logging.getLogger(__name__)


def embedded_redis_socket(settings: Settings) -> str:
    """Where the private redis-server listens when REDIS_URL is unset."""
    return str(settings.data_dir / "redis" / "redis.sock")


def redis_url(settings: Settings) -> str:
    """REDIS_URL, or the unix socket of the embedded redis-server."""
    return settings.redis_url or f"unix://{embedded_redis_socket(settings)}"


def install_clock(settings: Settings) -> None:
    """The demo's fast clock behind `dispatch.models.utcnow`, if the settings ask for one: every process of a demo
    (and `hotline demo` itself, writing the community) then agrees on one simulated time."""
    if settings.clock_start is not None:
        set_clock(FastClock(settings.clock_speed, *settings.clock_start), settings.clock_speed)


def connect_redis(settings: Settings) -> Redis:
    """A Redis client with short timeouts, so a webhook never hangs on a Redis that is down.

    Any form of REDIS_URL (plain, TLS, unix socket, Sentinel: see `hotline.redis_url`); options in the URL win
    over these timeouts. A Sentinel client finds the master through the sentinels and follows a failover.
    """
    return connect(redis_url(settings), socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


@dataclass(frozen=True)
class WordTables:
    """What the hotline says and how it reads what people write: the data files of `ivr_scripts/`, checked."""

    catalog: MessageCatalog
    replies: ReplyVocabulary
    commands: CommandTable
    voice_script: IvrScript


def word_tables(script: Path) -> WordTables:
    """The word tables with `script` as the voice script. Reading and checking them takes tens of milliseconds, so
    a process reads them once, and again only when a file changes (its size or modification time)."""
    try:
        stamps = tuple(
            (str(path), stat.st_mtime_ns, stat.st_size)
            for path in (SMS_TEXTS_FILE, MENU_FILE, KEYWORDS_FILE, COMMANDS_FILE, script)
            for stat in [path.stat()]
        )
    except OSError:
        return _read_word_tables(script)  # the loaders name what is missing
    return _cached_word_tables(stamps)


@functools.lru_cache(maxsize=8)
def _cached_word_tables(stamps: tuple[tuple[str, int, int], ...]) -> WordTables:
    return _read_word_tables(Path(stamps[-1][0]))


def _read_word_tables(script: Path) -> WordTables:
    replies = ReplyVocabulary.load()
    return WordTables(MessageCatalog.load(), replies, CommandTable.load(), load_checked_script(script, replies))


def load_checked_script(path: Path, replies: ReplyVocabulary) -> IvrScript:
    """The voice script, if it has no errors (warnings, such as a long prompt, are logged).

    Raises:
        IvrScriptError: every error found.
    """
    script = load_script(path, replies)
    problems = check_script(script, replies)
    errors = [p for p in problems if p.error]
    if errors:
        raise IvrScriptError(path.name, [f"{p.where}: {p.message}" for p in errors])
    for problem in problems:
        log.warning("%s: %s", path.name, problem)
    return script


def sms_templates(settings: Settings) -> TemplateTable | None:
    """The approved templates every SMS must fit, when the gateway sends only those (Tencent's), else None.

    Raises:
        MessageCatalogError: the template table cannot be used (what `hotline ivr check` says).
    """
    return _template_table() if "tencent" in settings.gateways or settings.channel == "tencent" else None


@functools.lru_cache(maxsize=1)
def _template_table() -> TemplateTable:
    return TemplateTable.load()


def build_gateway(settings: Settings, sessions: sessionmaker[Session], name: str | None = None) -> Gateway:
    """The gateway `name` names: HOTLINE_GATEWAY's by default, or another of HOTLINE_GATEWAYS."""
    name = name or settings.gateway
    if name == "twilio":
        assert settings.twilio_account_sid is not None  # load_settings checked it
        return TwilioGateway(
            account_sid=settings.twilio_account_sid,
            auth_token=str(settings.twilio_auth_token),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base_url=settings.twilio_api_base_url,
        )
    if name == "tencent":
        assert settings.tencent_secret_id and settings.tencent_sms_app_id and settings.tencent_sms_sign_name
        return TencentSmsGateway(
            secret_id=settings.tencent_secret_id,
            secret_key=str(settings.tencent_secret_key),
            app_id=settings.tencent_sms_app_id,
            sign_name=settings.tencent_sms_sign_name,
            region=settings.tencent_region,
            endpoint=settings.tencent_sms_endpoint,
            templates=_template_table(),
        )
    if name == "android":
        return AndroidSmsGateway(
            sessions,
            settings.android_phones,
            daily_limit=settings.android_daily_limit,
            quiet_after=timedelta(minutes=settings.android_quiet_minutes),
            timezone=settings.timezone,
        )
    local = LocalGateway(
        sessions,
        from_ref=settings.twilio_from_number or "local",
        recordings=settings.data_dir / "recordings",
        api_base_url=settings.twilio_api_base_url,
    )
    return stand_in(settings, sessions, local)


def stand_in(settings: Settings, sessions: sessionmaker[Session], local: LocalGateway) -> Gateway:
    """The local gateway sending as the provider it stands in for (HOTLINE_LOCAL_CHANNEL); Twilio: itself."""
    if settings.local_channel == "tencent":
        return LocalTencentGateway(local, _template_table(), settings.tencent_sms_sign_name)
    if settings.local_channel == "android":
        return LocalAndroidGateway(local, sessions, settings.android_phones[0].name)
    return local


def build_voice_gateway(settings: Settings) -> Gateway | None:
    """The gateway that places calls when it is not the SMS gateway (HOTLINE_CALL_GATEWAY=tencent: Tencent Cloud's
    voice messages), else None: the SMS gateway places them.

    Raises:
        MessageCatalogError: the voice template cannot be used (what `hotline ivr check` says).
    """
    if settings.call_gateway != "tencent":
        return None
    assert settings.tencent_secret_id and settings.tencent_voice_app_id  # load_settings checked them
    return TencentVoiceGateway(
        secret_id=settings.tencent_secret_id,
        secret_key=str(settings.tencent_secret_key),
        app_id=settings.tencent_voice_app_id,
        region=settings.tencent_region,
        endpoint=settings.tencent_vms_endpoint,
        template=CheckinVoiceTemplate.load(),
        play_times=settings.tencent_voice_play_times,
    )


@dataclass(frozen=True)
class FastClock:
    """The demo's clock: simulated time runs `speed` times faster than real time, from a shared start.

    Every process of one demo reads the same start from its settings, so all of them agree on the time.
    """

    speed: float
    real_start: float  # epoch seconds
    simulated_start: float

    def __call__(self) -> datetime:
        elapsed = time.time() - self.real_start
        return datetime.fromtimestamp(self.simulated_start + elapsed * self.speed, UTC)


@dataclass
class Services:
    """Everything a request or a job needs, built from one Settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # for work that writes
    readonly: sessionmaker[Session]  # for work that only reads; takes no write lock on SQLite
    redis: Redis
    gateway: Gateway
    catalog: MessageCatalog
    signature: TwilioSignatureCheck
    intake: DispatchContext
    voice_script: IvrScript  # the voice menus, checked: a script that would break a call stops the start
    throttle: Throttle  # the provider's rate, shared by all workers through Redis
    # HOTLINE_GATEWAYS: the gateways, besides `gateway`, that communities chose for their SMS or calls
    other_gateways: dict[str, Gateway] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow  # what jobs take as now; tests walk a day with their own
    voice_gateway: Gateway | None = None  # places calls when that is not `gateway` (HOTLINE_CALL_GATEWAY=tencent)

    @property
    def call_gateway(self) -> Gateway:
        """The gateway that places calls: the voice gateway if there is one, else HOTLINE_CALL_GATEWAY's (which may
        be another than the SMS gateway: SMS through an Android phone, calls through Twilio)."""
        return self.voice_gateway or self.gateway_named(self.settings.call_gateway)

    def call_gateway_named(self, name: str | None) -> Gateway:
        """The gateway that places a community's calls through the channel `name`: HOTLINE_CALL_GATEWAY's own (the
        voice gateway, if it has one), else the gateway of that name."""
        return self.call_gateway if name == self.intake.calls.name else self.gateway_named(name)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Build every part. Connects lazily: nothing here needs the database or Redis to be up yet."""
        install_clock(settings)
        engine = make_engine(settings.database_url)
        sessions = make_session_factory(engine)
        words = word_tables(settings.ivr_script)
        catalog = words.catalog
        redis = connect_redis(settings)
        sender = settings.twilio_messaging_service_sid or settings.twilio_from_number or "local"
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            readonly=make_read_session_factory(engine),
            redis=redis,
            gateway=build_gateway(settings, sessions),
            other_gateways={name: build_gateway(settings, sessions, name) for name in settings.other_gateways or ()},
            catalog=catalog,
            signature=TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url),
            intake=DispatchContext(
                catalog=catalog,
                replies=words.replies,
                commands=words.commands,
                staff_language=settings.language,
                timezone=settings.timezone,
                fever_threshold=settings.fever_threshold,
                urgent_accept_minutes=settings.urgent_accept_minutes,
                normal_accept_minutes=settings.normal_accept_minutes,
                auto_replies_per_number_per_hour=settings.auto_replies_per_number_per_hour,
                unknown_replies_per_hour=settings.unknown_replies_per_hour,
                done_by=settings.done_by,
                region=settings.region,
                duty_phone=settings.duty_phone,
                calls=CHANNELS[settings.call_gateway],
                sms_gateway=settings.gateway,
                sms_choices=frozenset(settings.gateways),
                call_choices=frozenset(settings.call_gateways),
                medicine_lead_days=settings.medicine_lead_days,
                checkin=CheckinRules(
                    timezone=settings.timezone,
                    times=settings.checkin_times,
                    observation_times=settings.observation_times,
                    observation_days=settings.observation_days,
                    window=timedelta(minutes=settings.checkin_window_minutes),
                    deadline=settings.checkin_deadline,
                    quiet_hours=settings.quiet_hours,
                    call_retries=settings.call_retries,
                    call_retry=timedelta(minutes=settings.call_retry_minutes),
                    rung_window=timedelta(minutes=settings.urgent_accept_minutes),
                ),
            ),
            voice_script=words.voice_script,
            throttle=Throttle(
                redis,
                sms_per_second=settings.sms_per_second,
                calls_per_second=settings.calls_per_second,
                sender=sender,
            ),
            voice_gateway=build_voice_gateway(settings),
        )

    def gateway_named(self, name: str | None) -> Gateway:
        """The gateway of that name, if the hotline is set up with it; else HOTLINE_GATEWAY's."""
        return self.other_gateways.get(name or "", self.gateway)

    def close(self) -> None:
        """Release connections."""
        self.redis.close()
        self.engine.dispose()
        for gateway in (self.gateway, *self.other_gateways.values()):
            close_gateway = getattr(gateway, "close", None)  # a gateway with connections of its own (Android's)
            if close_gateway is not None:
                close_gateway()


_installed: Services | None = None


def install(services: Services | None) -> Services | None:
    """Make `services` the ones job functions use in this process (the worker command does this).

    Returns:
        The ones installed before, to put back.
    """
    global _installed
    previous, _installed = _installed, services
    return previous


def current() -> Services:
    """The services of this process; built from the environment on first use if none were installed."""
    global _installed
    if _installed is None:
        _installed = Services.build(load_settings())
    return _installed
