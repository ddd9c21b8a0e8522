"""The segment counter against the published GSM 03.38 / Twilio rules."""

from __future__ import annotations

import pytest

from dispatch.segments import count_segments, fit_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("{" * 80, "GSM-7", 160, 1),  # an escape character costs two
        ("{" * 81, "GSM-7", 162, 2),
        ("a" * 159 + "€", "GSM-7", 161, 2),
        ("中" * 70, "UCS-2", 70, 1),
        ("中" * 71, "UCS-2", 71, 2),
        ("中" * 134, "UCS-2", 134, 2),
        ("中" * 135, "UCS-2", 135, 3),
        ("a" * 69 + "中", "UCS-2", 70, 1),  # one non-GSM character makes the whole text UCS-2
        ("a" * 70 + "中", "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, "UCS-2", 72, 2),
        ("Hotline: task 12 accepted.", "GSM-7", 26, 1),
        ("【社区热线】", "UCS-2", 6, 1),
    ],
)
def test_counts(text: str, encoding: str, units: int, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == (encoding, units, segments)


def test_fit_cuts_to_the_limit_with_an_ellipsis() -> None:
    long = "需要" * 100
    fitted = fit_segments(long, 2)
    assert count_segments(fitted).segments == 2 and fitted.endswith("…") and len(fitted) == 134
    assert fit_segments("短信", 1) == "短信"
