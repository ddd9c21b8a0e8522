"""Understanding what a resident texts: menu digits, words in Chinese or English, temperatures, stop words.

The words live in `ivr_scripts/menu_digits.toml` and `ivr_scripts/reply_keywords.toml`; this module only knows
how to read them. Anything it cannot read is reported as not understood, for a clerk to triage; nothing is
dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from dispatch.exceptions import MessageCatalogError
from dispatch.script_data import load_versioned_toml
from ivr_scripts import SCRIPTS_DIR

MENU_FILE = SCRIPTS_DIR / "menu_digits.toml"
KEYWORDS_FILE = SCRIPTS_DIR / "reply_keywords.toml"
MEANINGS = ("fine", "groceries", "medicine", "unwell", "rubbish", "parcel", "callback", "visit")
NEEDS = MEANINGS[1:]
NEUTRAL = "neutral"  # greetings: read, and meaning nothing
DEFAULT_FEVER_THRESHOLD = 37.3
BODY_TEMPERATURE = (34.0, 43.0)  # outside this, a number is not a temperature

_CJK = re.compile(r"[\u4e00-\u9fff]")
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
# 36.8, 36.8度, 36度8, 37.5℃, 体温38, 38°C. A bare "38" is not one: it may be a menu choice or a building.
_ARABIC_TEMPERATURE = re.compile(
    r"(?P<before>体温|温度|发烧|烧到|量了)?\s*(?<![\d.])(\d{2})(?:\.(\d{1,2})|\s*度\s*(\d)(?!\d))?(?![\d.])"
    r"\s*(?P<unit>度|℃|°c|°)?"
)
# What may be left of a "fine" message once its phrases are read: a couple of filler characters or words.
FINE_LEFTOVER = 2
# 三十七度五, 三十八度, 三十七点五
_CHINESE_TEMPERATURE = re.compile(r"([三四])十([一二三四五六七八九])?(?:度|点)([一二三四五六七八九零])?")
_MENU_ONLY = re.compile(r"^[\s0-9,，。.;；、/+和及]*$")


@dataclass(frozen=True)
class Reading:
    """What one message says."""

    needs: tuple[str, ...] = ()  # in the order first said: groceries, medicine, unwell, …
    fine: bool = False
    temperature: float | None = None
    fever: bool = False
    opt_out: bool = False
    opt_in: bool = False

    @property
    def understood(self) -> bool:
        """False if nothing in the message could be read: it goes to a clerk as it is."""
        return bool(self.needs or self.fine or self.temperature is not None or self.opt_out or self.opt_in)

    @property
    def urgent(self) -> bool:
        """True if the resident is unwell or has a fever."""
        return "unwell" in self.needs

    def describe(self) -> str:
        """A stable one-line summary, used by the reply table test: `groceries+rubbish`, `fine t=36.5`."""
        if self.opt_out:
            return "opt_out"
        if self.opt_in:
            return "opt_in"
        head = "+".join(self.needs) or ("fine" if self.fine or self.temperature is not None else "other")
        return head + (f" t={self.temperature:.1f}" if self.temperature is not None else "")


@dataclass(frozen=True)
class _Phrase:
    text: str
    meaning: str
    pattern: re.Pattern[str] | None  # English: whole words; Chinese: plain substring (None)


@dataclass
class ReplyVocabulary:
    """The menu digits and the words, checked on load."""

    digits: dict[str, str]
    phrases: list[_Phrase]
    negations: list[str]
    typos: dict[str, str]
    opt_out: set[str]
    opt_in: set[str]
    emergency_numbers: set[str]
    digit_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # digit → language → label
    sms_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # digit → language → short label

    def sms_menu(self, language: str) -> str:
        """The digit menu as the SMS check-in lists it: `1平安 2买菜 … 0回电`, zh-CN if the language is unknown."""
        sep = "" if language == "zh-CN" else " "
        return " ".join(f"{d}{sep}{by.get(language) or by.get('zh-CN', '')}" for d, by in self.sms_labels.items())

    @classmethod
    def load(cls, menu: Path = MENU_FILE, keywords: Path = KEYWORDS_FILE) -> ReplyVocabulary:
        """Read both files.

        Raises:
            MessageCatalogError: a file is malformed, of an unknown version, or names an unknown meaning.
        """
        menu_data, words = load_versioned_toml(menu), load_versioned_toml(keywords)
        digits, labels, sms_labels = {}, {}, {}
        for entry in menu_data.get("digit", []):
            if entry.get("meaning") not in MEANINGS or not str(entry.get("key", "")).isdigit():
                raise MessageCatalogError(f"{menu.name}: bad digit entry {entry!r}")
            digits[entry["key"]] = entry["meaning"]
            labels[entry["key"]] = {lang: entry[lang] for lang in ("zh-CN", "en") if lang in entry}
            sms_labels[entry["key"]] = {str(k): str(v) for k, v in dict(entry.get("sms", {})).items()}
        phrases = []
        groups = [*words.get("meanings", {}).items(), (NEUTRAL, words.get("neutral", {}))]
        for meaning, by_language in groups:
            if meaning not in (*MEANINGS, NEUTRAL):
                raise MessageCatalogError(f"{keywords.name}: unknown meaning {meaning!r}")
            for texts in by_language.values():
                for text in texts:
                    pattern = (
                        None if _CJK.search(text) else re.compile(rf"(?<![a-z]){re.escape(text.lower())}(?![a-z])")
                    )
                    phrases.append(_Phrase(text.lower(), meaning, pattern))
        phrases.sort(key=lambda p: -len(p.text))  # longest first: 不舒服 before 舒服, "not well" before "well"
        negations = [n.lower() for texts in words.get("negations", {}).values() for n in texts]
        return cls(
            digits=digits,
            phrases=phrases,
            negations=sorted(negations, key=len, reverse=True),
            typos={k.lower(): v.lower() for k, v in words.get("typos", {}).items()},
            opt_out={w.upper() for w in words.get("opt_out", {}).get("words", [])},
            opt_in={w.upper() for w in words.get("opt_in", {}).get("words", [])},
            emergency_numbers=set(words.get("emergency", {}).get("numbers", [])),
            digit_labels=labels,
            sms_labels=sms_labels,
        )


def normalise(text: str) -> str:
    """Full-width digits and letters to half-width (NFKC), lower case, trimmed."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def parse_reply(text: str, vocabulary: ReplyVocabulary, fever_threshold: float = DEFAULT_FEVER_THRESHOLD) -> Reading:
    """Read one message from a resident.

    Args:
        text: The message as received.
        vocabulary: Digits and words.
        fever_threshold: A temperature at or above this is a fever, and so unwell.

    Returns:
        What it says. `understood` is False when nothing could be read.
    """
    plain = normalise(text)
    bare = re.sub(r"[\s!.。！~～]+$", "", plain).upper()
    if bare in vocabulary.opt_out:
        return Reading(opt_out=True)
    if bare in vocabulary.opt_in:
        return Reading(opt_in=True)
    for typo, meant in vocabulary.typos.items():
        plain = plain.replace(typo, meant)

    temperature, plain = _take_temperature(plain)
    found: list[tuple[int, str]] = []  # (position, meaning)
    leftover = 0
    digits = re.sub(r"\D", "", plain)
    if digits in vocabulary.emergency_numbers and _MENU_ONLY.match(plain):
        found = [(0, "unwell")]  # 120: an emergency, not "fine, groceries, call back"
    elif _MENU_ONLY.match(plain) and digits:
        # Menu digits only if every digit is one; "39" or "38." is for a clerk to read, not a guess.
        if all(d in vocabulary.digits for d in digits):
            found = [(m.start(), vocabulary.digits[m.group()]) for m in re.finditer(r"\d", plain)]
    else:
        found, leftover = _find_phrases(plain, vocabulary)

    fever = temperature is not None and temperature >= fever_threshold
    if fever:
        found.append((len(plain), "unwell"))
    needs: list[str] = []
    for _, meaning in sorted(found):
        if meaning != "fine" and meaning not in needs:
            needs.append(meaning)
    # "Fine" only when that is nearly all the message says: 暖气坏了，好冷 is not fine, it is for a clerk.
    fine = any(meaning == "fine" for _, meaning in found) and leftover <= FINE_LEFTOVER
    return Reading(needs=tuple(needs), fine=fine, temperature=temperature, fever=fever)


