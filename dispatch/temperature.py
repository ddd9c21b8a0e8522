"""Body temperatures in what residents text: 36.8, 37.5度, 37°5, 38度1, 37度半, 三十七度五, 三十八度多, 体温38.

The words (units, decimal points, 半, 多, what may come before a bare number) live in the `[temperature]` table of
`ivr_scripts/reply_keywords.toml`; this module only knows how to read numbers with them. A temperature is taken
out of the message whole, so none of its digits can be read as a menu choice, and the words around it (发烧,
不舒服) stay to be read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dispatch.exceptions import MessageCatalogError

BODY_TEMPERATURE = (34.0, 43.0)  # outside this, a number is not a temperature
CONTEXT_REACH = 6  # how far before a bare number its context word (体温) may be
_CN_NUMERALS = ("零〇", "一", "二两", "三", "四", "五", "六", "七", "八", "九")  # by value
_CN_DIGITS = {ch: n for n, chars in enumerate(_CN_NUMERALS) for ch in chars}
_CN_DIGIT = "[零〇一二两三四五六七八九]"
_CN_WHOLE = "[三四]十[一二三四五六七八九]?"  # 三十七, 四十: body temperatures only
_MAY_HOLD_ONE = re.compile(r"[\d十]")
_KEYS = ("context", "units", "points", "half", "over", "not_before")


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class TemperatureReader:
    """Finds body temperatures in normalised (lower-case, half-width) text."""

    pattern: re.Pattern[str]
    context: tuple[str, ...]
    half: frozenset[str]
    over: frozenset[str]

    @classmethod
    def from_table(cls, table: Mapping[str, object], source: str) -> TemperatureReader:
        """Build from the `[temperature]` table.

        Raises:
            MessageCatalogError: a key is missing or not a list of words.
        """
        words: dict[str, list[str]] = {}
        for key in _KEYS:
            value = table.get(key)
            if not isinstance(value, list) or not value or not all(isinstance(w, str) and w for w in value):
                raise MessageCatalogError(f"{source}: [temperature] {key} must be a non-empty list of words")
            words[key] = [w.lower() for w in value]
        units, points = _alternation(words["units"]), _alternation(words["points"])
        tenths = f"\\d(?![\\d.])|{_CN_DIGIT}(?!十)|{_alternation(words['half'] + words['over'])}"
        pattern = re.compile(
            rf"(?<![\d.〇零一二两三四五六七八九十百千])(?P<whole>\d{{2}}|{_CN_WHOLE})(?![\d十])"
            rf"(?:\s*(?P<point>{points})\s*(?P<dec>\d{{1,2}}(?![\d.])|{_CN_DIGIT})(?:\s*(?P<unit_after>{units}))?"
            rf"|\s*(?P<unit>{units})(?P<tenth>{tenths})?)?"
            rf"(?!\s*(?:{_alternation(words['not_before'])}))"
        )
        return cls(pattern, tuple(words["context"]), frozenset(words["half"]), frozenset(words["over"]))

    def take(self, text: str) -> tuple[float | None, str, int]:
        """The highest body temperature in `text`, the text with every temperature in it blanked out, and where the
        first one was said (for the order of needs).

        A number needs a decimal point, a unit or a context word before it (体温38) to be a temperature: a bare
        38 may be a menu choice or a building. "38度多" is read as 38.5, the middle of "a bit over 38".
        """
        if _MAY_HOLD_ONE.search(text) is None:
            return None, text, 0
        found: list[float] = []
        spans: list[tuple[int, int]] = []
        for match in self.pattern.finditer(text):
            value = self._value(match, text)
            if value is not None and BODY_TEMPERATURE[0] <= value <= BODY_TEMPERATURE[1]:
                found.append(round(value, 1))
                spans.append(match.span())
        if not found:
            return None, text, 0
        for start, end in reversed(spans):
            text = text[:start] + " " + text[end:]
        return max(found), text, spans[0][0]

    def _value(self, match: re.Match[str], text: str) -> float | None:
        whole_text = match.group("whole")
        whole = int(whole_text) if whole_text.isdigit() else _chinese_whole(whole_text)
        if match.group("point") is not None:
            return whole + _tenths(match.group("dec"))
        if match.group("unit") is not None:
            tenth = match.group("tenth")
            if not tenth:
                return float(whole)
            if tenth in self.half or tenth in self.over:
                return whole + 0.5
            return whole + _tenths(tenth)
        before = text[max(0, match.start() - CONTEXT_REACH) : match.start()]
        return float(whole) if any(word in before for word in self.context) else None


def _chinese_whole(text: str) -> int:
    return _CN_DIGITS[text[0]] * 10 + (_CN_DIGITS[text[2]] if len(text) > 2 else 0)


def _tenths(digits: str) -> float:
    if digits in _CN_DIGITS:
        return _CN_DIGITS[digits] / 10
    return int(digits) / float(10 ** len(digits))
