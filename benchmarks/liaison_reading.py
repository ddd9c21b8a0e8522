"""Reading liaisons' replies: every line of the published corpus, tests/data/liaison_replies.tsv, read with the
liaison's tasks in play as the line gives them (commands, natural replies, Chinese numerals).

Baseline, measured in the same run on the same lines: the command table's own reading (接12, 完12 …) alone, the
least any reading of a liaison's reply does. Each figure is the best of REPEATS rounds of at least ROUND seconds.

    python -m benchmarks.liaison_reading [ROUND_SECONDS]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import Finding, verdict
from dispatch.models import TaskStatus
from dispatch.tasks.liaison_reading import CommandTable

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "liaison_replies.tsv"
TARGET = 10_000  # replies a second
REPEATS = 5
STATUS = {"o": TaskStatus.OFFERED, "e": TaskStatus.ESCALATED, "a": TaskStatus.ACCEPTED}


def corpus() -> list[tuple[str, list[tuple[int, str]]]]:
    """Each line's reply and the tasks in play it is read with."""
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, tasks, _ = line.split("\t")
            rows.append((text, [] if tasks == "-" else [(int(t[1:]), STATUS[t[0]]) for t in tasks.split()]))
    return rows


def rate(read: Callable[[str, list[tuple[int, str]]], object], rows: list, seconds: float) -> float:
    """Replies read a second: the best of REPEATS rounds."""
    best = 0.0
    for _ in range(REPEATS):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for text, in_play in rows:
                read(text, in_play)
            count += len(rows)
        best = max(best, count / (time.perf_counter() - start))
    return best


def main(seconds: float = 1.0) -> list[Finding]:
    table, rows = CommandTable.load(), corpus()
    baseline = rate(lambda text, _: table.read(text), rows, seconds)
    figure = rate(table.understand, rows, seconds)
    ok = figure >= TARGET
    print(f"### B9 · Reading liaisons' replies\n\n{len(rows)} corpus lines, best of {REPEATS} rounds of {seconds} s.")
    ratio = figure / baseline
    print(f"Baseline (commands alone): {baseline:,.0f} replies/s. Whole reading: {figure:,.0f} replies/s, ", end="")
    print(f"{ratio:.2f}× the baseline's rate; target ≥ {TARGET:,} replies/s {verdict(ok)}.")
    return [Finding("B9", "liaison replies read a second (corpus)", f"{figure:,.0f}/s", f"≥ {TARGET:,}/s", ok)]


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