def _find_phrases(text: str, vocabulary: ReplyVocabulary) -> tuple[list[tuple[int, str]], int]:
    """Phrases in `text`, longest first, each stretch of text used once; negated needs read as 'fine'.

    Returns:
        The meanings found with their positions, and how much is left unread: Chinese characters, plus words
        in other scripts.
    """
    taken = [False] * len(text)
    found: list[tuple[int, str]] = []
    for phrase in vocabulary.phrases:
        spans = (
            [(m.start(), m.end()) for m in phrase.pattern.finditer(text)]
            if phrase.pattern is not None
            else [(m.start(), m.start() + len(phrase.text)) for m in re.finditer(re.escape(phrase.text), text)]
        )
        for start, end in spans:
            if any(taken[start:end]):
                continue
            taken[start:end] = [True] * (end - start)
            meaning = phrase.meaning
            if meaning == NEUTRAL:
                continue
            if meaning in NEEDS and meaning != "unwell" and _negated(text[:start], vocabulary):
                meaning = "fine"  # 不用买菜: no groceries, and the resident is telling us they are fine
            found.append((start, meaning))
    rest = "".join(" " if used else ch for ch, used in zip(text, taken, strict=True))
    leftover = len(_CJK.findall(rest)) + len(re.findall(r"[^\W\d_\u4e00-\u9fff]+", rest))
    return found, leftover


def _negated(before: str, vocabulary: ReplyVocabulary) -> bool:
    tail = before.rstrip()[-6:]
    return any(tail.endswith(negation) or tail.endswith(negation + " ") for negation in vocabulary.negations)


def _take_temperature(text: str) -> tuple[float | None, str]:
    """The first body temperature in `text`, and the text without it."""
    for match in _ARABIC_TEMPERATURE.finditer(text):
        whole, tenths, after_du = match.group(2), match.group(3), match.group(4)
        if not (tenths or after_du or match.group("before") or match.group("unit")):
            continue
        value = float(f"{whole}.{tenths or after_du or 0}")
        if BODY_TEMPERATURE[0] <= value <= BODY_TEMPERATURE[1]:
            return round(value, 1), text[: match.start()] + " " + text[match.end() :]
    chinese = _CHINESE_TEMPERATURE.search(text)
    if chinese is not None:
        tens = _CN_DIGITS[chinese.group(1)] * 10 + (_CN_DIGITS[chinese.group(2)] if chinese.group(2) else 0)
        tenths = _CN_DIGITS[chinese.group(3)] if chinese.group(3) else 0
        value = tens + tenths / 10
        if BODY_TEMPERATURE[0] <= value <= BODY_TEMPERATURE[1]:
            return value, text[: chinese.start()] + " " + text[chinese.end() :]
    return None, text
