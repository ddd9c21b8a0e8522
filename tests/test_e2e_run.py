"""`hotline run` on the embedded default, as a community worker runs it: real processes, real Redis, real SQLite.

Register a liaison and a resident, start the service, send a signed SMS from the resident with
`hotline simulate-sms`, and find the liaison's SMS in the outbox. Kill the redis-server and send another: it is
answered 200, and once `hotline run` has Redis back, the scheduled sweep delivers it too. Then Ctrl-C, and
nothing is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

DEADLINE = 60.0  # generous: this is a correctness test on a shared machine, not a timing test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes_using(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line or environment mentions `data_dir`."""
    marker = str(data_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes() or marker in (proc / "environ").read_bytes():
                status = (proc / "status").read_text()
                if "State:\tZ" not in status:
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


def cmdline(pid: int) -> bytes:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes()


def sms_written_to(data_dir: Path, phone: str) -> int:
    """How many SMS to `phone` the local gateway has written, read from the database file itself: a poll that costs
    a query, where each `hotline outbox` costs a process importing the whole program."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'hotline.sqlite3'}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM local_outbox WHERE to_phone = ?", (phone,)).fetchone()[0])
    except sqlite3.OperationalError:  # not made yet, or busy
        return 0


def wait_for_liaison_sms(env: dict[str, str], count: int, deadline: float) -> list[dict[str, str]]:
    """The liaison's SMS as `hotline outbox` shows them, newest first, once there are `count` of them."""
    while sms_written_to(Path(env["HOTLINE_DATA_DIR"]), "+8613912345678") < count:
        assert time.monotonic() < deadline, f"fewer than {count} liaison SMS reached the outbox"
        time.sleep(0.2)
    outbox = [json.loads(line) for line in hotline(env, "outbox", "--json").stdout.splitlines()]
    to_liaison = [m for m in outbox if m["to"] == "+8613912345678"]
    assert len(to_liaison) >= count, outbox
    return to_liaison


def wait_until_ready(port: int, run: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    """Until `hotline run` says it is ready: database, Redis, migrations and queues (a 503 raises HTTPError)."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                if json.load(response)["status"] == "ready":
                    return
        except OSError:
            pass
        assert run.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "hotline run did not become ready:\n" + log.read_text()
        time.sleep(0.2)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hl-") as tmp:
        yield Path(tmp) / "var"


def hotline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def private_modes(data_dir: Path) -> dict[str, str]:
    """Every folder and file under `data_dir` (itself included) whose group or others have any bit, with its mode."""
    paths = [data_dir, *data_dir.rglob("*")]
    return {str(p.relative_to(data_dir)): oct(p.lstat().st_mode & 0o777) for p in paths if p.lstat().st_mode & 0o077}


def test_run_under_umask_000_takes_an_sms_to_the_liaison_keeps_every_file_private_and_stops_cleanly(
    data_dir: Path,
) -> None:
    """A shell with umask 000, and files left 0666 by an older install: `hotline run` tightens them at start, and
    what it creates (the SQLite -wal and -shm, redis-server's AOF) is 0600 in a 0700 folder. An SMS reaches the
    liaison, and another still does after redis-server is killed; Ctrl-C stops every process."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_", "REDIS_", "DATABASE_"))}
    env.update(
        {
            "HOTLINE_DATA_DIR": str(data_dir),
            "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "HOTLINE_SWEEP_SECONDS": "2",
        }
    )
    old = os.umask(0)
    try:  # an install made before, under umask 000: a 0777 folder, a database others can read (checked below)
        assert hotline(env, "liaisons", "add", "--name", "张敏", "--phone", "13912345678").returncode == 0
        added = hotline(
            env, "residents", "add", "--name", "梁阿姨", "--phone", "13800138000", "--liaison", "13912345678"
        )
        assert added.returncode == 0, added.stderr
    finally:
        os.umask(old)
    before = private_modes(data_dir)
    assert before["."] == "0o777" and before["hotline.sqlite3"] in ("0o644", "0o666"), before

    log_path = data_dir.parent / "run.log"  # outside the folder under test
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "hotline", "run", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0,
        )
    try:
        deadline = time.monotonic() + DEADLINE
        wait_until_ready(port, run, log_path, deadline)

        sent = hotline(env, "simulate-sms", "--from", "13800138000", "想买点米和菜")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("200 SM")
        to_liaison = wait_for_liaison_sms(env, 1, deadline)  # stored, processed, written: WAL and AOF used
        assert "梁阿姨" in to_liaison[0]["body"] and "想买点米和菜" in to_liaison[0]["body"]
        names = {p.name for p in data_dir.rglob("*")}
        assert {"hotline.sqlite3-wal", "hotline.sqlite3-shm"} <= names, names
        assert any(".aof" in name for name in names), names
        assert private_modes(data_dir) == {}
        assert oct(data_dir.stat().st_mode & 0o777) == "0o700"

        healthy_log = log_path.read_text()
        [redis_pid] = [pid for pid in processes_using(data_dir) if b"redis-server" in cmdline(pid)]
        os.kill(redis_pid, signal.SIGKILL)
        sent = hotline(env, "simulate-sms", "--from", "13800138000", "还要买药")
        assert sent.stdout.startswith("200 SM"), sent.stderr  # stored, though Redis is gone
        to_liaison = wait_for_liaison_sms(env, 2, time.monotonic() + DEADLINE)
        assert "还要买药" in to_liaison[0]["body"]
        assert run.poll() is None  # the run carried on
    finally:
        run.send_signal(signal.SIGINT)
        code = run.wait(60)
    assert code == 0, log_path.read_text()
    assert processes_using(data_dir) == []  # web, worker, scheduler and redis-server all gone
    assert private_modes(data_dir) == {}
    assert "Traceback" not in healthy_log, healthy_log
    run_log = log_path.read_text()
    assert "13912345678" not in run_log and "13800138000" not in run_log  # no full number in any log line
