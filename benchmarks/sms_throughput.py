"""Inbound SMS webhook throughput (B1), and the web process's memory (B5, web).

On loopback only. A fresh data dir holds a register of N residents (bulk-inserted, not timed). Two servers run
side by side, each one uvicorn process started the way `hotline serve` starts it: `hotline serve` itself, and
`benchmarks.bare_app`, a bare Starlette "hello" route (the baseline). wrk, from Debian's packages, posts Twilio's
form fields from registered residents, each request with its own MessageSid and a real signature, at C
connections for S seconds; baseline and ours take turns, R times, and the medians are reported.

Afterwards every ours-run is counted: the inbound messages stored against the requests wrk saw answered 200.
Only the web server runs (no worker): this measures the webhook, and the queued work waits in Redis.

Once B1 is done with them, the same two servers may measure more webhooks (`AlsoMeasured`: B10, the other
channels', in benchmarks/channel_webhooks.py), so that every channel is measured against the same bare route.

    python -m benchmarks.sms_throughput [RESIDENTS [SECONDS [RUNS]]]
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from benchmarks.common import Finding, clean_env, free_port, hotline, median, peak_rss_mb, process, verdict
from benchmarks.register_fixture import generate_register
from dispatch.db import make_engine
from dispatch.models import InboundMessage
from hotline.settings import load_settings
from hotline.webhooks.signatures import TwilioSignatureCheck

CONNECTIONS = 32
THREADS = 2
SCRIPT = Path(__file__).with_name("signed_posts.lua")
PATH = "/twilio/sms"
WRK = shutil.which("wrk")
RESIDENT_PHONE = 13900000000  # generate_register's first resident mobile, +86 omitted


@dataclass(frozen=True)
class WrkRun:
    ok: int  # answered 200
    other: int  # answered anything else
    issued: int  # requests written, counting those still in flight when wrk stopped
    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    max_us: int
    errors: int
    wrapped: int  # 1: a thread ran out of distinct requests and began again (duplicates): the run is void

    @property
    def rate(self) -> float:
        return self.requests / (self.duration_us / 1e6)


def twilio_form(sid: str, resident: int) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS, from the resident's mobile."""
    return {
        "ToCountry": "CN",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": "想买点米和菜，还有药",
        "FromCountry": "CN",
        "To": "+861066880000",
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": f"+86{RESIDENT_PHONE + resident}",
        "ApiVersion": "2010-04-01",
    }


def write_requests(
    prefix: Path, signer: TwilioSignatureCheck, per_thread: int, residents: int, run: int
) -> list[list[str]]:
    """One file of signed requests per wrk thread (`prefix.N`); returns each thread's MessageSids in order."""
    sids: list[list[str]] = []
    pick = random.Random(run)  # noqa: S311 - which resident sends: reproducible, not secret
    for thread in range(THREADS):
        thread_sids = []
        with open(f"{prefix}.{thread}", "w", encoding="utf-8") as out:
            for _ in range(per_thread):
                sid = f"SM{run:04x}" + uuid.uuid4().hex[4:]
                form = twilio_form(sid, pick.randrange(residents))
                out.write(f"{urllib.parse.urlencode(form)}\t{signer.sign(PATH, form)}\n")
                thread_sids.append(sid)
        sids.append(thread_sids)
    return sids


