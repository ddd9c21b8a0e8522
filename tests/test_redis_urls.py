"""Each form of REDIS_URL against a real redis-server: unix://, redis:// with a database number and a password,
rediss:// (TLS, through a TLS-terminating forwarder: the suite's redis-server is built without TLS), and the
errors a bad URL gives (never with its password)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError
from redis.sentinel import SentinelManagedConnection
from rq import Queue, SimpleWorker

from hotline.exceptions import SettingsError
from hotline.redis_url import RedisUrlError, check, connect
from hotline.services import Services, connect_redis
from hotline.settings import load_settings
from tests.conftest import make_environ
from tests.test_redis_sentinel import Servers
from workers.queues import MAINTENANCE, machine_identity
from workers.throttle import Throttle

PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[int]:
    """A redis-server of this test's own on a loopback port (a test may make it ask for a password)."""
    servers = Servers(tmp_path)
    try:
        yield servers.start("secured", lambda p: ["--port", str(p), "--bind", "127.0.0.1", "--save", ""])
    finally:
        servers.stop_all()


def the_hotline_works_on(url: str, tmp_path: Path) -> Services:
    """Settings from `url`, the services built from them, and a round of the things that talk to Redis: a job
    queued and run by a real RQ worker, the shared rate limit (limits' Lua scripts), the sweeper's registry work."""
    settings = load_settings(make_environ(tmp_path / "var", url), env_file=None)
    services = Services.build(settings)
    job = Queue(MAINTENANCE, connection=services.redis).enqueue("workers.queues.machine_identity", result_ttl=60)
    SimpleWorker([MAINTENANCE], connection=services.redis).work(burst=True)
    assert job.return_value() == machine_identity()
    throttle = Throttle(services.redis, sms_per_second=1, calls_per_second=0, sender="test")
    assert throttle.wait("sms") == 0.0
    assert throttle.wait("sms") > 0  # the second send in the same second waits: the count is in Redis
    return services


def test_a_unix_socket_url_with_a_database_number(tmp_path: Path, redis_server: object) -> None:
    from hotline.embedded_redis import EmbeddedRedis

    assert isinstance(redis_server, EmbeddedRedis)
    url = f"{redis_server.url}?db=5"
    services = the_hotline_works_on(url, tmp_path)
    try:
        assert services.redis.connection_pool.connection_class is UnixDomainSocketConnection
        assert services.redis.connection_pool.connection_kwargs["db"] == 5
        with Redis.from_url(redis_server.url + "?db=5") as five, Redis.from_url(redis_server.url) as zero:
            assert five.exists(f"rq:queue:{MAINTENANCE}") or five.keys("hotline-rate*")
            assert not zero.keys("hotline-rate*test*")
    finally:
        with Redis.from_url(url) as five:
            five.flushdb()
        services.close()


def test_a_redis_url_with_a_password_and_a_database_number(tmp_path: Path, secured: int) -> None:
    with Redis(port=secured) as admin:
        admin.config_set("requirepass", PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{secured}/2"
    services = the_hotline_works_on(url, tmp_path)
    services.close()
    with Redis(port=secured, password=PASSWORD, db=2) as two, Redis(port=secured, password=PASSWORD) as zero:
        assert two.keys("hotline-rate*") and not zero.keys("hotline-rate*")
    # Without the password, or with a wrong one, the server says no: the password really is what gets us in.
    with pytest.raises((AuthenticationError, ResponseError)):
        connect(f"redis://127.0.0.1:{secured}/2").ping()
    with pytest.raises((AuthenticationError, ResponseError)):
        connect(f"redis://:wrong@127.0.0.1:{secured}/2").ping()


# ── rediss:// ─────────────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # our own arguments
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def tls_forwarder(cert: Path, key: Path, target_port: int) -> Iterator[int]:
    """A TLS-terminating forwarder on a loopback port in front of a plain redis-server: what stunnel or a cloud
    Redis's TLS endpoint does. Yields its port; stops (and closes every connection) on exit."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()
    open_sockets: list[socket.socket] = []

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stopping.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                raw.settimeout(5)
                secure = context.wrap_socket(raw, server_side=True)
                secure.settimeout(None)
            except (OSError, ssl.SSLError):
                raw.close()  # a client that refused our certificate, as it should when it cannot verify it
                continue
            upstream = socket.create_connection(("127.0.0.1", target_port))
            open_sockets.extend((secure, upstream))
            threading.Thread(target=pump, args=(secure, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, secure), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopping.set()
        thread.join(5)
        listener.close()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.close()


def test_a_rediss_url_talks_tls_and_takes_redis_py_ssl_options(
    tmp_path: Path, secured: int, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    with tls_forwarder(cert, key, secured) as port:
        url = f"rediss://127.0.0.1:{port}/4?ssl_ca_certs={cert}&ssl_cert_reqs=required"
        services = the_hotline_works_on(url, tmp_path)
        try:
            pool = services.redis.connection_pool
            assert issubclass(pool.connection_class, SSLConnection)
            assert pool.connection_kwargs["ssl_ca_certs"] == str(cert)
            assert pool.connection_kwargs["db"] == 4
        finally:
            services.close()
        with Redis(port=secured, db=4) as plain:  # it all went through the forwarder to the plain server
            assert plain.keys("hotline-rate*")
        # Our certificate is not one the system trusts: without ssl_ca_certs, verification fails. So the option
        # reached the TLS handshake, and the client did verify.
        with pytest.raises(ConnectionError):
            connect(f"rediss://127.0.0.1:{port}/4?socket_connect_timeout=3").ping()
        # And ssl_cert_reqs=none passes through too: no verification, the connection is made.
        assert connect(f"rediss://127.0.0.1:{port}/4?ssl_cert_reqs=none").ping()


def test_rediss_sentinel_uses_tls_to_the_sentinels_and_the_master() -> None:
    """Built only (no TLS sentinel here): the master's connections and the sentinel clients are TLS ones."""
    client = connect("rediss+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/1?ssl_ca_certs=/ca.pem")
    pool = client.connection_pool
    assert issubclass(pool.connection_class, SSLConnection)
    assert issubclass(pool.connection_class, SentinelManagedConnection)
    assert pool.connection_kwargs["ssl_ca_certs"] == "/ca.pem" and pool.connection_kwargs["db"] == 1
    sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    assert all(issubclass(s.connection_pool.connection_class, SSLConnection) for s in sentinels)
    assert all(s.connection_pool.connection_kwargs.get("password") is None for s in sentinels)  # the master's only


def test_a_sentinel_password_goes_to_the_sentinels_and_the_timeouts_to_both() -> None:
    client = connect(
        "redis+sentinel://user:pw@s1:1,[::1]:2,s3/svc?sentinel_password=spw&socket_timeout=1.5",
        socket_timeout=5,
        socket_connect_timeout=2,
    )
    pool = client.connection_pool
    assert pool.connection_kwargs["username"] == "user" and pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["socket_timeout"] == 1.5 and pool.connection_kwargs["socket_connect_timeout"] == 2
    sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    addresses = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"]) for s in sentinels
    ]
    assert addresses == [("s1", 1), ("::1", 2), ("s3", 26379)]
    assert {s.connection_pool.connection_kwargs["password"] for s in sentinels} == {"spw"}
    assert {s.connection_pool.connection_kwargs["socket_timeout"] for s in sentinels} == {1.5}


