"""The data directory is its owner's alone: the register, the queues and the secrets in it hold residents' health.

`hotline run` and `hotline demo` set the umask to 077 before anything (SQLite, its -wal and -shm, redis-server's
AOF and RDB, the secrets) is created, so whatever umask the shell had (022, or even 000), new files are 0600 and
new folders 0700; the children they start inherit it. A data directory from before, whose files are 0644, is
tightened at start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)
PRIVATE_UMASK = 0o077  # no bit for the group or for others


def keep_private(data_dir: Path) -> None:
    """Make `data_dir` and everything under it readable by its owner only, now and for what this process (and its
    children) create next.

    Symbolic links are left alone (chmod would follow them out of the folder); the owner's own bits are kept.

    Args:
        data_dir: the hotline's data directory; created (0700) if missing.
    """
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tightened = _tighten(data_dir)
    for root, dirs, files in os.walk(data_dir):
        for name in [*dirs, *files]:
            tightened += _tighten(Path(root) / name)
    if tightened:
        log.info("data directory: %d files and folders made readable by their owner only", tightened)


def _tighten(path: Path) -> int:
    """Drop the group's and others' bits from `path`; 1 if it had any."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return 0
    path.chmod(stat.S_IMODE(mode) & 0o700)
    return 1