def wrk(
    port: int, prefix: Path, seconds: float, script: Path = SCRIPT, script_args: tuple[str, ...] = (PATH,)
) -> WrkRun:
    """One wrk run of `seconds` against the port, posting the requests in `prefix.N` with `script` (by default
    signed_posts.lua, to Twilio's SMS path)."""
    assert WRK is not None
    done = subprocess.run(
        [
            WRK,
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(prefix),
            *script_args,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return WrkRun(**json.loads(done.stdout.strip().splitlines()[-1]))


class AlsoMeasured(Protocol):
    """More webhooks, measured on B1's two servers once B1 is done with them."""

    env: Mapping[str, str]  # the settings they need, added to the server's

    def measure(self, port: int, bare_port: int, tmp: Path, residents: int) -> None:
        """Measure, while both servers run: `hotline serve` on `port`, the bare route on `bare_port`."""

    def finish(self, database_url: str) -> tuple[str, list[Finding]]:
        """Once the servers have stopped: count what was stored; the report's section and summary lines."""


def main(
    residents: int = 100_000, seconds: float = 10, runs: int = 3, also: AlsoMeasured | None = None
) -> list[Finding]:
    if WRK is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="hls-") as tmp:
        data_dir = Path(tmp) / "var"
        port, bare_port = free_port(), free_port()
        env = clean_env(
            HOTLINE_DATA_DIR=str(data_dir), HOTLINE_PUBLIC_URL=f"http://127.0.0.1:{port}", **(also.env if also else {})
        )
        hotline(env, "db", "upgrade")
        settings = load_settings(env, env_file=None)
        engine = make_engine(settings.database_url)
        generate_register(engine, residents, datetime.now(UTC) - timedelta(days=10))
        signer = TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url)
        requests = Path(tmp) / "requests"

        serve = [sys.executable, "-m", "hotline", "serve", "--port", str(port)]
        bare = [sys.executable, "-m", "benchmarks.bare_app", str(bare_port)]
        with (
            process(serve, env, ready_url=f"http://127.0.0.1:{port}/healthz") as web,
            process(bare, env, ready_url=f"http://127.0.0.1:{bare_port}/"),
        ):
            rss_idle = peak_rss_mb(web.pid)
            write_requests(requests, signer, 2000, residents, 0)
            if runs > 1:  # warm-up, both servers; not in the smoke run's one run
                wrk(bare_port, requests, 1)
                wrk(port, requests, 1)
            baseline: list[WrkRun] = []
            ours: list[tuple[WrkRun, list[list[str]], int]] = []
            for run in range(1, runs + 1):
                baseline.append(wrk(bare_port, requests, seconds))
                # Enough distinct requests for ours to run as fast as the bare route did, and then some.
                per_thread = int(baseline[-1].rate * seconds * 1.2 / THREADS) + 1000
                sids = write_requests(requests, signer, per_thread, residents, run)
                ours.append((wrk(port, requests, seconds), sids, run))
            rss_peak = peak_rss_mb(web.pid)
            if also is not None:
                also.measure(port, bare_port, Path(tmp), residents)

        # Every request answered 200 must be a stored row. Rows may also exist for requests still in flight
        # when wrk stopped (it closes its connections; the server had already stored them): at most `issued - ok`.
        counted = []
        with engine.connect() as conn:
            for result, sids, run in ours:
                sent = {sid for thread, thread_sids in enumerate(sids) for sid in thread_sids[: result.issued]}
                stored = set(
                    conn.scalars(
                        select(InboundMessage.provider_sid).where(InboundMessage.provider_sid.like(f"SM{run:04x}%"))
                    )
                )
                unknown = len(stored - sent)
                counted.append((result, len(stored), max(0, result.ok - len(stored)), unknown))
        engine.dispose()
        also_section, also_findings = also.finish(settings.database_url) if also is not None else ("", [])

    ours_rate = median([r.rate for r, *_ in counted])
    bare_rate = median([r.rate for r in baseline])
    ours_p99 = median([r.p99_us / 1000 for r, *_ in counted])
    lost = sum(c[2] for c in counted)
    ratio = ours_rate / bare_rate
    lines = [
        f"### B1 · Inbound SMS webhook throughput, B5 · web memory ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"{residents:,} registered residents; SQLite and the embedded redis-server; `hotline serve` (one uvicorn",
        f"process) alone, no worker. wrk: {THREADS} threads, {CONNECTIONS} connections, {seconds:g} s per run, "
        f"{runs} runs taking turns with the baseline.",
        "Each request: Twilio's 19 form fields from a registered resident, its own MessageSid, signed as Twilio signs.",
        'Baseline: a bare Starlette "hello" route on the same uvicorn settings and heap settings, writing the same one '
        "log line per request (`RequestLog`), same machine, same wrk, same bodies.",
        "",
        "| run | baseline req/s | baseline p99 ms | ours req/s | ours p50 ms | ours p99 ms | answered 200 | stored "
        "| lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (base, (result, stored, run_lost, _)) in enumerate(zip(baseline, counted, strict=True), 1):
        lines.append(
            f"| {i} | {base.rate:,.0f} | {base.p99_us / 1000:.1f} | {result.rate:,.0f} | {result.p50_us / 1000:.1f} | "
            f"{result.p99_us / 1000:.1f} | {result.ok:,} | {stored:,} | {run_lost} |"
        )
    problems = [
        f"run {i}: {what}"
        for i, (result, _, _, unknown) in enumerate(counted, 1)
        for what in (
            f"{result.other + result.errors} answers not 200" if result.other or result.errors else "",
            "ran out of distinct requests (void)" if result.wrapped else "",
            f"{unknown} stored rows wrk never sent" if unknown else "",
        )
        if what
    ]
    lines += [
        "",
        f"Median: ours {ours_rate:,.0f} req/s against the bare route's {bare_rate:,.0f}: **{ratio:.1%}** of the "
        f"limit. Ours p99 {ours_p99:.1f} ms. Lost: {lost}."
        + (f" Problems: {'; '.join(problems)}." if problems else ""),
        f"Targets: ≥ 20% of the bare route {verdict(ratio >= 0.2)}; p99 ≤ 50 ms {verdict(ours_p99 <= 50)}; "
        f"0 lost {verdict(lost == 0 and not problems)}.",
        "",
        f"B5 (web): `hotline serve` peak RSS {rss_peak:.0f} MB after these runs ({rss_idle:.0f} MB when started); "
        f"target ≤ 150 MB {verdict(rss_peak <= 150)}.",
    ]
    print("\n".join(lines) + (f"\n\n{also_section}" if also_section else ""))
    return [
        Finding(
            "B1",
            "inbound SMS webhook throughput",
            f"{ratio:.1%} of the bare route ({ours_rate:,.0f} req/s)",
            "≥ 20%",
            ratio >= 0.2,
        ),
        Finding("B1", "inbound SMS webhook p99 at 32 connections", f"{ours_p99:.1f} ms", "≤ 50 ms", ours_p99 <= 50),
        Finding("B1", "answered 200 but not stored", f"{lost}", "0", lost == 0 and not problems),
        Finding(
            "B5",
            f"web process peak RSS ({residents:,} residents, after B1)",
            f"{rss_peak:.0f} MB",
            "≤ 150 MB",
            rss_peak <= 150,
        ),
        *also_findings,
    ]


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 100_000, float(args[1]) if len(args) > 1 else 10, int(args[2]) if len(args) > 2 else 3
    )
