"""Small charts drawn on the server as SVG: no script, no library, readable without colour.

Each chart is an `<svg role="img">` named by its `<title>` and `<desc>` (screen readers read those), every bar or
segment carries its number as text, and every segment has a `<title>` (a tooltip) saying what it is. Colours are
calm and always come with words: a legend in the order of the stack (`legend`), and numbers on the bars. The page should
still show the numbers as a table beside the chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

INK, MUTED, LINE = "#1d2329", "#5f6b76", "#d6dde3"
BAR = "#7b9cc9"  # one calm blue for plain bars


@dataclass(frozen=True)
class Series:
    """One part of a stacked column: its key in the data, its words, its colour."""

    key: str
    label: str
    colour: str


def _open(chart_id: str, title: str, description: str, width: int, height: int) -> list[str]:
    ident = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="inherit">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


def _text(
    x: float, y: float, words: object, *, size: int = 13, anchor: str = "start", fill: str = INK, weight: str = "normal"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
        f'font-weight="{weight}">{escape(str(words))}</text>'
    )


def text_width(words: str, size: int) -> float:
    """About how wide `words` are drawn at `size`: a CJK character is a full em, anything else about half."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in words)


def legend(series: Sequence[Series]) -> Markup:
    """The words for a stacked chart's colours, as an HTML list in stacking order (bottom first). It is HTML, not
    part of the SVG, so it wraps on a narrow screen and stays in view while a wide chart scrolls."""
    # Each swatch is a small SVG filled by attribute, not a style="" one: the pages' CSP allows no inline style.
    items = "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" '
        f'fill="{escape(item.colour)}"/></svg>{escape(item.label)}</li>'
        for item in series
    )
    return Markup(f'<ul class="legend">{items}</ul>')  # noqa: S704  # escaped above


def bars(*, chart_id: str, title: str, description: str, items: Sequence[tuple[str, int]], colour: str = BAR) -> Markup:
    """Horizontal bars, one per (label, value), the label on the left and the number at the end of the bar."""
    label_width = int(min(180, max(80, max((text_width(label, 14) for label, _ in items), default=0) + 16)))
    value_width, row, width = 48, 30, 400
    height = max(1, len(items)) * row + 8
    top = max((value for _, value in items), default=0) or 1
    span = width - label_width - value_width
    parts = _open(chart_id, title, description, width, height)
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        length = span * value / top
        parts.append(f'<g class="bar"><title>{escape(label)}: {value}</title>')
        parts.append(_text(label_width - 8, y + 19, label, size=14, anchor="end"))
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 10}" rx="3" '
            f'fill="{escape(colour)}"/>'
        )
        parts.append(_text(label_width + length + 6, y + 19, value, size=14, weight="600"))
        parts.append("</g>")
    parts.append(f'<line x1="{label_width}" y1="2" x2="{label_width}" y2="{height - 2}" stroke="{LINE}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every piece of text above went through escape()


def stacked_columns(
    *,
    chart_id: str,
    title: str,
    description: str,
    columns: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[Series],
) -> Markup:
    """One column per (label, counts), its parts stacked in the order of `series` from the bottom, the total on
    top, each part's number inside it when there is room and its words in its tooltip. Show `legend(series)`
    beside it."""
    plot_height, axis_height, column_gap, column_width, left, headroom = 200, 24, 8, 36, 8, 20
    width = max(320, left * 2 + len(columns) * (column_width + column_gap))
    height = headroom + plot_height + axis_height
    top = max((sum(counts.get(s.key, 0) for s in series) for _, counts in columns), default=0) or 1
    base = headroom + plot_height
    parts = _open(chart_id, title, description, width, height)
    for i, (label, counts) in enumerate(columns):
        x = left + i * (column_width + column_gap)
        y = float(base)
        total = 0
        parts.append(f'<g class="column"><title>{escape(label)}</title>')
        for item in series:
            value = counts.get(item.key, 0)
            if not value:
                continue
            total += value
            h = plot_height * value / top
            y -= h
            parts.append(
                f'<rect class="part {escape(item.key)}" x="{x}" y="{y:.1f}" width="{column_width}" '
                f'height="{h:.1f}" fill="{escape(item.colour)}"><title>{escape(label)} '
                f"{escape(item.label)}: {value}</title></rect>"
            )
            if h >= 15:
                parts.append(_text(x + column_width / 2, y + h / 2 + 4.5, value, size=12, anchor="middle"))
        parts.append(_text(x + column_width / 2, y - 4, total, size=12, anchor="middle", weight="600"))
        parts.append(_text(x + column_width / 2, base + 17, label, size=12, anchor="middle", fill=MUTED))
        parts.append("</g>")
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="{LINE}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every piece of text above went through escape()
