"""How many SMS segments a text costs, by the GSM 03.38 rules Twilio bills by.

GSM-7: 160 characters in one segment, 153 per segment when split; the extension characters (^{}\\[~]|€ and form
feed) take two. Any character outside GSM-7 makes the whole message UCS-2: 70 in one segment, 67 per segment
when split, counted in UTF-16 code units (an emoji outside the BMP takes two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_BASIC, _EXTENSION = frozenset(GSM7_BASIC), frozenset(GSM7_EXTENSION)


@dataclass(frozen=True)
class SegmentCount:
    """The encoding a text needs, its length in that encoding's units, and the segments it costs."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int
    segments: int


def count_segments(text: str) -> SegmentCount:
    """Count the segments of `text`. An empty text is one segment, as a carrier bills it."""
    if all(ch in _BASIC or ch in _EXTENSION for ch in text):
        units = sum(2 if ch in _EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / multi)
    return SegmentCount(encoding, units, segments)


def fit_segments(text: str, max_segments: int, ellipsis: str = "…") -> str:
    """`text`, cut at the end with `ellipsis` if needed so it costs at most `max_segments`."""
    if count_segments(text).segments <= max_segments:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, with the ellipsis
        middle = (low + high + 1) // 2
        if count_segments(text[:middle] + ellipsis).segments <= max_segments:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ellipsis
