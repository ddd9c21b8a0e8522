"""The scale run's section of the benchmark report: the topology it ran, what it counted and the findings."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from benchmarks.common import Finding, Reported, median
from benchmarks.sms_throughput import CONNECTIONS, THREADS, WrkRun

WEB, WORKERS, SCHEDULERS = 2, 4, 2
WARM_UP = ", after a 1 s warm-up"


@dataclass(frozen=True)
class Campaign:
    seconds: float
    checkins: int
    checkin_sms_sent_once: int  # check-in SMS found in the gateway's outbox exactly once


@dataclass(frozen=True)
class Counted:
    run: WrkRun
    stored: int
    lost: int  # answered 200, not stored
    unknown: int  # stored, never sent by wrk


def report(
    residents: int,
    seconds: float,
    runs: int,
    warm_up: bool,
    campaign: Campaign,
    single_b3_s: float,
    counted: dict[str, list[Counted]],
    drains: list[float],
    rss: dict[str, float],
    received: Counter[int],
    sent: set[int],
    statuses: Counter[str],
    outcomes: Counter[str | None],
    made: tuple[int, int],
) -> list[Finding]:
    """Print the section and return the summary lines; a lost or duplicated message ends the run with an error."""
    rate = {k: median([c.run.rate for c in v]) for k, v in counted.items()}
    p99 = {k: median([c.run.p99_us / 1000 for c in v]) for k, v in counted.items()}
    lost = sum(c.lost for c in counted["scale"])
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    scale = counted["scale"]
    sent_once = campaign.checkin_sms_sent_once
    checks = {
        f"{lost} answered 200 but not stored": lost,
        f"{sum(c.unknown for c in scale)} stored that wrk never sent": any(c.unknown for c in scale),
        f"{sum(c.run.other + c.run.errors for c in scale)} answers not 200": any(
            c.run.other + c.run.errors for c in scale
        ),
        "wrk ran out of distinct requests": any(c.run.wrapped for c in scale),
        f"{campaign.checkins:,} check-ins made, not {residents:,}": campaign.checkins != residents,
        f"{residents - sent_once:,} check-in SMS not handed over exactly once": sent_once != residents,
        f"{duplicates} SMS handed over more than once": duplicates,
        "SMS handed over and SMS marked sent differ": set(received) != sent,
        f"outbound statuses {dict(statuses)}": set(statuses) - {"sent", "cancelled"},
        f"{outcomes[None]} inbound never processed": outcomes[None],
        f"{made[0]} tasks from messages, for {made[1]} residents who asked": made[0] != made[1],
    }
    problems = [what for what, failed in checks.items() if failed]
    drain = median(drains)
    stored = sum(c.stored for c in counted["scale"])
    web_rss = max(v for k, v in rss.items() if k.startswith("web"))
    worker_rss = max(v for k, v in rss.items() if k.startswith("worker"))
    lines = [
        f"### Scale run · B1 and B3 on {WEB} web processes, {WORKERS} workers, {SCHEDULERS} schedulers, PostgreSQL "
        f"({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"All on this one {os.cpu_count()}-core machine, on loopback: a throwaway PostgreSQL 15 cluster (unix socket, "
        "fsync on), one redis-server (AOF on), nginx (deploy/nginx/hotline.conf's proxy settings, no TLS) in front of",
        f"{WEB} `hotline serve`, {WORKERS} `hotline worker`, {SCHEDULERS} `hotline scheduler`; the local gateway; "
        f"{residents:,} registered residents; every clock at 09:05 Asia/Shanghai (real speed, 3 s ticks).",
        "Baselines, same run, same sizes: B3's in-process campaign on SQLite, and B1's one `hotline serve` on SQLite",
        f"with its embedded Redis, taking turns with the scale topology under wrk ({THREADS} threads, {CONNECTIONS} "
        f"connections, {seconds:g} s, {runs} run(s) each{WARM_UP if warm_up else ''}). More processes share the same "
        f"{os.cpu_count()} cores here:",
        "this shows that the topology carries the load correctly and what it costs, not that it is faster.",
        "",
        "| run | single req/s | single p99 ms | scale req/s | scale p50 ms | scale p99 ms | answered 200 | stored "
        "| lost | drain s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (one, many, took) in enumerate(zip(counted["single"], counted["scale"], drains, strict=True), 1):
        lines.append(
            f"| {i} | {one.run.rate:,.0f} | {one.run.p99_us / 1000:.1f} | {many.run.rate:,.0f} | "
            f"{many.run.p50_us / 1000:.1f} | {many.run.p99_us / 1000:.1f} | {many.run.ok:,} | {many.stored:,} | "
            f"{many.lost} | {took:.1f} |"
        )
    done = ", ".join(f"{v:,} {k}" for k, v in sorted(outcomes.items(), key=lambda kv: str(kv[0])))
    lines += [
        "",
        f"B1 median: scale {rate['scale']:,.0f} req/s, {rate['scale'] / rate['single']:.2f}× the single process's "
        f"{rate['single']:,.0f}; p99 {p99['scale']:.1f} ms against {p99['single']:.1f} ms. Lost: {lost}. The four "
        f"workers finished the {stored:,} messages (their tasks and SMS) a median {drain:.1f} s after the load ended.",
        f"B3: {residents:,} check-ins made, decided and handed over in {campaign.seconds:.1f} s from the first tick, "
        f"{campaign.seconds / single_b3_s:.2f}× the in-process campaign on SQLite ({single_b3_s:.1f} s).",
        f"Checked: {campaign.checkin_sms_sent_once:,} check-in SMS handed over exactly once each; "
        f"{len(received):,} SMS in the gateway's outbox, {duplicates} twice; inbound outcomes: {done}; {made[0]:,} "
        f"tasks, one per resident who asked (a need already open joins its task). "
        f"Peak RSS: web {web_rss:.0f} MB, worker {worker_rss:.0f} MB."
        + (f" **Problems: {'; '.join(problems)}.**" if problems else ""),
    ]
    print("\n".join(lines))
    if problems:
        raise SystemExit("scale run: " + "; ".join(problems))
    ratio, b3_ratio = rate["scale"] / rate["single"], campaign.seconds / single_b3_s
    return [
        Reported(
            "B1",
            f"scale: webhook throughput, {WEB} web behind nginx, PostgreSQL",
            f"{rate['scale']:,.0f} req/s, {ratio:.2f}× one process on SQLite",
            "a cost on 2 cores",
            True,
        ),
        Finding(
            "B1",
            "scale: webhook p99 at 32 connections",
            f"{p99['scale']:.1f} ms ({p99['single']:.1f} single)",
            "≤ 50 ms",
            p99["scale"] <= 50,
        ),
        Finding("B1", "scale: answered 200 but not stored", f"{lost}", "0", not lost),
        Finding(
            "B2",
            f"scale: {WORKERS} workers' drain after {seconds:g} s of load",
            f"{drain:.1f} s",
            "≤ 60 s",
            drain <= 60,
        ),
        Finding(
            "B3",
            f"scale: check-in campaign, {residents:,} residents",
            f"{campaign.seconds:.1f} s, {b3_ratio:.2f}× in-process on SQLite",
            "≤ 60 s for 100,000",
            campaign.seconds <= 60 * residents / 100_000,
        ),
        Finding(
            "B3",
            "scale: check-ins lost or sent twice",
            f"{residents - campaign.checkin_sms_sent_once}",
            "0",
            campaign.checkin_sms_sent_once == residents,
        ),
    ]
