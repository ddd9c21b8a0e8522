"""REDIS_URL in one place: parsed, checked, and turned into a client.

The forms accepted:

    redis://[[username]:password@]host[:port][/db][?option=value&…]    plain TCP
    rediss://[[username]:password@]host[:port][/db][?option=value&…]   TLS (ssl_ca_certs, ssl_cert_reqs, …)
    unix://[[username]:password@]/path/to/redis.sock[?db=N&…]           a unix socket
    redis+sentinel://[[username]:password@]host[:port][,host[:port]…]/service_name[/db][?option=value&…]
    rediss+sentinel://…        the same, with TLS to the sentinels and to the master

For the Sentinel forms, the user and password are the master's (Redis ACL / requirepass); the sentinels are
reached without a password unless `sentinel_password` (and `sentinel_username`) are given as query options.
A sentinel's port defaults to 26379. Other query options are redis-py's own (socket_timeout,
socket_connect_timeout, health_check_interval, ssl_ca_certs, ssl_cert_reqs, …); the socket_* ones (and, for
rediss+sentinel, the ssl_* ones) apply to the sentinels too.

Redis Cluster is not supported: RQ moves a job between keys (queue list, registries, job hash) in one MULTI or
Lua script, and Cluster refuses any command whose keys fall in different hash slots.

No message raised here ever contains a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from redis import Redis
from redis.connection import SSLConnection
from redis.connection import parse_url as _redis_parse_url
from redis.exceptions import RedisError
from redis.sentinel import Sentinel, SentinelManagedConnection

PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster", "cluster", "redis-cluster")
SENTINEL_PORT = 26379
# Query options of the Sentinel forms that are ours, not redis-py's: how to authenticate to the sentinels.
_SENTINEL_OWN = ("sentinel_username", "sentinel_password")
_SECRET_OPTIONS = ("password", "sentinel_password")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
FORMS = "redis://, rediss://, unix://, redis+sentinel:// or rediss+sentinel://"


class RedisUrlError(ValueError):
    """REDIS_URL cannot be used. The message names what is wrong and never contains a password."""


@dataclass(frozen=True)
class SentinelTarget:
    """A Sentinel URL, parsed: where the sentinels are, which master they watch, and how to talk to it."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    tls: bool = False
    # redis-py options for the master's connections (username, password, socket timeouts, ssl_*, …)
    options: dict[str, Any] = field(default_factory=dict)
    sentinel_username: str | None = None
    sentinel_password: str | None = None

    def sentinel_options(self) -> dict[str, Any]:
        """The options for the connections to the sentinels themselves."""
        shared = ("socket_",) + (("ssl_",) if self.tls else ())
        found: dict[str, Any] = {k: v for k, v in self.options.items() if k.startswith(shared)}
        if self.tls:
            found["ssl"] = True
        if self.sentinel_username is not None:
            found["username"] = self.sentinel_username
        if self.sentinel_password is not None:
            found["password"] = self.sentinel_password
        return found


def parse_url(url: str) -> dict[str, Any]:
    """redis-py's own reading of a redis://, rediss:// or unix:// URL: its connection options."""
    options: dict[str, Any] = _redis_parse_url(url)  # type: ignore[no-untyped-call]
    return options


def scheme_of(url: str) -> str:
    """The scheme of `url`, lower case ("" if it has none)."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Parse a `redis+sentinel://` or `rediss+sentinel://` URL.

    Raises:
        RedisUrlError: it is not one, or a part is missing or bad.
    """
    scheme = scheme_of(url)
    if scheme not in SENTINEL_SCHEMES:
        raise RedisUrlError(f"is not a Sentinel URL (redis+sentinel://host:port/service_name); scheme {scheme!r}")
    rest = url[len(scheme) + 3 :]
    rest, _, query = rest.partition("?")
    rest = rest.partition("#")[0]
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        userinfo, hosts = "", netloc
    username, colon, password = userinfo.partition(":")
    sentinels = tuple(_host_port(item) for item in hosts.split(",") if item.strip())
    if not sentinels:
        raise RedisUrlError("names no sentinel: use redis+sentinel://host:port[,host:port…]/service_name")
    service, _, db_text = path.partition("/")
    service = unquote(service)
    if not service:
        raise RedisUrlError("names no service: use redis+sentinel://host:port/service_name (the master's name)")
    db_text = db_text.rstrip("/")
    if db_text and not db_text.isdigit():
        raise RedisUrlError("has a bad database number after the service name: use …/service_name/0")
    own: dict[str, str] = {}
    passed: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "db":
            raise RedisUrlError("takes its database number in the path (…/service_name/1), not as ?db=")
        (own.__setitem__(key, value) if key in _SENTINEL_OWN else passed.append((key, value)))
    # redis-py parses and checks its own options: give it the same URL without the sentinels.
    fake = "rediss" if scheme == "rediss+sentinel" else "redis"
    query_text = "&".join(f"{k}={quote(v, safe='')}" for k, v in passed)
    try:
        options: dict[str, Any] = parse_url(f"{fake}://placeholder/{int(db_text or 0)}?{query_text}")
    except ValueError as exc:
        raise RedisUrlError(f"has a bad option: {_scrub(str(exc), url)}") from None
    for key in ("host", "port", "connection_class", "db"):
        options.pop(key, None)
    if username:
        options["username"] = unquote(username)
    if colon and password:
        options["password"] = unquote(password)
    return SentinelTarget(
        sentinels=sentinels,
        service_name=service,
        db=int(db_text or 0),
        tls=scheme == "rediss+sentinel",
        options=options,
        sentinel_username=own.get("sentinel_username") or None,
        sentinel_password=own.get("sentinel_password") or None,
    )