def test_connect_redis_keeps_its_short_timeouts_unless_the_url_says_otherwise(tmp_path: Path) -> None:
    settings = load_settings(make_environ(tmp_path / "var", "redis://127.0.0.1:1/0"), env_file=None)
    assert connect_redis(settings).connection_pool.connection_kwargs["socket_timeout"] == 5
    settings = load_settings(make_environ(tmp_path / "var", "redis://127.0.0.1:1/0?socket_timeout=9"), env_file=None)
    assert connect_redis(settings).connection_pool.connection_kwargs["socket_timeout"] == 9


# ── Bad URLs ──────────────────────────────────────────────────────────────────────────────────────────────────

BAD = [
    ("memcached://h:11211", "must start with redis://"),
    ("localhost:6379", "must start with redis://"),
    ("redis+sentinel:///mymaster", "names no sentinel"),
    ("redis+sentinel://h1:26379", "names no service"),
    ("redis+sentinel://h1:26379,h2:26379/", "names no service"),
    ("redis+sentinel://:PASSWORD@h1:port/mymaster", "bad port for sentinel h1"),
    ("redis+sentinel://h1:70000/mymaster", "bad port for sentinel h1"),
    ("redis+sentinel://h1/mymaster/x", "bad database number"),
    ("redis+sentinel://h1/mymaster?db=2", "in the path"),
    ("redis+sentinel://:PASSWORD@h1/mymaster?socket_timeout=soon", "bad option"),
    ("redis+sentinel://:PASSWORD@h1/mymaster?no_such_option=1", "redis-py refuses"),
    ("redis://:PASSWORD@h:99999/0", "bad port"),
    ("redis://:PASSWORD@h:abc/0", "bad port"),
    ("redis://h/zero", "bad database number"),
    ("redis:///0", "names no host"),
    ("unix://", "names no socket"),
    ("rediss://:PASSWORD@h/0?ssl_cert_reqs=sometimes", "redis-py refuses"),
    ("redis://:PASSWORD@h1:7000,h2:7001/0", "Cluster is not supported"),
    ("redis+cluster://:PASSWORD@h1:7000", "Cluster, which is not supported"),
]


@pytest.mark.parametrize(("url", "problem"), BAD)
def test_a_bad_redis_url_is_refused_with_a_clear_message_and_no_password(
    tmp_path: Path, url: str, problem: str
) -> None:
    url = url.replace("PASSWORD", PASSWORD)
    with pytest.raises(SettingsError) as refused:
        load_settings(make_environ(tmp_path / "var", url), env_file=None)
    assert refused.value.variable == "REDIS_URL"
    assert problem in str(refused.value)
    assert PASSWORD not in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "redis://user:pw@redis.internal/3?socket_timeout=2&health_check_interval=10",
        "rediss://redis.example.org:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/ca.pem",
        "unix:///run/redis/redis.sock?db=1",
        "redis+sentinel://s1:26379,s2:26379,s3:26379/hotline",
        "redis+sentinel://:pw@s1,s2/hotline/2?sentinel_password=spw&socket_timeout=3",
        "rediss+sentinel://s1:26379/hotline?ssl_ca_certs=/etc/ssl/ca.pem",
    ],
)
def test_good_redis_urls_pass(url: str) -> None:
    check(url)


def test_a_password_never_shows_in_an_error_and_may_hold_a_comma() -> None:
    check("redis://:pa,ss@127.0.0.1:6379/0")  # one host: the comma is the password's
    with pytest.raises(RedisUrlError) as refused:
        check(f"redis://:{PASSWORD}@h/0?{PASSWORD}=1")  # even an option named like the password
    assert PASSWORD not in str(refused.value)
