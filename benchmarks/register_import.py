"""Register import: a 2,000-row residents file in GB18030 with Chinese headers, as Excel in China saves it.

Baseline, measured in the same run on the same bytes: decoding the file and parsing it with the csv module
alone, the least any import must do. Each is the best of REPEATS runs, on a fresh SQLite file for the import.

    python -m benchmarks.register_import [ROWS]
"""

from __future__ import annotations

import csv
import io
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import Finding, median, verdict
from dispatch import register
from dispatch.db import make_engine, make_session_factory, upgrade
from dispatch.register.demo import generate_demo_register

REPEATS = 3


def _fixture(rows: int, workdir: Path) -> tuple[bytes, bytes]:
    """Liaisons and residents files exported from a generated community, residents re-encoded in GB18030."""
    engine = make_engine(f"sqlite:///{workdir / 'source.sqlite3'}")
    upgrade(engine)
    vocabulary = register.Vocabulary.load()
    with make_session_factory(engine).begin() as session:
        generate_demo_register(session, residents=rows, seed=1)
    with make_session_factory(engine)() as session:
        liaisons = register.export_liaisons(session, vocabulary)
        residents = register.export_residents(session, vocabulary)
    engine.dispose()
    # Drop the id column: a new office's files have none. GB18030, no BOM: what Excel in China saves.
    return _without_ids(liaisons).encode("utf-8"), _without_ids(residents).encode("gb18030")


def _without_ids(exported: bytes) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(line[1:] for line in csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    return buffer.getvalue()


def main(rows: int = 2000) -> list[Finding]:
    vocabulary = register.Vocabulary.load()
    with tempfile.TemporaryDirectory(prefix="hlb-") as tmp:
        workdir = Path(tmp)
        liaisons, residents = _fixture(rows, workdir)
        baseline, imports = [], []
        for attempt in range(REPEATS):
            start = time.perf_counter()
            parsed = list(csv.reader(io.StringIO(residents.decode("gb18030"))))
            baseline.append(time.perf_counter() - start)
            assert len(parsed) == rows + 1

            engine = make_engine(f"sqlite:///{workdir / f'target{attempt}.sqlite3'}")
            upgrade(engine)
            sessions = make_session_factory(engine)
            with sessions.begin() as session:
                assert register.import_liaisons(session, liaisons, region="CN", vocabulary=vocabulary).ok
            start = time.perf_counter()
            with sessions.begin() as session:
                report = register.import_residents(session, residents, region="CN", vocabulary=vocabulary)
            imports.append(time.perf_counter() - start)
            assert report.ok and len(report.created) == rows, report.errors[:3]
            engine.dispose()
    mid, floor = median(imports), median(baseline)
    lines = [
        f"### B6 · Register import ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"{rows:,} residents (generated community), GB18030, Chinese headers, into a fresh SQLite file; "
        f"median of {REPEATS} runs.",
        "Import: check every row, match, create households and residents, commit.",
        "Baseline: decode and csv-parse the same bytes, nothing else.",
        "",
        "| measure | seconds (median) | rows/s |",
        "|---|---|---|",
        f"| import | {mid:.2f} | {rows / mid:,.0f} |",
        f"| baseline decode + parse | {floor:.3f} | {rows / floor:,.0f} |",
        "",
        f"Import is {mid / floor:.0f}× the baseline. Target: under 5 s for 2,000 rows {verdict(mid <= 5)}.",
    ]
    print("\n".join(lines))
    return [Finding("B6", f"register import, {rows:,} rows GB18030", f"{mid:.2f} s", "≤ 5 s", mid <= 5)]


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
