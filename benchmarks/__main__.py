"""Run every benchmark and write BENCHMARKS.md: `python -m benchmarks`. Loopback only; bounded; stops by itself."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

from benchmarks import checkin_campaign, first_loop, register_import, voice_webhook

HEADER = """# Benchmarks

Written by `.venv/bin/python -m benchmarks`. Each figure comes with a baseline measured in the same run on the
same machine; these machines are shared and noisy, so compare ratios, not absolute times.
"""


def main() -> None:
    sections = []
    runs: tuple[Callable[[], None], ...] = (
        lambda: first_loop.main(50),
        lambda: register_import.main(2000),
        lambda: voice_webhook.main(300),
        lambda: checkin_campaign.main(100_000, 2_000),
    )
    for run in runs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            run()
        sections.append(out.getvalue().strip())
        print(sections[-1], end="\n\n", flush=True)
    Path("BENCHMARKS.md").write_text(HEADER + "\n" + "\n\n".join(sections) + "\n", encoding="utf-8")


main()
