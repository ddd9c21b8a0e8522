"""Progress bars for the command line's long work (import, db copy, backup, restore, call, demo-data).

tqdm draws them on stderr, and only when stderr is a terminal: a log, a pipe or CI gets nothing extra, and stdout
keeps only the command's own lines. The stages' words are the catalog's (`hotline/console/texts/progress.toml`)
in HOTLINE_LANGUAGE.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import NoReturn, TextIO

from tqdm import tqdm

from dispatch.texts import MessageCatalog

WORDS_FILE = Path(__file__).parents[1] / "console" / "texts" / "progress.toml"
KNOWN = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"
UNKNOWN = "{desc}: {n_fmt} [{elapsed}]"


class TerminalBars:
    """A `dispatch.progress.Progress` drawn as one bar per stage on stderr, if stderr is a terminal.

    Use as a context manager: the last bar is closed (and left on screen) at the end, however the work ends.
    """

    def __init__(self, language: str, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.language = language
        self.shown = self.stream.isatty()
        self.words = MessageCatalog.load(WORDS_FILE) if self.shown else None
        self.bar: tqdm[NoReturn] | None = None

    def stage(self, key: str, total: int | None = None) -> None:
        self.close()
        if self.words is None:
            return
        self.bar = tqdm(
            total=total,
            desc=self.words.render(f"progress_{key}", self.language),
            file=self.stream,
            bar_format=KNOWN if total else UNKNOWN,
            dynamic_ncols=True,
            mininterval=0.2,
            leave=True,
        )

    def advance(self, steps: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> TerminalBars:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
