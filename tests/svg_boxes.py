"""Where Graphviz put things in an SVG: the box each text line takes, and the box each node's shape takes.

A text's box is worked out from its position, anchor and font size: a CJK character is one em wide, a Latin
letter about half an em (Noto Sans's widths, rounded up a little). `test_ivr_picture` checks the estimate against
the boxes Graphviz sized around each node's words.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml.ElementTree import fromstring

SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float
    what: str

    def overlaps(self, other: Box) -> bool:
        across = self.left < other.right and other.left < self.right
        return across and self.top < other.bottom and other.top < self.bottom


@dataclass(frozen=True)
class Group:
    """One `<g class="node">` or `<g class="edge">`: its title, its text lines and the box of its shape."""

    kind: str
    title: str
    texts: list[str]
    text_boxes: list[Box]
    shape: Box | None


NARROW = set(" ,.:;'!|()[]{}ijlrtf-")
WIDE = set("ABCDEFGHKMNOPQRSUVWXYZmw0123456789")


def char_width(ch: str) -> float:
    """A character's width in em."""
    if unicodedata.east_asian_width(ch) in "WF":
        return 1.0
    return 0.32 if ch in NARROW else 0.64 if ch in WIDE else 0.54


def text_width(text: str, size: float) -> float:
    return sum(char_width(ch) for ch in text) * size


def text_box(element: ET.Element) -> Box:
    text = element.text or ""
    size = float(element.get("font-size", "14"))
    x, y = float(element.get("x", "0")), float(element.get("y", "0"))
    width = text_width(text, size)
    anchor = element.get("text-anchor", "start")
    left = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return Box(left, y - 0.85 * size, left + width, y + 0.15 * size, text)


def shape_box(group: ET.Element, what: str) -> Box | None:
    points: list[float] = []
    for element in group:
        tag = element.tag.removeprefix(SVG)
        if tag == "path":
            points += map(float, _NUMBER.findall(element.get("d", "")))
        elif tag == "polygon":
            points += map(float, _NUMBER.findall(element.get("points", "")))
        elif tag == "ellipse":
            cx, cy = float(element.get("cx", "0")), float(element.get("cy", "0"))
            rx, ry = float(element.get("rx", "0")), float(element.get("ry", "0"))
            points += [cx - rx, cy - ry, cx + rx, cy + ry]
    if not points:
        return None
    xs, ys = points[0::2], points[1::2]
    return Box(min(xs), min(ys), max(xs), max(ys), what)


def groups(svg: str) -> list[Group]:
    """Every node and edge group of a Graphviz SVG."""
    root = fromstring(svg)
    found = []
    for group in root.iter(f"{SVG}g"):
        kind = group.get("class")
        if kind not in ("node", "edge"):
            continue
        title = group.findtext(f"{SVG}title") or ""
        texts = [element for element in group.iter(f"{SVG}text")]
        shape = shape_box(group, title) if kind == "node" else None
        found.append(Group(kind, title, [t.text or "" for t in texts], [text_box(t) for t in texts], shape))
    return found


def overlaps(svg: str) -> list[tuple[str, str]]:
    """Pairs of things that lie on top of each other: text lines of two different groups (key labels, titles),
    or a key label and a node's shape."""
    found = groups(svg)
    clashes = []
    for index, group in enumerate(found):
        for other in found[index + 1 :]:
            for mine in group.text_boxes:
                clashes += [(mine.what, theirs.what) for theirs in other.text_boxes if mine.overlaps(theirs)]
    labels = [box for group in found if group.kind == "edge" for box in group.text_boxes]
    shapes = [group.shape for group in found if group.shape is not None]
    clashes += [(label.what, shape.what) for label in labels for shape in shapes if label.overlaps(shape)]
    return clashes
