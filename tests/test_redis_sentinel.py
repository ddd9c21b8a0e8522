"""REDIS_URL=redis+sentinel://…: the web app queues, a real `hotline worker` works, and both carry on after a
failover. Real servers: a master, a replica and a sentinel (quorum 1), started from the suite's redis-server on
loopback ports picked at run time, always stopped. Its subject is Redis, so it runs once, on the embedded default's
SQLite store."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import InboundMessage
from hotline.app import create_app
from hotline.embedded_redis import find_redis_server
from hotline.services import Services
from hotline.settings import load_settings
from tests.conftest import (
    LIAISON_PHONE,
    PUBLIC_URL,
    RESIDENT_PHONE,
    fresh_services,
    make_environ,
    post_signed,
    sent_to,
    sms_params,
)
from workers.queues import MAINTENANCE, machine_identity, release_abandoned_jobs

SERVICE = "hotline-test"
DB = 3  # not 0: the database number in the URL is honoured
FAILOVER_LIMIT = 60.0  # seconds for each step of a failover (the sentinel switching; the old master demoted)
START_LIMIT = 60.0  # seconds for a `hotline worker` to start and work its first message, on a busy machine too

pytestmark = pytest.mark.one_store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, ready: Callable[[], object], timeout: float) -> float:
    """Poll `ready` until it is true; the seconds it took. Fails the test after `timeout`."""
    start = time.monotonic()
    while True:
        try:
            if ready():
                return time.monotonic() - start
        except RedisError:
            pass
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)


@dataclass
class Servers:
    """redis-server processes this test started; `stop` ends each one (SIGTERM, then SIGKILL)."""

    dir: Path
    binary: str = field(default_factory=find_redis_server)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, args: Callable[[int], list[str]], tries: int = 3) -> int:
        """Start `name` on a free port (another on a clash with another test run); returns its port."""
        for _ in range(tries):
            port = free_port()
            with open(self.dir / f"{name}.log", "ab") as log:
                process = subprocess.Popen(  # our own arguments
                    [self.binary, *args(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            self.processes[name] = process
            client = Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(RedisError):
                    if client.ping():
                        client.close()
                        return port
                time.sleep(0.02)
            client.close()
            self.stop(name)
        pytest.fail(f"{name} did not start; see {self.dir / (name + '.log')}")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@dataclass
class Sentinel:
    servers: Servers
    ports: dict[str, int]

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.ports['sentinel']}/{SERVICE}/{DB}?socket_timeout=5"

    def client(self) -> Redis:
        return Redis(port=self.ports["sentinel"], socket_timeout=2, decode_responses=True)

    def master_port(self) -> int:
        """The master's port as clients learn it (SENTINEL MASTERS, which redis-py reads): it changes when the
        failover is over, a little after GET-MASTER-ADDR-BY-NAME already names the promoted replica."""
        with self.client() as sentinel:
            return int(sentinel.sentinel_master(SERVICE)["port"])


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    """A master, its replica, and one sentinel watching them with quorum 1, quick to decide a master is down."""
    servers = Servers(tmp_path)
    base = ["--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", "", "--appendonly", "no"]
    try:
        master = servers.start("master", lambda p: ["--port", str(p), *base, "--dbfilename", "m.rdb"])
        replica = servers.start(
            "replica",
            lambda p: ["--port", str(p), *base, "--dbfilename", "r.rdb", "--replicaof", "127.0.0.1", str(master)],
        )

        def sentinel_args(port: int) -> list[str]:
            conf = tmp_path / "sentinel.conf"  # the sentinel rewrites its file: one of its own, in tmp_path
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
            )
            return [str(conf), "--sentinel"]

        port = servers.start("sentinel", sentinel_args)
        found = Sentinel(servers, {"master": master, "replica": replica, "sentinel": port})

        def replica_ready() -> bool:
            with found.client() as client:
                replicas = client.execute_command("SENTINEL", "REPLICAS", SERVICE)
            return any("s_down" not in str(r) and str(replica) in str(r) for r in replicas)

        wait_for("the sentinel sees the replica", replica_ready, 30)
        yield found
    finally:
        servers.stop_all()


@dataclass
class HotlineProcess:
    """A real `hotline <command>` process in its own session (the worker's RQ scheduler is its child)."""

    command: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hotline", self.command],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def keep_running(self) -> bool:
        """Start it again if it exited, as `hotline run`'s supervisor (or systemd) does; True if it had."""
        if self.alive():
            return False
        self.restarts += 1
        self.start()
        return True

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            # After a failover RQ's warm shutdown can hang (seen: after unsubscribing its pubsub channel); a
            # supervisor would SIGKILL it too. Nothing of the test's depends on a clean goodbye.
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def hotline_process(command: str, env: dict[str, str], log: Path) -> Iterator[HotlineProcess]:
    """A started `hotline <command>`, always stopped."""
    running = HotlineProcess(command, env, log)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def processed(services: Services) -> int:
    """How many stored inbound messages a worker has turned into tasks (or otherwise handled)."""
    with services.readonly() as session:
        return len(session.scalars(select(InboundMessage.id).where(InboundMessage.processed_at.is_not(None))).all())


def register_one(services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_resident(session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN")


def delayed_job_runs(services: Services, timeout: float) -> float:
    """A job put off by one second is moved on by the worker's RQ scheduler (its own process, on a connection RQ
    rebuilt from our pool's settings) and run; the seconds it took."""
    job = Queue(MAINTENANCE, connection=services.redis).enqueue_in(
        timedelta(seconds=1), "workers.queues.machine_identity", result_ttl=300
    )

    def done() -> bool:
        return Job.fetch(job.id, connection=services.redis).get_status(refresh=True) == JobStatus.FINISHED

    took = wait_for("the worker's scheduler runs a delayed job", done, timeout)
    assert Job.fetch(job.id, connection=services.redis).return_value() == machine_identity()
    return took


def blocked_clients(port: int) -> int:
    """How many clients of the server at `port` are blocked in a command (a worker waiting for a job: BLMOVE)."""
    with Redis(port=port, socket_timeout=2) as server:
        return int(server.info("clients")["blocked_clients"])


def sentinel_environ(tmp_path: Path, sentinel: Sentinel) -> dict[str, str]:
    overrides = {
        "HOTLINE_SMS_PER_SECOND": "50",  # sends go through the shared rate limit (limits' Lua scripts, in Redis)
        "HOTLINE_SWEEP_SECONDS": "1",
    }
    return make_environ(tmp_path / "var", sentinel.url, **overrides)


def writes_reach(services: Services, port: int) -> bool:
    """A write through our own client lands on the server at `port` (read back from it directly). A connection
    still open to a demoted master would answer a read; a write it refuses (READONLY), and the client reconnects."""
    key = f"probe:{time.monotonic_ns()}"
    services.redis.set(key, 1, ex=60)
    with Redis(port=port, db=DB, socket_timeout=2) as server:
        return bool(server.execute_command("ROLE")[0] == b"master" and server.get(key) == b"1")


def test_a_sentinel_failover_is_followed_by_the_web_app_the_worker_and_its_scheduler(
    tmp_path: Path, sentinel: Sentinel
) -> None:
    """SENTINEL FAILOVER: the replica is promoted, the old master demoted (its clients are disconnected)."""
    environ = sentinel_environ(tmp_path, sentinel)
    settings = load_settings(environ, env_file=None)
    log = tmp_path / "worker.log"
    with (
        fresh_services(settings) as services,
        TestClient(create_app(settings, services), base_url=PUBLIC_URL) as client,
        hotline_process("worker", environ, log) as worker,
    ):
        try:
            register_one(services)
            assert writes_reach(services, sentinel.ports["master"])
            assert post_signed(client, services, "/twilio/sms", sms_params("想买点菜")).status_code == 200
            wait_for("the first message is worked", lambda: len(sent_to(services, LIAISON_PHONE)) == 1, START_LIMIT)
            delayed_job_runs(services, FAILOVER_LIMIT)

            started = time.monotonic()
            with sentinel.client() as control:
                control.execute_command("SENTINEL", "FAILOVER", SERVICE)
            switched = wait_for(
                "the sentinel names the replica master",
                lambda: sentinel.master_port() == sentinel.ports["replica"],
                FAILOVER_LIMIT,
            )
            # A connection opened before the failover keeps writing to the old master until the sentinel demotes
            # it (and kills its clients' connections), some seconds later: writes of that window are lost (the
            # sweeper re-queues what the database holds). Bounded: then every write reaches the new master.
            demoted = wait_for(
                "writes reach the new master", lambda: writes_reach(services, sentinel.ports["replica"]), FAILOVER_LIMIT
            )
            # Enqueueing from the web process goes to the new master …
            assert post_signed(client, services, "/twilio/sms", sms_params("买降压药")).status_code == 200
            # … and the same worker process, never restarted, takes it from there and sends through the rate limit.
            wait_for("the second message is worked", lambda: len(sent_to(services, LIAISON_PHONE)) == 2, FAILOVER_LIMIT)
            worked = time.monotonic() - started
            # The worker's RQ scheduler (a forked process, on a pool RQ rebuilt from ours) follows too.
            delayed_job_runs(services, FAILOVER_LIMIT)
            release_abandoned_jobs(services.redis)  # the sweeper's registry work, against the new master
            assert worker.alive(), "the worker exited"
            print(
                f"SENTINEL FAILOVER: clients told of the new master after {switched:.1f}s, all writes there after "
                f"{switched + demoted:.1f}s; the next message worked {worked:.1f}s after the failover"
            )
        except BaseException:
            print(log.read_text(errors="replace")[-6000:])
            raise


def test_when_the_master_dies_sentinel_promotes_the_replica_and_nothing_answered_200_is_lost(
    tmp_path: Path, sentinel: Sentinel
) -> None:
    """The master is SIGKILLed. A message that comes while there is no master is stored (200) and reaches the
    new master by its own queueing or by the sweeper (`hotline scheduler`, also on Sentinel); one that comes
    after the failover is queued at once. The same worker does both."""
    environ = sentinel_environ(tmp_path, sentinel)
    settings = load_settings(environ, env_file=None)
    log = tmp_path / "worker.log"
    with (
        fresh_services(settings) as services,
        TestClient(create_app(settings, services), base_url=PUBLIC_URL) as client,
        hotline_process("worker", environ, log) as worker,
        hotline_process("scheduler", environ, tmp_path / "scheduler.log") as scheduler,
    ):
        try:
            register_one(services)
            assert post_signed(client, services, "/twilio/sms", sms_params("想买点菜")).status_code == 200
            wait_for("the first message is worked", lambda: len(sent_to(services, LIAISON_PHONE)) == 1, START_LIMIT)

            started = time.monotonic()
            sentinel.servers.stop("master", signal.SIGKILL)
            assert post_signed(client, services, "/twilio/sms", sms_params("买降压药")).status_code == 200
            switched = wait_for(
                "the sentinel names the replica master",
                lambda: sentinel.master_port() == sentinel.ports["replica"],
                FAILOVER_LIMIT,
            )
            assert post_signed(client, services, "/twilio/sms", sms_params("买菜")).status_code == 200
            assert writes_reach(services, sentinel.ports["replica"])
            # 10 s of the sweeper's grace for the message that may have found no master, then one sweep. RQ's worker
            # quits if Redis fails outside its wait for a job (e.g. mid-job): started again as a supervisor would
            # (bounded generously: a restarted worker starts slowly on a busy machine).
            wait_for(
                "all three messages are worked",
                lambda: (worker.keep_running(), processed(services))[1] == 3,
                10 + START_LIMIT + FAILOVER_LIMIT,
            )
            worked = time.monotonic() - started
            assert scheduler.alive(), "the scheduler exited"  # it waits out an outage by itself
            print(
                f"master killed: clients told of the new master after {switched:.1f}s; all worked {worked:.1f}s; "
                f"worker restarts: {worker.restarts}"
            )
        except BaseException:
            print(log.read_text(errors="replace")[-6000:])
            print((tmp_path / "scheduler.log").read_text(errors="replace")[-3000:])
            raise


def test_an_idle_worker_on_sentinel_stops_when_asked(tmp_path: Path, sentinel: Sentinel, services: Services) -> None:
    """systemd stops and restarts workers with SIGTERM (an upgrade restarts every one): an idle worker must go at
    once, as it does on a plain redis:// URL, not wait to be killed."""
    env = sentinel_environ(tmp_path, sentinel)
    with hotline_process("worker", env, tmp_path / "worker.log") as worker:
        wait_for("the worker waiting for jobs", lambda: "Listening on" in worker.log.read_text(errors="replace"), 60)
        wait_for("the worker blocked waiting for a job", lambda: blocked_clients(sentinel.ports["master"]) > 0, 30)
        assert worker.process is not None
        os.killpg(worker.process.pid, signal.SIGTERM)
        started = time.monotonic()
        # Generous for a busy machine; an idle worker that waits on Redis instead takes minutes.
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(30)
        stopped_in = time.monotonic() - started
        assert worker.process.poll() is not None, f"still running {stopped_in:.0f} s after SIGTERM"
        assert stopped_in < 30
