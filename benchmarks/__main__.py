"""Run every benchmark (B1–B6) and write BENCHMARKS.md: `python -m benchmarks`.

`python -m benchmarks --smoke` runs each one small (under a minute in all), checks that it still runs and counts
right, and writes nothing unless `--out FILE` is given: CI runs it so the benchmarks cannot rot. Its figures
are not the benchmark's and its verdicts mean nothing. Loopback only; bounded; stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import checkin_campaign, dispatch_latency, register_import, sms_throughput, voice_webhook
from benchmarks.common import Finding, machine

FULL: tuple[Callable[[], list[Finding]], ...] = (
    lambda: sms_throughput.main(100_000, 10, 3),
    lambda: dispatch_latency.main(50, 30, 3),
    lambda: checkin_campaign.main(100_000, 2_000),
    lambda: voice_webhook.main(300),
    lambda: register_import.main(2000),
)
SMOKE: tuple[Callable[[], list[Finding]], ...] = (
    lambda: sms_throughput.main(1_000, 1, 1),
    lambda: dispatch_latency.main(20, 2, 1),
    lambda: checkin_campaign.main(1_000, 50),
    lambda: voice_webhook.main(10),
    lambda: register_import.main(100),
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="run each benchmark small: does it still work?")
    parser.add_argument("--out", type=Path, help="where to write the report (default: BENCHMARKS.md, not for --smoke)")
    args = parser.parse_args()
    out = args.out or (None if args.smoke else Path("BENCHMARKS.md"))

    started = time.monotonic()
    sections, findings = [], []
    for run in SMOKE if args.smoke else FULL:
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            findings += run()
        sections.append(text.getvalue().strip())
        print(sections[-1], end="\n\n", flush=True)
    summary = [
        "# Benchmarks" + (" (smoke run: small sizes, figures not comparable)" if args.smoke else ""),
        "",
        f"Written by `.venv/bin/python -m benchmarks` on {datetime.now(UTC):%Y-%m-%d} in "
        f"{(time.monotonic() - started) / 60:.0f} min. Machine: {machine()}.",
        "Each figure comes with a baseline measured in the same run on the same machine; these machines are "
        "shared and noisy, so compare ratios, not absolute times. Everything ran on loopback.",
        "",
        "| # | what | figure | target | verdict |",
        "|---|---|---|---|---|",
        *(finding.row() for finding in findings),
    ]
    report = "\n".join(summary) + "\n\n" + "\n\n".join(sections) + "\n"
    print("\n".join(summary))
    if out is not None:
        out.write_text(report, encoding="utf-8")


main()
