"""Progress bars of the command line's long work: drawn on stderr when it is a terminal (a pty here), and nothing
extra at all when it is not (a pipe, a log, CI). Each command runs as its own process, as an operator runs it."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from hotline.cli import main
from hotline.services import Services
from tests.backup_helpers import POSTGRES

HOTLINE = Path(sys.executable).parent / "hotline"
PERCENT = "100%|"


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def run(environ: dict[str, str], *args: str, terminal: bool) -> Ran:
    """`hotline ARGS` with stderr on a pseudo-terminal 100 columns wide, or on a pipe."""
    if not terminal:
        done = subprocess.run(
            [str(HOTLINE), *args], env=environ, capture_output=True, text=True, timeout=180, check=False
        )
        return Ran(done.returncode, done.stdout, done.stderr)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read as it comes, so a full pty buffer never stops the command
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the command, the last holder of the terminal, has ended
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen(
            [str(HOTLINE), *args], env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower
        )
        os.close(follower)
        stdout, _ = process.communicate(timeout=180)
        reader.join(timeout=30)
    finally:
        os.close(leader)
    return Ran(process.returncode, stdout.decode("utf-8"), b"".join(chunks).decode("utf-8", "replace"))


def drawn(ran: Ran, *words: str) -> None:
    """The bars of `words` were drawn to the end on the terminal, and nothing of them reached stdout."""
    assert ran.code == 0, ran.stdout + ran.stderr
    for word in words:
        assert word in ran.stderr, (word, ran.stderr)
    assert PERCENT in ran.stderr, ran.stderr
    assert "%|" not in ran.stdout and not any(word in ran.stdout for word in words)


def quiet(ran: Ran) -> None:
    """No terminal: the command's own lines on stdout, and stderr empty."""
    assert ran.code == 0, ran.stdout + ran.stderr
    assert ran.stderr == "" and "%|" not in ran.stdout


def test_register_work_shows_bars_on_a_terminal_only(
    environ: dict[str, str], services: Services, tmp_path: Path
) -> None:
    made = run(environ, "demo-data", "--residents", "300", "--community", "进度社区", terminal=True)
    drawn(made, "生成演示社区")
    assert "进度社区:" in made.stdout and "300 residents" in made.stdout
    plain = run(environ, "demo-data", "--residents", "40", "--community", "安静社区", terminal=False)
    quiet(plain)
    assert plain.stdout.startswith("安静社区:")

    exported = CliRunner(env=environ).invoke(main, ["export", "residents", str(tmp_path / "register.csv")])
    assert exported.exit_code == 0, exported.output
    imported = run(environ, "import", "residents", str(tmp_path / "register.csv"), terminal=True)
    drawn(imported, "检查各行", "写入各行")
    assert "340/340" in imported.stderr  # every row checked, then every row written
    assert "imported register.csv: 0 new, 0 updated, 340 unchanged" in imported.stdout
    again = run(environ, "import", "residents", str(tmp_path / "register.csv"), terminal=False)
    quiet(again)
    assert again.stdout.strip() == "imported register.csv: 0 new, 0 updated, 340 unchanged"

    english = run({**environ, "HOTLINE_LANGUAGE": "en"}, "call", "--community", "安静社区", "--yes", terminal=True)
    drawn(english, "Arranging calls")
    assert "40/40" in english.stderr and english.stdout.startswith("calling ")
    quiet(run(environ, "call", "--community", "安静社区", "--yes", terminal=False))


def test_database_work_shows_bars_on_a_terminal_only(
    environ: dict[str, str], services: Services, tmp_path: Path
) -> None:
    assert CliRunner(env=environ).invoke(main, ["demo-data", "--residents", "60"]).exit_code == 0
    backed_up = run(environ, "db", "backup", str(tmp_path / "one.backup"), terminal=True)
    drawn(backed_up, "备份")
    assert "3/3" in backed_up.stderr and backed_up.stdout.startswith("backup written to ")
    quiet(run(environ, "db", "backup", str(tmp_path / "two.backup"), terminal=False))

    target = f"sqlite:///{tmp_path / 'copy.sqlite3'}"
    copied = run(environ, "db", "copy", "--to", target, terminal=True)
    drawn(copied, "复制数据", "核对两个数据库")
    assert "digests match" in copied.stdout
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    quiet(run(environ, "db", "copy", "--to", other, terminal=False))

    if POSTGRES:
        return  # a pg_dump backup restores into PostgreSQL only, and the run's one database is in use
    elsewhere = {**environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'restored.sqlite3'}"}
    restored = run(elsewhere, "db", "restore", str(tmp_path / "one.backup"), terminal=True)
    drawn(restored, "恢复")
    assert "4/4" in restored.stderr and restored.stdout.startswith("restored ")
    again = {**environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'again.sqlite3'}"}
    quiet(run(again, "db", "restore", str(tmp_path / "two.backup"), terminal=False))


@pytest.mark.one_store
def test_bars_are_not_drawn_for_a_stream_that_is_not_a_terminal(tmp_path: Path) -> None:
    from hotline.cli.progress import TerminalBars

    with (tmp_path / "log").open("w", encoding="utf-8") as log, TerminalBars("zh-CN", log) as bars:
        bars.stage("rows_checked", 3)
        bars.advance(3)
    assert (tmp_path / "log").read_text(encoding="utf-8") == ""
