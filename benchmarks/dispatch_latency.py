"""End-to-end dispatch latency (B2): from the webhook's 200 to the liaison's SMS handed to the gateway.

Runs `hotline run` (web server, one worker, scheduler) on the embedded default in a fresh data dir, on loopback
only. A register of residents (a liaison per eight households) is bulk-inserted first. Then, R times, a steady
RATE signed inbound SMS per second for S seconds, each from a resident who has not written before (a second
message about the same need joins the open task and sends no new offer, which would not measure the loop).
Requests go out on schedule from a pool of sender threads, whatever the answers' pace (an open loop).

Timestamps: the sender's clock when the 200 was read; the local gateway's row for the task's first offer.
Baseline, same run, same Redis and worker, same pace: a bare RQ no-op job, enqueued → ended.

    python -m benchmarks.dispatch_latency [RATE [SECONDS [RUNS]]]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis
from rq import Queue
from sqlalchemy import text

from benchmarks.common import Finding, clean_env, free_port, hotline, median, percentile, process, verdict
from benchmarks.register_fixture import generate_register
from dispatch.db import make_engine
from hotline.settings import load_settings
from hotline.webhooks.signatures import SIGNATURE_HEADER, TwilioSignatureCheck
from workers.queues import INBOUND

SENDERS = 16  # threads: enough that a slow answer never holds up the next request's time
BASELINE_JOBS = 200
RESIDENT_PHONE = 13900000000  # generate_register's first resident mobile, +86 omitted
OFFERS = text(
    """SELECT i.provider_sid, l.created_at FROM inbound_messages i
       JOIN tasks t ON t.source_message_id = i.id
       JOIN outbound_messages o ON o.task_id = t.id AND o.dedupe_key LIKE 'task:%:offer:0'
       JOIN local_outbox l ON l.sid = o.provider_sid"""
)


def _send_steadily(signer: TwilioSignatureCheck, url: str, first: int, count: int, rate: float) -> dict[str, datetime]:
    """POST `count` signed SMS from residents first.., one every 1/rate s on schedule; returns sid → answered."""
    answered: dict[str, datetime] = {}
    lock = threading.Lock()

    def send(i: int, due: float) -> None:
        time.sleep(max(0.0, due - time.monotonic()))
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": f"+86{RESIDENT_PHONE + first + i}",
            "To": "+861066880000",
            "Body": "想买点米和菜",
            "NumMedia": "0",
        }
        request = urllib.request.Request(
            url + "/twilio/sms",
            data=urllib.parse.urlencode(params).encode(),
            headers={SIGNATURE_HEADER: signer.sign("/twilio/sms", params)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            if response.status == 200:
                with lock:
                    answered[sid] = datetime.now(UTC)

    start = time.monotonic() + 0.5
    with ThreadPoolExecutor(SENDERS) as pool:
        for future in [pool.submit(send, i, start + i / rate) for i in range(count)]:
            future.result()
    return answered


def _baseline(redis: Redis, rate: float, count: int) -> list[float]:
    """Seconds from enqueue to end for `count` bare RQ no-op jobs, one every 1/rate s, on the same worker."""
    queue = Queue(INBOUND, connection=redis)
    jobs = []
    for _ in range(count):
        jobs.append(queue.enqueue("os.getpid", result_ttl=60))
        time.sleep(1 / rate)
    deadline = time.monotonic() + 30
    seconds = []
    for job in jobs:
        while job.get_status(refresh=True) not in ("finished", "failed") and time.monotonic() < deadline:
            time.sleep(0.01)
        job.refresh()
        if job.enqueued_at is not None and job.ended_at is not None:
            seconds.append((job.ended_at - job.enqueued_at).total_seconds())
    return seconds


def main(rate: float = 50, seconds: float = 30, runs: int = 3) -> list[Finding]:
    per_run = int(rate * seconds)
    with tempfile.TemporaryDirectory(prefix="hld-") as tmp:
        data_dir = Path(tmp) / "var"
        port = free_port()
        env = clean_env(HOTLINE_DATA_DIR=str(data_dir), HOTLINE_PUBLIC_URL=f"http://127.0.0.1:{port}")
        hotline(env, "db", "upgrade")
        settings = load_settings(env, env_file=None)
        engine = make_engine(settings.database_url)
        generate_register(engine, per_run * runs, datetime.now(UTC) - timedelta(days=10))
        signer = TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url)

        run = [sys.executable, "-m", "hotline", "run", "--port", str(port)]
        results: list[tuple[list[float], int]] = []
        with process(run, env, ready_url=f"http://127.0.0.1:{port}/healthz"):
            time.sleep(1)  # let the worker subscribe
            for r in range(runs):
                answered = _send_steadily(signer, settings.public_url, r * per_run, per_run, rate)
                deadline = time.monotonic() + 60
                while True:  # until every answered message's offer is handed over, or a minute has passed
                    with engine.connect() as conn:
                        handed = {sid: at for sid, at in conn.execute(OFFERS) if sid in answered}
                    if len(handed) == len(answered) or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                latencies = [
                    (
                        (at if isinstance(at, datetime) else datetime.fromisoformat(at)).replace(tzinfo=UTC)
                        - answered[sid]
                    ).total_seconds()
                    for sid, at in handed.items()
                ]
                results.append((latencies, per_run - len(latencies)))
            redis = Redis.from_url(f"unix://{data_dir / 'redis' / 'redis.sock'}")
            baseline = _baseline(redis, rate, min(BASELINE_JOBS, per_run))  # the smoke run's: a few seconds
            redis.close()
        engine.dispose()

    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    p95 = median([ms(latencies, 0.95) for latencies, _ in results])
    lost = sum(missing for _, missing in results)
    base_p50 = ms(baseline, 0.5)
    lines = [
        f"### B2 · End-to-end dispatch latency ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"`hotline run` on the embedded default (SQLite, the embedded redis-server, one worker, the local gateway);"
        f" {per_run * runs:,} registered residents. {runs} runs of a steady {rate:g} inbound SMS/s for {seconds:g} s,"
        f" each from a resident writing for the first time. Latency: webhook answered 200 → the task's first offer"
        " recorded by the local gateway.",
        f"Baseline: {len(baseline)} bare RQ no-op jobs at the same pace through the same Redis and worker, "
        "enqueued → ended.",
        "",
        "| run | messages | p50 ms | p95 ms | p99 ms | max ms | not handed over in 60 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, (latencies, missing) in enumerate(results, 1):
        lines.append(
            f"| {i} | {len(latencies):,} | {ms(latencies, 0.5):.0f} | {ms(latencies, 0.95):.0f} | "
            f"{ms(latencies, 0.99):.0f} | {max(latencies) * 1000:.0f} | {missing} |"
        )
    lines += [
        f"| baseline RQ no-op | {len(baseline)} | {base_p50:.0f} | {ms(baseline, 0.95):.0f} | "
        f"{ms(baseline, 0.99):.0f} | {max(baseline) * 1000:.0f} | |",
        "",
        f"Median p95: {p95:.0f} ms; median p50 is {median([ms(lat, 0.5) for lat, _ in results]) / base_p50:.1f}× the"
        f" baseline's p50. Target p95 ≤ 300 ms {verdict(p95 <= 300)}; every message handed over "
        f"{verdict(lost == 0)} ({lost} not).",
    ]
    print("\n".join(lines))
    return [
        Finding("B2", f"dispatch latency at {rate:g} SMS/s, p95", f"{p95:.0f} ms", "≤ 300 ms", p95 <= 300),
        Finding("B2", "answered 200 but no offer within 60 s", f"{lost}", "0", lost == 0),
    ]


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        float(args[0]) if args else 50,
        float(args[1]) if len(args) > 1 else 30,
        int(args[2]) if len(args) > 2 else 3,
    )
