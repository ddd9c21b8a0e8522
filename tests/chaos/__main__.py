"""`python -m tests.chaos [--short] [--database-url URL]`: one fault run over the three channels; prints the
figures, a line per channel, and exits 1 on a loss, a duplicate or a message through another channel's gateway.
The default is the full run (5,000 SMS over 60 s from 500 residents)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.chaos.run import SHORT, Plan, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the CI version: 600 SMS over 15 s")
    parser.add_argument("--database-url", help="a PostgreSQL URL (emptied first); default: a new SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, database) and print it")
    args = parser.parse_args()
    plan = SHORT if args.short else Plan()
    root = Path(tempfile.mkdtemp(prefix="hl-chaos-"))
    database_url = args.database_url or f"sqlite:///{root / 'hotline.sqlite3'}"
    print(f"fault run: {plan.messages} SMS over {plan.seconds:.0f} s from {plan.residents} residents", flush=True)
    report = run(plan, root, database_url, echo=lambda line: print(line, flush=True))
    for line in report.details():
        print(line)
    print(report.line())
    if args.keep:
        print(f"kept: {root}")
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
