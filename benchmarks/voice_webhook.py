"""Voice webhook latency: each step of a call, for a registered caller, through `hotline serve`.

Runs the web server (uvicorn, embedded Redis, SQLite) in a fresh data dir on loopback. For N calls from N
registered residents it posts, signed as Twilio does, over one kept-alive connection: the call's entry (greeting
and menu), a key that makes a task (store + enqueue), a key that puts the caller through, and a put-through
result (nobody answered: the next person). Baseline, in the same run over the same connection: `GET /`, a route
that touches neither the database nor Redis.

    python -m benchmarks.voice_webhook [N]
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import UTC, datetime

from benchmarks.common import Finding, fresh_install, median, percentile, verdict
from hotline.settings import load_settings
from hotline.webhooks.signatures import SIGNATURE_HEADER, TwilioSignatureCheck

STEPS = ("entry", "key → task", "key → put through", "put-through result", "baseline GET /")
MEASURED = STEPS[:-1]
RUNS = 3


def main(count: int = 300) -> list[Finding]:
    with tempfile.TemporaryDirectory(prefix="hlv-") as tmp:
        _, port, env = fresh_install(tmp, count, HOTLINE_DUTY_PHONE="+861066880000")
        settings = load_settings(env, env_file=None)
        signer = TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url)

        server = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        timings: dict[str, list[float]] = {step: [] for step in STEPS}
        try:
            conn = _connect(port)

            def post(path: str, query: str, params: dict[str, str]) -> tuple[float, str]:
                body = urllib.parse.urlencode(params)
                headers = {
                    SIGNATURE_HEADER: signer.sign(path, params, query),
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                started = time.perf_counter()
                conn.request("POST", path + (f"?{query}" if query else ""), body=body, headers=headers)
                response = conn.getresponse()
                text = response.read().decode()
                elapsed = time.perf_counter() - started
                assert response.status == 200 and text.startswith("<?xml"), (response.status, text[:200])
                return elapsed, text

            def action(twiml: str, tag: str) -> tuple[str, str]:
                start = twiml.index("action=", twiml.index(f"<{tag}")) + len('action="')
                url = urllib.parse.urlsplit(twiml[start : twiml.index('"', start)].replace("&amp;", "&"))
                return url.path, url.query

            for i in range(3):  # warm up: first requests load code and open connections
                post("/twilio/voice", "", {"CallSid": "CA" + uuid.uuid4().hex, "From": f"+861380013{i:04d}"})
            for i in range(count):
                caller = {"From": f"+861380013{i:04d}", "To": "+10000000000", "AccountSid": "AC" + "1" * 32}
                for key, step in (("2", "key → task"), ("0", "key → put through")):
                    call = {**caller, "CallSid": "CA" + uuid.uuid4().hex, "CallStatus": "in-progress"}
                    elapsed, twiml = post("/twilio/voice", "", call)
                    timings["entry"].append(elapsed)
                    elapsed, twiml = post(*action(twiml, "Gather"), {**call, "Digits": key})
                    timings[step].append(elapsed)
                    if key == "0":
                        elapsed, _ = post(*action(twiml, "Dial"), {**call, "DialCallStatus": "no-answer"})
                        timings["put-through result"].append(elapsed)
                started = time.perf_counter()
                conn.request("GET", "/")
                conn.getresponse().read()
                timings["baseline GET /"].append(time.perf_counter() - started)
            conn.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)

    def per_run(values: list[float], q: float) -> float:
        """The q-quantile in each of RUNS consecutive parts of the calls, in ms; the median of those."""
        size = -(-len(values) // RUNS)
        return median([percentile(values[i : i + size], q) * 1000 for i in range(0, len(values), size)])

    base = per_run(timings["baseline GET /"], 0.5)
    lines = [
        f"### B4 · Voice webhook latency ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"{count} registered callers, 2 calls each, one request at a time over a kept-alive connection to",
        "`hotline serve` (uvicorn, SQLite, embedded Redis). Time: request sent → whole TwiML answer read.",
        f"The calls are taken as {RUNS} consecutive runs; each figure is the median of the runs' figures.",
        "Baseline: `GET /` on the same server and connection (no database, no Redis).",
        "",
        "| step | n | p50 ms | p99 ms | p50 / baseline |",
        "|---|---|---|---|---|",
    ]
    worst50 = worst99 = 0.0
    for step in STEPS:
        values = timings[step]
        p50, p99 = per_run(values, 0.5), per_run(values, 0.99)
        if step in MEASURED:
            worst50, worst99 = max(worst50, p50), max(worst99, p99)
        lines.append(f"| {step} | {len(values)} | {p50:.1f} | {p99:.1f} | {p50 / base:.1f}× |")
    ok = worst50 <= 5 and worst99 <= 20
    lines += ["", f"Target: median ≤ 5 ms, p99 ≤ 20 ms for every step {verdict(ok)}."]
    print("\n".join(lines))
    return [
        Finding(
            "B4",
            "voice webhook, slowest IVR step",
            f"p50 {worst50:.1f} ms, p99 {worst99:.1f} ms",
            "p50 ≤ 5 ms, p99 ≤ 20 ms",
            ok,
        )
    ]


def _connect(port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return conn
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("hotline serve did not start") from None
            time.sleep(0.2)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
