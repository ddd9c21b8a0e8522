"""The call tree's picture, laid out by Graphviz: every box's Chinese title and every key as text, nothing on top
of anything else, the script's words escaped; `hotline ivr graph`; and what happens without a working `dot`."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from dispatch.ivr.graph import arrows, box_names, outline, title, to_dot
from dispatch.ivr.script import VOICE_SCRIPT_FILE, load_script
from hotline.call_tree import NoPicture, call_tree_svg, draw_svg, graph_words
from hotline.cli import main
from hotline.console.render import CONSOLE_TEXTS
from tests.svg_boxes import groups, overlaps

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"),
    reason="Debian's graphviz is not installed here; scripts/test installs it, and CI always runs this test",
)
CJK = re.compile(r"[\u4e00-\u9fff]")
ODD_NODE = """
[node.odd]
title = { "zh-CN" = "<i>\\"怪\\" & \\\\ 名</i>", en = "odd" }
prompt = { "zh-CN" = "<script>alert(1)</script>", en = "Tom & <b>Jerry</b>" }
end = true
"""


def texts_of(svg: str) -> list[str]:
    return [text for group in groups(svg) for text in group.texts]


@needs_dot
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_picture_shows_every_title_and_key_and_nothing_lies_on_anything_else(language: str) -> None:
    script = load_script()
    words = graph_words(CONSOLE_TEXTS, language)
    svg = call_tree_svg(script, language, CONSOLE_TEXTS)
    assert svg.startswith("<svg ") and "<!--" not in svg
    shown = texts_of(svg)
    names = box_names(script, language, words)
    for node in script.nodes.values():
        assert title(node, language) in shown, f"node {node.name} has no title in the picture"
        if language == "zh-CN":
            assert CJK.search(title(node, language)), f"node {node.name}: its title is not Chinese"
    assert set(names.values()) <= set(shown)  # who calls, a person, voicemail, the end of the call
    keys = [key for arrow in arrows(script, language, words) for key in arrow.keys]
    assert len(keys) > 20 and all(key in shown for key in keys), [key for key in keys if key not in shown]
    assert ("按4：身体不舒服按4" if language == "zh-CN" else "4: Feeling unwell, 4") in keys
    assert overlaps(svg) == []
    # The overlap check's text widths are close to Graphviz's own: each box is as wide as its widest line.
    for group in groups(svg):
        if group.kind == "node" and group.shape is not None:
            inset = min(box.left for box in group.text_boxes) - group.shape.left
            room = group.shape.right - group.shape.left - 2 * inset
            widest = max(box.right - box.left for box in group.text_boxes)
            assert 0.85 < widest / room < 1.1, group.title
    # Graphviz measured the labels with the font the page asks for (fonts-noto-cjk), on every text.
    assert set(re.findall(r'font-family="([^"]*)"', svg)) == {"Noto Sans CJK SC"}


def test_the_overlap_check_finds_labels_piled_on_each_other() -> None:
    def edge(number: int, x: float, y: float, label: str) -> str:
        return (
            f'<g class="edge"><title>e{number}</title>'
            f'<text text-anchor="middle" x="{x}" y="{y}" font-size="12">{label}</text></g>'
        )

    piled = f'<svg xmlns="http://www.w3.org/2000/svg">{edge(1, 100, 50, "2 买菜")}{edge(2, 110, 54, "3 买药")}</svg>'
    apart = f'<svg xmlns="http://www.w3.org/2000/svg">{edge(1, 100, 50, "2 买菜")}{edge(2, 100, 70, "3 买药")}</svg>'
    assert overlaps(piled) == [("2 买菜", "3 买药")] and overlaps(apart) == []
    on_a_box = (
        '<svg xmlns="http://www.w3.org/2000/svg"><g class="node"><title>n</title>'
        '<polygon points="90,30 160,30 160,60 90,60"/></g>' + edge(1, 100, 50, "2 买菜") + "</svg>"
    )
    assert overlaps(on_a_box) == [("2 买菜", "n")]


@needs_dot
def test_the_script_words_reach_the_picture_escaped(tmp_path: Path) -> None:
    path = tmp_path / "odd.toml"
    path.write_text(VOICE_SCRIPT_FILE.read_text(encoding="utf-8") + ODD_NODE, encoding="utf-8")
    script = load_script(path)
    assert script.nodes["odd"].title["zh-CN"] == '<i>"怪" & \\ 名</i>'
    svg = call_tree_svg(script, "zh-CN", CONSOLE_TEXTS)
    assert "<i>" not in svg and "<script" not in svg
    shown = texts_of(svg)  # parsed as XML: the page gets well-formed markup
    assert '<i>"怪" & \\ 名</i>' in shown and "<script>alert(1)<…" in shown


@needs_dot
def test_hotline_ivr_graph_draws_with_graphviz_and_prints_dot_without_it(tmp_path: Path) -> None:
    runner = CliRunner()
    drawn = runner.invoke(main, ["ivr", "graph", "-o", str(tmp_path / "tree.svg")])
    assert drawn.exit_code == 0, drawn.output
    svg = (tmp_path / "tree.svg").read_text(encoding="utf-8")
    assert "居民菜单" in texts_of(svg) and overlaps(svg) == []
    english = runner.invoke(main, ["ivr", "graph", "--language", "en"])
    assert english.exit_code == 0 and "Resident menu" in texts_of(english.output)
    no_dot = CliRunner(env={"PATH": str(tmp_path)})  # an empty folder: no dot on the way
    dot = no_dot.invoke(main, ["ivr", "graph", "--format", "dot"])
    assert dot.exit_code == 0 and dot.output.startswith('digraph "语音菜单" {')
    assert '"居民菜单" -> "道别" [label="按2：买菜请按2\\l按3：买药按3\\l按5：倒垃圾、取快递按5\\l"];' in dot.output
    missing = no_dot.invoke(main, ["ivr", "graph"])
    assert missing.exit_code == 1 and "apt-get install graphviz fonts-noto-cjk" in missing.output
    assert "Traceback" not in missing.output


def fake_dot(folder: Path, body: str) -> None:
    program = folder / "dot"
    program.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)


def test_a_missing_failing_or_stuck_dot_is_no_picture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = to_dot(load_script(), "zh-CN", graph_words(CONSOLE_TEXTS, "zh-CN"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NoPicture) as missing:
        draw_svg(source)
    assert missing.value.reason == "missing"
    fake_dot(tmp_path, "echo 'Error: syntax error in line 1' >&2; exit 1")
    with pytest.raises(NoPicture) as failed:
        draw_svg(source)
    assert failed.value.reason == "failed"
    fake_dot(tmp_path, "exec sleep 30")
    with pytest.raises(NoPicture) as stuck:
        draw_svg(source, timeout=0.5)
    assert stuck.value.reason == "failed"


def test_the_outline_lists_every_box_once_in_full_and_every_key() -> None:
    script = load_script()
    words = graph_words(CONSOLE_TEXTS, "zh-CN")
    tree = outline(script, "zh-CN", words)
    assert [item.name for item in tree] == ["居民来电", "联络员来电", "未登记号码来电", "每日问候电话"]
    full, seen, keys = [], [], []

    def walk(items: tuple[object, ...] | list[object]) -> None:
        for item in items:
            keys.extend(item.keys)  # type: ignore[attr-defined]
            (seen if item.seen else full).append(item.name)  # type: ignore[attr-defined]
            walk(item.children)  # type: ignore[attr-defined]

    walk(tree)
    for node in script.nodes.values():
        assert full.count(title(node, "zh-CN")) == 1
    assert "联络员菜单" in seen  # the liaison's tasks lead back to their menu: listed above, not again
    expected = [key for arrow in arrows(script, "zh-CN", words) for key in arrow.keys]
    assert sorted(keys) == sorted(expected)