def _host_port(item: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, port_text = item[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise RedisUrlError("has a sentinel with no host name: use host:port, separated by commas")
    if port_text == "":
        return host, SENTINEL_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise RedisUrlError(f"has a bad port for sentinel {host}: a port is a number from 1 to 65535")
    return host, int(port_text)


def check(url: str) -> None:
    """Check REDIS_URL without connecting: its form, its host and port, its options.

    Raises:
        RedisUrlError: what is wrong, without any password in it.
    """
    scheme = scheme_of(url)
    if scheme in CLUSTER_SCHEMES or "cluster" in scheme:
        raise RedisUrlError(
            "names Redis Cluster, which is not supported (RQ's multi-key commands and Lua scripts need every "
            "key in one hash slot); use a single Redis, or Sentinel: redis+sentinel://host:port/service_name"
        )
    if scheme in SENTINEL_SCHEMES:
        parse_sentinel_url(url)
    elif scheme in PLAIN_SCHEMES:
        _check_plain(url, scheme)
    else:
        raise RedisUrlError(f"must start with {FORMS}")
    try:  # build a client and one connection object (no I/O): redis-py refuses unknown or bad options here
        client = connect(url)
    except RedisUrlError:
        raise
    except (TypeError, ValueError, RedisError) as exc:
        raise RedisUrlError(f"has an option redis-py refuses: {_scrub(str(exc), url)}") from None
    try:
        client.connection_pool.make_connection()
    except (TypeError, ValueError, RedisError) as exc:
        raise RedisUrlError(f"has an option redis-py refuses: {_scrub(str(exc), url)}") from None
    finally:
        client.close()


def _check_plain(url: str, scheme: str) -> None:
    parts = urlsplit(url)
    if scheme == "unix":
        if not parts.path:
            raise RedisUrlError("names no socket: use unix:///path/to/redis.sock")
    else:
        if "," in parts.netloc.rpartition("@")[2]:  # a comma in the password is the password's
            raise RedisUrlError(
                "names several hosts: for Sentinel use redis+sentinel://host:port,host:port/service_name "
                "(Redis Cluster is not supported)"
            )
        if not parts.hostname:
            raise RedisUrlError(f"names no host: use {scheme}://host:6379/0")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise RedisUrlError("has a bad port: a port is a number from 1 to 65535")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise RedisUrlError("has a bad database number in its path: use …:6379/0")
    try:
        parse_url(url)
    except ValueError as exc:
        raise RedisUrlError(f"has a bad option: {_scrub(str(exc), url)}") from None


def connect(url: str, **defaults: Any) -> Redis:
    """A client for `url`; connects lazily. Options in the URL win over `defaults` (e.g. socket_timeout=5).

    A Sentinel URL gives a client whose connections ask the sentinels for the master before connecting, and
    again after a failover (a lost connection, or a READONLY answer from a demoted master).
    """
    if scheme_of(url) not in SENTINEL_SCHEMES:
        return Redis.from_url(url, **defaults)
    target = parse_sentinel_url(url)
    options = {**defaults, **target.options}
    sentinel_options = {k: v for k, v in defaults.items() if k.startswith("socket_")}
    sentinel_options.update(target.sentinel_options())
    manager = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    connection_class = InterruptSafeSSLConnection if target.tls else InterruptSafeConnection
    client: Redis = manager.master_for(  # type: ignore[no-untyped-call]
        target.service_name, db=target.db, connection_class=connection_class, **options
    )
    return client


class InterruptSafeConnection(SentinelManagedConnection):
    """redis-py's Sentinel connection, dropped when a read is interrupted, as its plain connection is.

    redis-py's `SentinelManagedConnection.read_response` defaults `disconnect_on_error` to False (the plain
    connection's default is True). So a read cut short by a signal (RQ's warm shutdown raises out of a worker's
    blocking wait for a job) left the connection in the pool with the wait's answer still to come, and the
    worker's next command, saying goodbye, waited on it for minutes: an idle worker did not stop on SIGTERM."""

    def read_response(self, disable_decoding: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("disconnect_on_error", True)
        return super().read_response(disable_decoding, **kwargs)


class InterruptSafeSSLConnection(InterruptSafeConnection, SSLConnection):
    """The same over TLS (`rediss+sentinel://`)."""


def _scrub(message: str, url: str) -> str:
    """`message` with any password of `url` taken out."""
    secrets = set()
    netloc = url.partition("://")[2].partition("/")[0].partition("?")[0]
    if "@" in netloc:
        secrets.add(netloc.rpartition("@")[0].partition(":")[2])
    for key, value in parse_qsl(url.partition("?")[2], keep_blank_values=True):
        if key in _SECRET_OPTIONS:
            secrets.add(value)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***").replace(unquote(secret), "***")
    return message
