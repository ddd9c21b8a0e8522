"""`hotline ivr graph`: the call tree as staff can read it, in Graphviz DOT or a self-contained SVG.

Each box is a node with the first words callers hear; each arrow is a key. Putting through and voicemail are
drawn as their own boxes, so "how does a caller reach a person from here?" can be answered by looking.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from dispatch.ivr.check import edges
from dispatch.ivr.script import IvrScript, Node

SPECIAL = {"person": "☎ 转接 / a person", "voicemail": "✉ 留言 / voicemail", "end": "再见 / end of call"}
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 230, 56, 90, 26, 20


@dataclass(frozen=True)
class Arrow:
    """One way from a box to another."""

    source: str
    target: str
    label: str


def _summary(node: Node, language: str) -> str:
    words = node.intro.get(language) or node.prompt.get(language) or ""
    return words if len(words) <= 18 else words[:17] + "…"


def arrows(script: IvrScript, language: str = "zh-CN") -> list[Arrow]:
    """Every arrow of the tree: entries, keys, putting through, voicemail and the end of the call."""
    found = [Arrow(f"{kind} caller", node, "") for kind, node in script.entry.items()]
    for node in script.nodes.values():
        for label, target in edges(script, node):
            option = node.option(label)
            words = option.say.get(language, "").rstrip("，。,. ") if option else ""
            found.append(Arrow(node.name, target, f"{label} {words}".strip() if label != "next" else ""))
        for option in node.options:
            if option.do in ("person", "voicemail"):
                found.append(Arrow(node.name, SPECIAL[option.do], option.digit))
        if node.end:
            found.append(Arrow(node.name, SPECIAL["end"], ""))
    return found


def to_dot(script: IvrScript, language: str = "zh-CN") -> str:
    """The tree in Graphviz DOT (render with `dot -Tsvg`)."""
    lines = ["digraph ivr {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Noto Sans CJK SC"];']
    for name, node in script.nodes.items():
        lines.append(f'  "{name}" [label="{name}\\n{_summary(node, language)}"];')
    for special in SPECIAL.values():
        lines.append(f'  "{special}" [shape=ellipse];')
    for kind in script.entry:
        lines.append(f'  "{kind} caller" [shape=plaintext];')
    for arrow in arrows(script, language):
        label = arrow.label.replace('"', "'")
        lines.append(f'  "{arrow.source}" -> "{arrow.target}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(script: IvrScript, language: str = "zh-CN") -> str:
    """The tree as an SVG picture, laid out in columns by how many steps from the start a node is."""
    found = arrows(script, language)
    depth: dict[str, int] = {f"{kind} caller": 0 for kind in script.entry}
    changed = True
    while changed:  # longest-path layering would loop on cycles; the shortest distance from an entry is enough
        changed = False
        for arrow in found:
            if arrow.source in depth and depth[arrow.source] + 1 < depth.get(arrow.target, 10**6):
                depth[arrow.target] = depth[arrow.source] + 1
                changed = True
    for arrow in found:  # nodes nobody reaches go in a last column, where they stand out
        depth.setdefault(arrow.source, max(depth.values()) + 1)
    columns: dict[int, list[str]] = {}
    for name, level in sorted(depth.items(), key=lambda item: (item[1], item[0])):
        columns.setdefault(level, []).append(name)
    position = {}
    for level, names in columns.items():
        for row, name in enumerate(names):
            position[name] = (MARGIN + level * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y))
    width = MARGIN * 2 + len(columns) * (BOX_W + GAP_X)
    height = MARGIN * 2 + max(len(names) for names in columns.values()) * (BOX_H + GAP_Y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="12"><defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z"/></marker></defs>'
    ]
    for arrow in found:
        (x1, y1), (x2, y2) = position[arrow.source], position[arrow.target]
        sx, sy, tx, ty = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
        out.append(f'<line x1="{sx}" y1="{sy}" x2="{tx}" y2="{ty}" stroke="#666" marker-end="url(#a)"/>')
        if arrow.label:
            out.append(f'<text x="{(sx + tx) / 2}" y="{(sy + ty) / 2 - 3}" fill="#a33">{escape(arrow.label)}</text>')
    for name, (x, y) in position.items():
        node = script.nodes.get(name)
        out.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="#f5f7ff" stroke="#446"/>')
        out.append(f'<text x="{x + 8}" y="{y + 20}" font-weight="bold">{escape(name)}</text>')
        if node is not None:
            out.append(f'<text x="{x + 8}" y="{y + 40}">{escape(_summary(node, language))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
