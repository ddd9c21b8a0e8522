"""The call tree as staff read it: Graphviz DOT for its picture, and the same tree as an outline of nested items.

Each box is a node, titled as staff call it (its `title`) with the first words callers hear; each arrow is the
keys that lead there. Putting through, voicemail and the end of the call are boxes of their own, so "how does a
caller reach a person from here?" can be answered by looking. Graphviz's `dot` lays the picture out (run by
`hotline/call_tree.py`; this module only writes its input). `outline` is the tree for a reader without the
picture: a screen reader, or a server without Graphviz.

The fixed words (who is calling, a person, voicemail, the end of the call, how a key is written) are the
caller's, from its catalog: `GraphWords`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from dispatch.ivr.check import edges
from dispatch.ivr.script import IvrScript, Node

FONT = "Noto Sans CJK SC"  # Debian's fonts-noto-cjk; Graphviz measures the labels with it, browsers draw with it
SUMMARY_CHARS = 18
SPECIALS = ("person", "voicemail", "end")


@dataclass(frozen=True)
class GraphWords:
    """The picture's own words, in one language."""

    callers: Mapping[str, str]  # caller kind ("resident", "checkin", …) → who is calling
    person: str
    voicemail: str
    end: str
    key: str  # how a key is written: "{digit}" and "{words}" (what the menu says of it)
    name: str  # the picture's name (the SVG's title)


@dataclass(frozen=True)
class Arrow:
    """The keys that lead from one box to another (none: the call goes on by itself)."""

    source: str  # a node's name, "caller:<kind>", or "special:<person|voicemail|end>"
    target: str
    keys: tuple[str, ...]


def title(node: Node, language: str) -> str:
    """What staff call `node` in `language`: its title, else its zh-CN title, else its name in the script."""
    return node.title.get(language) or node.title.get("zh-CN") or node.name


def summary(node: Node, language: str) -> str:
    """The first words callers hear at `node`, cut short."""
    words = node.intro.get(language) or node.prompt.get(language) or ""
    return words if len(words) <= SUMMARY_CHARS else words[: SUMMARY_CHARS - 1] + "…"


def _key(node: Node, digit: str, language: str, words: GraphWords) -> str:
    option = node.option(digit)
    said = option.say.get(language, "").rstrip("，。、,.; ") if option else ""
    return words.key.format(digit=digit, words=said) if said else digit


def arrows(script: IvrScript, language: str, words: GraphWords) -> list[Arrow]:
    """Every arrow of the tree, in the script's order; the keys from one box to the same other box share one."""
    found: dict[tuple[str, str], list[str]] = {}
    for kind, name in script.entry.items():
        found.setdefault((f"caller:{kind}", name), [])
    for node in script.nodes.values():
        for label, target in edges(script, node):
            keys = found.setdefault((node.name, target), [])
            if label not in ("next", "then"):
                keys.append(_key(node, label, language, words))
        for option in node.options:
            if option.do in ("person", "voicemail"):
                found.setdefault((node.name, f"special:{option.do}"), []).append(
                    _key(node, option.digit, language, words)
                )
        if node.end:
            found.setdefault((node.name, "special:end"), [])
    return [Arrow(source, target, tuple(keys)) for (source, target), keys in found.items()]


def box_names(script: IvrScript, language: str, words: GraphWords) -> dict[str, str]:
    """Each box's words: a node's title, who is calling, or a special; the same title twice gets the node's name."""
    names = {f"caller:{kind}": words.callers.get(kind, kind) for kind in script.entry}
    names |= {f"special:{special}": getattr(words, special) for special in SPECIALS}
    titles = [title(node, language) for node in script.nodes.values()]
    for node in script.nodes.values():
        shown = title(node, language)
        clash = titles.count(shown) > 1 or shown in names.values()
        names[node.name] = f"{shown} ({node.name})" if clash and shown != node.name else shown
    return names


def _quoted(text: str) -> str:
    """`text` as a DOT string: a backslash would escape the quote after it, so it is drawn as a look-alike."""
    flat = " ".join(text.split())
    return '"' + flat.replace("\\", "＼").replace('"', '\\"') + '"'


def _node_label(heading: str, words: str) -> str:
    """A box's label, as Graphviz's HTML-like text: the title in bold, the first words below it."""
    label = f"<B>{escape(heading)}</B>"
    if words:
        label += f'<BR/><FONT POINT-SIZE="11" COLOR="#333333">{escape(words)}</FONT>'
    return f"<{label}>"


def to_dot(script: IvrScript, language: str, words: GraphWords) -> str:
    """The tree in Graphviz DOT, left to right from who is calling; render with `dot -Tsvg`.

    Box ids are the boxes' words (Graphviz writes them as each box's SVG title, read out by screen readers).
    """
    names = box_names(script, language, words)
    lines = [
        f"digraph {_quoted(words.name)} {{",
        f'  graph [rankdir=LR, fontname="{FONT}", nodesep=0.3, ranksep=0.7, pad=0.2, bgcolor="white"];',
        f'  node [fontname="{FONT}", fontsize=13, shape=box, style="rounded,filled", fillcolor="#f5f7ff", '
        'color="#445566", margin="0.14,0.06"];',
        f'  edge [fontname="{FONT}", fontsize=12, color="#555555", fontcolor="#7a1c1c", arrowsize=0.8];',
    ]
    for kind in script.entry:
        key = f"caller:{kind}"
        lines.append(f'  {_quoted(names[key])} [shape=plaintext, style="", label={_node_label(names[key], "")}];')
    for node in script.nodes.values():
        lines.append(f"  {_quoted(names[node.name])} [label={_node_label(names[node.name], summary(node, language))}];")
    for special in SPECIALS:
        name = names[f"special:{special}"]
        lines.append(f'  {_quoted(name)} [shape=ellipse, fillcolor="#fff6e0", label={_node_label(name, "")}];')
    for arrow in arrows(script, language, words):
        source, target = names.get(arrow.source, arrow.source), names.get(arrow.target, arrow.target)
        label = "".join(_quoted(key)[1:-1] + "\\l" for key in arrow.keys)
        attributes = f' [label="{label}"]' if label else ""
        lines.append(f"  {_quoted(source)} -> {_quoted(target)}{attributes};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ── The outline ──────────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class OutlineItem:
    """One box in the outline: the keys that lead to it, its words, and where its own keys lead."""

    keys: tuple[str, ...]
    name: str
    words: str = ""
    seen: bool = False  # shown earlier in the outline; its keys are listed there
    children: tuple[OutlineItem, ...] = ()


def outline(script: IvrScript, language: str, words: GraphWords) -> list[OutlineItem]:
    """The tree as nested items, one per kind of caller: each box once in full, in the order a caller meets it."""
    names = box_names(script, language, words)
    leaving: dict[str, list[Arrow]] = {}
    for arrow in arrows(script, language, words):
        leaving.setdefault(arrow.source, []).append(arrow)
    shown: set[str] = set()

    def item(box: str, keys: tuple[str, ...]) -> OutlineItem:
        node = script.nodes.get(box)
        text = summary(node, language) if node is not None else ""
        if box in shown or box.startswith("special:"):
            return OutlineItem(keys, names.get(box, box), text, seen=box in shown)
        shown.add(box)
        children = tuple(item(arrow.target, arrow.keys) for arrow in leaving.get(box, []))
        return OutlineItem(keys, names.get(box, box), text, children=children)

    return [item(f"caller:{kind}", ()) for kind in script.entry]
