"""B4c's section of the benchmark report: the runs of each step, their medians and spread, and the findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks.common import Finding, median
from benchmarks.sms_throughput import THREADS, WrkRun

TARGET_GAIN, TARGET_P99_MS = 5.0, 50.0


@dataclass
class Measured:
    """The runs of one step at one number of connections."""

    step: str
    connections: int
    bare: list[WrkRun] = field(default_factory=list)
    before: list[WrkRun] = field(default_factory=list)
    ours: list[WrkRun] = field(default_factory=list)


def spread(values: list[float], fmt: str = ",.0f") -> str:
    """The median, and the lowest and highest of the runs."""
    return f"{median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})" if values else "–"


def report(
    measured: list[Measured],
    residents: int,
    seconds: float,
    runs: int,
    before: str | None,
    connections: tuple[int, ...],
) -> list[str]:
    lines = [
        f"### B4c · Voice webhook under concurrency ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"{residents} registered residents; SQLite and the embedded redis-server; `hotline serve` (one uvicorn "
        f"process), no worker. wrk: {THREADS} threads, {' and '.join(map(str, connections))} connections, "
        f"{seconds:g} s per run, {runs} runs per step and connections, taking turns.",
        "Each request a different call from a registered resident, signed as Twilio signs: **entry** "
        "(`POST /twilio/voice`, a new CallSid) and **key → task** (the menu's `<Gather>` action with Digits=2 on "
        "a call the entry runs made: a need stored and queued for intake).",
        "Baseline: a bare Starlette route answering the same TwiML (the same size) on the same path, same uvicorn "
        "settings. "
        + (
            f"Before: commit `{before}`'s `hotline serve` (each step its own write transaction), on a data dir of "
            "its own, in the same runs."
            if before
            else "Before: not measured in this run (no git checkout)."
        ),
        "Every answer counted against the database afterwards: each entry answered 200 is one `calls` row, each "
        "key one stored need, none twice.",
        "",
        "| step | callers | baseline req/s | before req/s | before p99 ms | ours req/s | ours p50 ms | ours p99 ms "
        "| ours / before | ours / baseline |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measured:
        ours_rate = median([r.rate for r in m.ours])
        gain = f"{ours_rate / median([r.rate for r in m.before]):.1f}×" if m.before else "–"
        lines.append(
            f"| {m.step} | {m.connections} | {spread([r.rate for r in m.bare])} | "
            f"{spread([r.rate for r in m.before])} | {spread([r.p99_us / 1000 for r in m.before], '.0f')} | "
            f"{spread([r.rate for r in m.ours])} | {spread([r.p50_us / 1000 for r in m.ours], '.1f')} | "
            f"{spread([r.p99_us / 1000 for r in m.ours], '.1f')} | {gain} | "
            f"{ours_rate / median([r.rate for r in m.bare]):.1%} |"
        )
    lines += [
        "",
        "Each figure: the median of the runs, (lowest–highest). Targets: ours ≥ "
        f"{TARGET_GAIN:g}× before's throughput and p99 ≤ {TARGET_P99_MS:g} ms, for each step at each number of "
        "callers.",
    ]
    return lines


def findings(measured: list[Measured]) -> list[Finding]:
    found: list[Finding] = []
    for m in measured:
        rate, p99 = median([r.rate for r in m.ours]), median([r.p99_us / 1000 for r in m.ours])
        gain = rate / median([r.rate for r in m.before]) if m.before else 0.0
        figure = (f"{gain:.1f}× before, " if m.before else "") + f"{rate:,.0f} req/s, p99 {p99:.1f} ms"
        ok = bool(m.before) and gain >= TARGET_GAIN and p99 <= TARGET_P99_MS
        target = f"≥ {TARGET_GAIN:g}× before, p99 ≤ {TARGET_P99_MS:g} ms"
        found.append(Finding("B4c", f"voice {m.step} at {m.connections} callers", figure, target, ok))
    return found
