"""The `hotline` group and what its commands share: settings, errors, Redis, sessions."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session, sessionmaker

from dispatch.db import make_engine, make_read_session_factory, make_session_factory, upgrade
from dispatch.exceptions import DispatchError
from hotline.cli.running_demo import demo_environment
from hotline.embedded_redis import EmbeddedRedis
from hotline.exceptions import EmbeddedRedisError, SettingsError
from hotline.settings import Settings, given_anywhere, load_settings
from hotline.settings_table import DEFAULT_DATA_DIR

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("hotline")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def settings_or_exit(*, beside_demo: bool = True) -> Settings:
    """The checked settings, or one line naming the bad variable and exit 2. Unless `beside_demo` is False (the
    commands that run the service), a command given no data dir of its own, started where a demo runs, uses the
    demo's settings and says so (`hotline.cli.running_demo`)."""
    try:
        environ: dict[str, str] = dict(os.environ)
        if beside_demo and not given_anywhere(environ, ("HOTLINE_DATA_DIR", "DATABASE_URL", "REDIS_URL")):
            environ.update(demo_environment(environ, Path(DEFAULT_DATA_DIR)) or {})
        return load_settings(environ)
    except SettingsError as exc:
        # One line that names the variable, and a clean exit: no traceback for a configuration mistake.
        click.echo(f"hotline: configuration error: {exc}", err=True)
        raise SystemExit(2) from None


def domain_errors(func: F) -> F:
    """Show domain errors as one clear line and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DispatchError, ValueError, EmbeddedRedisError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def voice_script_errors(settings: Settings) -> Iterator[None]:
    """Refuse to start with a voice script that would break a call (`Services.build` checks it), naming every
    error, rather than with a traceback."""
    from dispatch.exceptions import IvrScriptError, MessageCatalogError

    try:
        yield
    except IvrScriptError as exc:
        click.echo(f"hotline: voice script {settings.ivr_script} cannot be used:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(2) from None
    except MessageCatalogError as exc:  # with HOTLINE_GATEWAY=tencent, the template table too
        click.echo("hotline: the SMS texts or their templates cannot be used:", err=True)
        for problem in str(exc).splitlines():
            click.echo(f"  {problem}", err=True)
        raise SystemExit(2) from None


def voice_script_or_exit(settings: Settings) -> None:
    """Check the voice script before starting processes that would each refuse it (`hotline run`)."""
    from dispatch.resident_replies import ReplyVocabulary
    from hotline.services import load_checked_script, sms_templates

    with voice_script_errors(settings):
        load_checked_script(settings.ivr_script, ReplyVocabulary.load())
        sms_templates(settings)  # every SMS fits an approved template, where the gateway sends only those


@contextlib.contextmanager
def embedded_redis(settings: Settings) -> Iterator[EmbeddedRedis | None]:
    """Start (or attach to) the private redis-server when REDIS_URL is unset."""
    if not settings.embedded_redis:
        yield None
        return
    server = EmbeddedRedis(settings.data_dir, settings.redis_server_binary)
    try:
        server.start()
    except EmbeddedRedisError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield server
    finally:
        server.stop()


def migrate(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@click.group()
@click.version_option(package_name="hotline")
def main() -> None:
    """Hotline: a phone and SMS hotline and task dispatch for residents who need help at home."""
    setup_logging()


def write_sessions(settings: Settings) -> sessionmaker[Session]:
    migrate(settings)
    return make_session_factory(make_engine(settings.database_url))


def read_sessions(settings: Settings) -> sessionmaker[Session]:
    migrate(settings)
    return make_read_session_factory(make_engine(settings.database_url))
