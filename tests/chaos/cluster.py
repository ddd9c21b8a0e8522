"""The processes of one fault run: a real redis-server, `hotline serve`, workers and the scheduler, as separate
processes that can be killed and started again, and a Twilio stand-in that can be told to misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch.models import OutboundMessage
from hotline.embedded_redis import EmbeddedRedis
from tests.twilio_standin import TwilioStandIn
from workers.queues import INBOUND, OUTBOUND, enqueue_send

ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "chaos-auth-token-0123456789abcdef"
PUBLIC_URL = "https://hotline.example.org"
HOTLINE_NUMBER = "+8657112345678"
GATEWAY_TIMEOUT = 10.0  # the Twilio gateway's own timeout: a "timeout" fault answers later than this


@dataclass
class FaultyTwilio(TwilioStandIn):
    """Twilio's REST API that, while `faulty`, answers 429 or 500, and one time in six after the client has
    given up.

    The late answer still creates the message, as Twilio may: the sender cannot know it went. Every message
    created is counted by our outbound id, read from its StatusCallback URL (`?o=<id>`)."""

    faulty: bool = False
    accepted: Counter[int] = field(default_factory=Counter)
    refused: int = 0
    late: int = 0
    _turn: int = 0

    async def _create(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if self.faulty:
            self._turn += 1
            if self._turn % 6 in (1, 3, 5):
                self.refused += 1
                return JSONResponse({"code": 20429, "message": "Too Many Requests", "status": 429}, 429)
            if self._turn % 6 in (2, 4):
                self.refused += 1
                return JSONResponse({"code": 20500, "message": "Internal Server Error", "status": 500}, 500)
            self.late += 1
            await asyncio.sleep(GATEWAY_TIMEOUT + 1)
        callback = parse_qs(urlsplit(form.get("StatusCallback", "")).query).get("o", [""])[0]
        if callback.isdigit():
            self.accepted[int(callback)] += 1
        sid = "SM" + uuid.uuid4().hex
        return JSONResponse({"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}, 201)


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

    def __init__(self, root: Path, database_url: str, standin_url: str, workers: int) -> None:
        self.root = root
        self.redis = EmbeddedRedis(root)
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOTLINE_DATA_DIR": str(root / "var"),
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis.url,
            "HOTLINE_GATEWAY": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": HOTLINE_NUMBER,
            "TWILIO_API_BASE_URL": standin_url,
            "HOTLINE_PUBLIC_URL": PUBLIC_URL,
            "HOTLINE_DUTY_PHONE": "+8657187654321",
            "HOTLINE_SECRET_KEY": "chaos-secret-key-0123456789abcdef0123456789",
            "HOTLINE_SMS_PER_SECOND": "0",  # the stand-in has no rate limit; the run is about faults
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
