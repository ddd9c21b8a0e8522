"""The web process's heap, set up once it has started: fewer, cheaper garbage collections on every request.

Everything made while starting (the ORM's mappings, the voice script, the catalogs) lives as long as the process:
`gc.freeze()` keeps it out of the collector's scans, which would otherwise walk it again and again. And a webhook
allocates a few thousand objects, nearly all freed by their reference counts as soon as it answers: with Python's
default threshold (a collection of the youngest generation every 700 allocations), the collector ran several times
per request and found next to nothing. Every `YOUNGEST` allocations it still runs, and the older generations as
often as before relative to it, so garbage in reference cycles is still collected, a few MB at most later.
"""

from __future__ import annotations

import gc

YOUNGEST = 50_000  # allocations between two collections of the youngest generation (Python's default: 700)
OLDER = (20, 10)  # collections of one generation between two of the next (Python's default: 10, 10)


def settle_heap() -> None:
    """Freeze what starting made, and collect the youngest generation every `YOUNGEST` allocations."""
    gc.freeze()
    gc.set_threshold(YOUNGEST, *OLDER)
