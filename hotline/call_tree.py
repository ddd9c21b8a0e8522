"""The voice menu's picture, laid out by Graphviz: `dispatch.ivr.graph.to_dot`'s DOT run through `dot -Tsvg`.

Graphviz is a program on the server (Debian: `apt-get install graphviz fonts-noto-cjk`), run here with a bounded
time. Without it, or when it fails, `draw_svg` raises `NoPicture`: the console then lists the menu in words
(`dispatch.ivr.graph.outline`) and `hotline ivr graph` says what to install.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess

from dispatch.ivr.graph import GraphWords, to_dot
from dispatch.ivr.script import IvrScript
from dispatch.texts import MessageCatalog

log = logging.getLogger(__name__)

DOT_SECONDS = 10.0  # the shipped menu takes well under a second; a runaway layout must not hold a request
_BEFORE_SVG = re.compile(r"\A.*?(?=<svg\b)", re.S)  # the XML declaration and DOCTYPE: not for inline SVG
_COMMENT = re.compile(r"<!--.*?-->", re.S)


class NoPicture(Exception):
    """Graphviz could not draw the picture: `reason` is "missing" (not installed) or "failed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def graph_words(texts: MessageCatalog, language: str) -> GraphWords:
    """The picture's own words in `language`, from the console's catalog (`ivr_graph_…`)."""

    def word(key: str) -> str:
        return texts.render(f"ivr_graph_{key}", language)

    callers = {kind: word(f"caller_{kind}") for kind in ("resident", "liaison", "unknown", "checkin")}
    key = texts.texts.get(language, texts.texts["zh-CN"])["ivr_graph_key"]  # filled per key by the graph
    return GraphWords(callers, word("person"), word("voicemail"), word("end"), key, word("name"))


def draw_svg(dot_source: str, timeout: float = DOT_SECONDS) -> str:
    """The SVG Graphviz's `dot` lays out for `dot_source`, ready to put inline in a page.

    Raises:
        NoPicture: `dot` is not installed ("missing"), or it failed or ran out of time ("failed").
    """
    program = shutil.which("dot")
    if program is None:
        raise NoPicture("missing")
    try:
        done = subprocess.run(  # noqa: S603 (a fixed program; the DOT goes in on stdin, never as an argument)
            [program, "-Tsvg"], input=dot_source.encode("utf-8"), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        log.warning("dot did not finish the voice menu's picture within %.0f s", timeout)
        raise NoPicture("failed") from None
    except OSError as exc:
        log.warning("dot could not be run: %s", exc)
        raise NoPicture("failed") from exc
    if done.returncode != 0 or b"<svg" not in done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip()[:300]
        log.warning("dot failed on the voice menu's picture (exit %s): %s", done.returncode, message)
        raise NoPicture("failed")
    return _COMMENT.sub("", _BEFORE_SVG.sub("", done.stdout.decode("utf-8"), count=1))


def call_tree_svg(script: IvrScript, language: str, texts: MessageCatalog) -> str:
    """The call tree of `script` in `language` as an SVG picture (see `draw_svg` for what it raises)."""
    return draw_svg(to_dot(script, language, graph_words(texts, language)))
