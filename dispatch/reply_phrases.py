"""Reading the words of a resident's message: one pass over the text, the longest known phrase at each place.

Each phrase has one kind: a meaning (fine, a need, unwell), neutral (read, meaning nothing), or a softener (有点,
不太). Negations (不用) may also be fine-words. The rules, in the order they matter:

- A health word is never cancelled: not by a negation, a softener, nor anything else said with it.
- A negation just before a need (不用买菜) turns it into "fine"; a negating softener just before a fine-word (不太
  舒服, 不怎么好) turns it into "unwell".
- A part of the body named (脚崴了, 眼睛看不清了) is a health sign unless all the rest reads as fine (腿好多了).
- Whatever no phrase covers is left over: a message is only fine when nothing is left over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOFT = "soft"  # a degree word or hedge: 有点, 好像
NEGATING_SOFT = "negating-soft"  # a degree word that negates a fine-word after it: 不太, 不怎么
NEUTRAL = "neutral"
BODY = "body"  # a part of the body (头, 腿, 胸口): with anything not read as fine, a health sign
NEGATION_REACH = 2  # characters between a negation and the need it cancels: 不用帮我买菜
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LEFTOVER = re.compile(r"[\u4e00-\u9fff]|[^\W\d_\u4e00-\u9fff]+")
_PUNCTUATION = re.compile(r"[^\w\s]")


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def trie_pattern(words: list[str]) -> str:
    """A regex matching any of `words`, the longest one where several start at the same place.

    Built as a trie (不(?:舒服|太(?:好)?)?) so that each place in a message costs one look per character, however
    many words there are.
    """
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:  # type: ignore[type-arg]
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def phrase_pattern(words: list[str]) -> re.Pattern[str]:
    """One regex for every phrase: English ones as whole words, Chinese ones anywhere."""
    english = [w for w in words if not has_cjk(w)]
    chinese = [w for w in words if has_cjk(w)]
    parts = []
    if english:
        parts.append(rf"(?<![a-z]){_starts(english)}(?:{trie_pattern(english)})(?![a-z])")
    if chinese:
        parts.append(_starts(chinese) + trie_pattern(chinese))
    return re.compile("|".join(parts) or r"(?!)")


def _starts(words: list[str]) -> str:
    """A look ahead at the first character: most places in a message start no phrase, and this rules them out
    in one look instead of one per branch of the trie."""
    return "(?=[" + "".join(sorted({re.escape(w[0]) for w in words})) + "])"


@dataclass(frozen=True)
class PhraseTable:
    """The phrases of the keyword file, ready to read with."""

    pattern: re.Pattern[str]
    kinds: dict[str, str]  # phrase → meaning, NEUTRAL, SOFT or NEGATING_SOFT
    negations: frozenset[str]
    choose: frozenset[str]  # words that make the lone digit after them a menu choice: 回复2

    @classmethod
    def build(cls, kinds: dict[str, str], negations: frozenset[str], choose: frozenset[str]) -> PhraseTable:
        return cls(phrase_pattern(list(kinds)), kinds, negations, choose)


@dataclass
class PhraseReading:
    """What the words of a message say, with where each was said."""

    found: list[tuple[int, str]]  # (position, meaning), fine included
    leftover: int  # Chinese characters and other words no phrase covers
    spans: list[tuple[int, int, str]]  # every phrase read: (start, end, phrase)
    body: int | None  # where a part of the body was first named


def read_phrases(text: str, table: PhraseTable) -> PhraseReading:
    """The phrases in `text`, left to right, the longest at each place."""
    found: list[tuple[int, str]] = []
    spans: list[tuple[int, int, str]] = []
    rest: list[str] = []
    last = 0
    body: int | None = None
    negation_end = -1  # where the last negation ended
    softened_end = -1  # where the last negating softener (and any softeners after it) ended
    for match in table.pattern.finditer(text):
        start, end, phrase = match.start(), match.end(), match.group()
        if start == end:
            continue
        kind = table.kinds[phrase]
        gap = text[last:start]
        rest.append(gap)
        last = end
        spans.append((start, end, phrase))
        softened = softened_end >= 0 and not gap.strip()  # a negating softener chain ends just before this
        meaning = kind
        if kind == NEGATING_SOFT or (kind == SOFT and softened):
            softened_end = end
            continue
        softened_end = -1
        if kind == BODY:
            body = start if body is None else body
            continue
        if kind == "fine" and softened:
            meaning = "unwell"  # 不太舒服, 不怎么好: a degree word never makes a health reading weaker
        elif kind not in ("fine", "unwell", NEUTRAL, SOFT):
            if _cancelled(text, negation_end, start):
                meaning = "fine"  # 不用买菜: no groceries, and the resident is telling us they are fine
            negation_end = -1  # a negation cancels one need: 不要米 要油 is groceries
        if phrase in table.negations:
            negation_end = end
        if meaning not in (NEUTRAL, SOFT, NEGATING_SOFT):
            found.append((start, meaning))
    rest.append(text[last:])
    leftover = len(_LEFTOVER.findall("".join(rest)))
    return PhraseReading(found, leftover, spans, body)


def _cancelled(text: str, negation_end: int, start: int) -> bool:
    if negation_end < 0 or start - negation_end > NEGATION_REACH:
        return False
    return _PUNCTUATION.search(text[negation_end:start]) is None
