"""The processes of one fault run: a real redis-server, `hotline serve`, workers and the scheduler, as separate
processes that can be killed and started again, pointed at the providers' stand-ins (`tests.chaos.providers`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import Engine, create_engine, func, select

from dispatch.models import OutboundMessage, OutboundStatus
from hotline.embedded_redis import EmbeddedRedis
from tests.chaos.providers import PUBLIC_URL
from workers.queues import ALL_QUEUES, INBOUND, OUTBOUND, enqueue_send


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """One hotline process, in its own session so a kill takes its children (RQ's scheduler) with it."""

    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, env: dict[str, str]) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # our own command line
                [sys.executable, "-m", "hotline", *self.args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # The group may already be gone; only our own process group is ever signalled.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:  # a stop ignored is a finding of its own: see its log; never hang here
            print(f"{self.name} did not stop on signal {sig} within 20 s; killed")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Cluster:
    """Redis, the web server, `workers` workers and one scheduler, restarted whenever they die (Redis: unless it is
    being held down on purpose)."""

    def __init__(self, root: Path, database_url: str, providers: dict[str, str], workers: int) -> None:
        self.root = root
        self.redis = EmbeddedRedis(root)
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOTLINE_DATA_DIR": str(root / "var"),
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis.url,
            **providers,
            "HOTLINE_PUBLIC_URL": PUBLIC_URL,
            "HOTLINE_DUTY_PHONE": "+8657187654321",
            "HOTLINE_SECRET_KEY": "chaos-secret-key-0123456789abcdef0123456789",
            "HOTLINE_SMS_PER_SECOND": "0",  # the stand-ins have no rate limit; the run is about faults
            "HOTLINE_SWEEP_SECONDS": "2",
        }
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.web = Child("web", ["serve", "--port", str(self.port)], logs / "web.log")
        self.workers = [Child(f"worker{i}", ["worker"], logs / f"worker{i}.log") for i in range(workers)]
        self.scheduler = Child("scheduler", ["scheduler"], logs / "scheduler.log")
        self.redis_held = False
        self.popped = 0  # jobs taken off the queues by workers that died before starting them
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def children(self) -> list[Child]:
        return [self.web, *self.workers, self.scheduler]

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "hotline", "db", "upgrade"], env=self.env, check=True, capture_output=True
        )

    def start(self) -> None:
        self.redis.start()
        for child in self.children:
            child.start(self.env)
        self.wait_for_web()
        self._keeper = threading.Thread(target=self._keep_up, daemon=True)
        self._keeper.start()

    def _keep_up(self) -> None:
        """Like `hotline run`'s supervisor: whatever dies is started again."""
        while not self._stop.wait(0.2):
            with self._lock:
                if not self.redis_held and not self.redis.is_running():
                    self.redis.restart()
                for child in self.children:
                    if not child.alive():
                        if child.process is not None:
                            child.process.wait()
                        child.start(self.env)

    def wait_for_web(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the web server did not listen within {timeout:.0f} s; see {self.web.log}")

    def kill(self, child: Child) -> None:
        """SIGKILL a child; the keeper starts it again."""
        with self._lock:
            child.kill()

    def restart_web(self) -> None:
        with self._lock:
            self.web.kill()
            self.web.start(self.env)
        self.wait_for_web()

    def kill_redis(self, *, wipe: bool, down_for: float = 1.0) -> None:
        """SIGKILL redis-server; with `wipe`, its data (AOF and all) is deleted before it comes back."""
        with self._lock:
            self.redis_held = True
            client = Redis.from_url(self.redis.url, socket_timeout=2)
            pid = int(client.info("server")["process_id"])
            client.close()
            os.kill(pid, signal.SIGKILL)
            while self.redis.process_alive():
                time.sleep(0.01)
            if wipe:
                for item in self.redis.dir.iterdir():
                    if item.name not in ("start.lock", "redis.log"):
                        shutil.rmtree(item) if item.is_dir() else item.unlink()
        time.sleep(down_for)
        with self._lock:
            self.redis.restart()
            self.redis_held = False

    def pop_and_kill(self, child: Child, most: int = 20, wait: float = 5.0) -> int:
        """A worker that takes jobs and dies before starting them: every worker is paused (SIGSTOP) until jobs
        wait (`most` of them, at most `wait` seconds; at least one, at most six times that), `child`'s share is taken
        off the queues as a worker takes a job (LPOP, inbound first), and `child` is SIGKILLed. Their hashes still
        say `queued`, from no list.

        Returns:
            How many jobs it took with it.
        """
        taken = 0
        with self._lock:
            paused = [worker for worker in self.workers if worker.alive()]
            for worker in paused:
                os.killpg(worker.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
            try:
                with Redis.from_url(self.redis.url, socket_timeout=2) as redis:
                    keys = [Queue(name, connection=redis).key for name in (INBOUND, OUTBOUND)]
                    deadline = time.monotonic() + wait
                    while sum(int(redis.llen(key)) for key in keys) < most and time.monotonic() < deadline:
                        time.sleep(0.05)
                    # None yet (a busy machine's web server is slow to queue): on, bounded, until one waits.
                    deadline += 5 * wait
                    while not sum(int(redis.llen(key)) for key in keys) and time.monotonic() < deadline:
                        time.sleep(0.05)
                    for key in keys:
                        while taken < most and redis.lpop(key) is not None:
                            taken += 1
            finally:
                child.kill()  # SIGKILL ends a stopped process too
                for worker in paused:
                    if worker is not child and worker.alive():
                        os.killpg(worker.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
        self.popped += taken
        return taken

    def send_jobs_again(self) -> None:
        """Queue a send job again for every outbound SMS decided so far: a job delivered twice must send nothing."""
        engine = create_engine(self.env["DATABASE_URL"])
        with engine.connect() as conn:
            ids = list(conn.scalars(select(OutboundMessage.id)))
        engine.dispose()
        with Redis.from_url(self.redis.url) as redis:
            for outbound_id in ids:
                enqueue_send(redis, outbound_id)

    def stop(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(10)
        for child in self.children:
            child.kill(signal.SIGTERM)
        self.redis.stop()


def wait_until_drained(engine: Engine, redis_url: str, seconds: float) -> float:
    """Wait, up to `seconds`, until no job is queued, running or scheduled and no outbound row is waiting to be
    sent; how long that took."""
    began = time.monotonic()
    with Redis.from_url(redis_url) as redis:
        queues = [Queue(name, connection=redis) for name in ALL_QUEUES]
        while time.monotonic() - began < seconds:
            busy = sum(
                q.count + StartedJobRegistry(queue=q).count + ScheduledJobRegistry(queue=q).count for q in queues
            )
            with engine.connect() as conn:
                waiting = conn.scalar(
                    select(func.count()).where(
                        OutboundMessage.status.in_([OutboundStatus.PENDING, OutboundStatus.SENDING])
                    )
                )
            if not busy and not waiting:
                return time.monotonic() - began
            time.sleep(0.5)
    raise AssertionError(f"work still waiting {seconds} s after the simulated time")
