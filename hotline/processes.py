"""Child processes that shut down in order, and never outlive the `hotline` process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def as_owned_child() -> None:
    """`preexec_fn` for our children (redis-server, web, worker, scheduler).

    A new session keeps Ctrl-C in a terminal from reaching them all at once: the parent stops them in order,
    workers before Redis. On Linux, the kernel also sends SIGTERM to the child if its parent dies unseen.
    """
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
