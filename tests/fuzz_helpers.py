"""What the fuzz tests share: how many examples to run, the examples always run, and text that phones,
spreadsheets and fuzzers may hold."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, example, settings
from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "0"))


def fuzz_settings(ci_examples: int) -> settings:
    """`ci_examples` derandomized examples (the same every CI run), or HOTLINE_FUZZ_EXAMPLES random ones."""
    return settings(
        max_examples=FUZZ_EXAMPLES or ci_examples,
        derandomize=not FUZZ_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


# Text a phone, a spreadsheet or a fuzzer may hold: RTL and bidi marks, emoji sequences, NUL, BOMs, full-width
# digits and letters, combining marks, letters whose lower case is longer (İ), digits that are not 0-9, and lone
# surrogates (JSON may spell "\ud800"; no UTF-8 encoder takes one).
NASTY = [
    "\x00",
    "\ufeff",
    "\u202e",
    "\u200f",
    "\u200b",
    "مرحبا ١٢٣",
    "שלום",
    "😀",
    "👨‍👩‍👧",
    "🇨🇳",
    "１２３",
    "ＯＫ",
    "İ",
    "ß",
    "e\u0301",
    "²",
    "٣",
    "३६.५",
    "𝟑",
    "\r\n",
    "\t",
    '"',
    "'",
    ",",
    "；",
    "=1+1",
    "@SUM(A1)",
    "{name}",
    "{",
    "}",
    "%s",
    "\\",
    "<Say>",
    "]]>",
    "&amp;",
    "9" * 30,
    "9" * 5000,
    " ",
    "",
    "\ud800",
    "梁\udfff",
    "\udc00\ud800",
]


nasty = st.sampled_from(NASTY)
any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # Cs too: st.text() leaves surrogates out
texts = st.one_of(any_text, nasty, st.lists(st.one_of(nasty, any_text), max_size=5).map("".join))


def examples(*values: Any) -> Callable[[Any], Any]:
    """Inputs the fuzz once found a bug with, run on every run as well."""
    return lambda test: functools.reduce(lambda t, value: example(value)(t), reversed(values), test)
