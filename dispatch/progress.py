"""How far long work has come, for whoever watches it: the domain tells stages and steps, an entry point draws them.

Long work (an import, a database copy, a backup or restore, placing calls, a demo community) takes a `Progress`
and tells it each stage, by a key the entry point has words for (`hotline/console/texts/progress.toml`), with the
steps it will take if known, then each step done. The CLI draws bars on a terminal; the console's import keeps the
numbers for its page to ask. By default nobody watches: `QUIET`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Protocol, TypeVar

T = TypeVar("T")

# The stages long work tells, each a key of the words' catalog (`progress_<stage>`).
STAGES = (
    "rows_checked",  # an import: the file's rows checked, every one before any is written
    "rows_written",  # an import: the rows applied, in the one transaction
    "tables_copied",  # `db copy`: rows copied into the target
    "digests",  # `db copy`: both databases digested, table by table
    "backup",  # `db backup`: its steps (copy, check, count, publish)
    "restore",  # `db restore`: its steps (check, copy, migrate, swap)
    "calls",  # `hotline call`: residents decided
    "demo",  # `demo-data`: residents generated and written
)


class Progress(Protocol):
    """Someone watching long work."""

    def stage(self, key: str, total: int | None = None) -> None:
        """Work of a new kind begins (one of `STAGES`); `total`: the steps it takes, if known."""

    def advance(self, steps: int = 1) -> None:
        """`steps` more of the current stage are done."""


class Quiet:
    """Nobody watching."""

    def stage(self, key: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


QUIET: Progress = Quiet()


def counted(progress: Progress, key: str, items: Iterable[T]) -> Iterator[T]:
    """`items`, one by one, as the stage `key`: each one taken counts as a step (its total: their number, if known)."""
    progress.stage(key, len(items) if isinstance(items, Sized) else None)
    for item in items:
        yield item
        progress.advance()
