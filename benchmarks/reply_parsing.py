"""Reading residents' replies: the published corpus (tests/data/replies.tsv) parsed many times over.

Baseline, measured in the same run on the same messages: `normalise` alone (NFKC, lower case, trim), the least any
reading must do. Each figure is the median of RUNS runs of PASSES passes over the corpus, one process, one core.

    python -m benchmarks.reply_parsing [PASSES]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Finding, median, verdict
from dispatch.resident_replies import ReplyVocabulary, normalise, parse_reply

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "replies.tsv"
RUNS = 5
TARGET = 10_000  # messages a second


def corpus() -> list[tuple[str, str]]:
    """The corpus's replies and their published readings."""
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, expected = line.split("\t")
            rows.append((text, expected))
    return rows


def _rate(read: Callable[[str], object], texts: list[str], passes: int) -> float:
    """Messages a second, median of RUNS runs."""
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(passes):
            for text in texts:
                read(text)
        rates.append(len(texts) * passes / (time.perf_counter() - start))
    return median(rates)


def main(passes: int = 20) -> list[Finding]:
    vocabulary = ReplyVocabulary.load()
    rows = corpus()
    texts = [text for text, _ in rows]
    misread = sum(parse_reply(text, vocabulary).describe() != expected for text, expected in rows)
    health = sum("unwell" in expected for _, expected in rows)
    ours = _rate(lambda text: parse_reply(text, vocabulary), texts, passes)
    floor = _rate(normalise, texts, passes)
    lines = [
        f"### B8 · Reading replies ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"The published corpus, {len(rows):,} replies ({health:,} about health), each parsed {passes * RUNS} times "
        f"in {RUNS} runs of {passes} passes; median of the runs. Misread against the corpus: {misread}.",
        "Baseline: `normalise` alone on the same messages, the least any reading does.",
        "",
        "| measure | messages/s (median) |",
        "|---|---|",
        f"| parse_reply | {ours:,.0f} |",
        f"| baseline normalise | {floor:,.0f} |",
        "",
        f"parse_reply runs at {ours / floor:.1%} of the baseline's rate. Target: ≥ {TARGET:,} messages/s "
        f"{verdict(ours >= TARGET)}.",
    ]
    print("\n".join(lines))
    return [
        Finding(
            "B8",
            "reading replies, the published corpus",
            f"{ours:,.0f} msgs/s, {ours / floor:.1%} of bare normalise ({floor:,.0f}/s)",
            f"≥ {TARGET:,} msgs/s",
            ours >= TARGET,
        ),
        Finding("B8", "corpus replies misread", str(misread), "0", misread == 0),
    ]


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
