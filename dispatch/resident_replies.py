"""Understanding what a resident texts: menu digits, words in Chinese or English, temperatures, stop words.

The words live in `ivr_scripts/menu_digits.toml` and `ivr_scripts/reply_keywords.toml`; this module only knows
how to read them (temperatures with `dispatch/temperature.py`, phrases with `dispatch/reply_phrases.py`). Health
first: any health word, fever or emergency number makes a message unwell, whatever else it says, and a message is
fine only when all of it reads as fine. Anything it cannot read whole is reported as not understood, for a clerk
to triage; nothing is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch.exceptions import MessageCatalogError
from dispatch.reply_phrases import BODY, NEGATING_SOFT, NEUTRAL, SOFT, PhraseTable, has_cjk, read_phrases, trie_pattern
from dispatch.script_data import load_versioned_toml
from dispatch.temperature import BODY_TEMPERATURE as BODY_TEMPERATURE  # read here by callers
from dispatch.temperature import TemperatureReader
from ivr_scripts import SCRIPTS_DIR

MENU_FILE = SCRIPTS_DIR / "menu_digits.toml"
KEYWORDS_FILE = SCRIPTS_DIR / "reply_keywords.toml"
MEANINGS = ("fine", "groceries", "medicine", "unwell", "rubbish", "parcel", "callback", "visit")
NEEDS = MEANINGS[1:]
DEFAULT_FEVER_THRESHOLD = 37.3

# What may be in a message read as menu digits only: 2 3, 2,5, 2和3.
_MENU_ONLY = re.compile(r"^[\s0-9,，。.;；、/+和及]*$")
_LONE_DIGIT = re.compile(r"(?<![\d.])\d(?![\d.])")
_EDGE = re.compile(r"^[\W_]*|[\W_]*$")  # punctuation and spaces at either end
_NOT_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_TRAILING = " \t\r\n\x0b\x0c!.。！~～"  # after the last of these, STOP. is STOP
_KINDS = {"negating": NEGATING_SOFT, "plain": SOFT}


@dataclass(frozen=True)
class Reading:
    """What one message says."""

    needs: tuple[str, ...] = ()  # in the order first said: groceries, medicine, unwell, …
    fine: bool = False  # all of it reads as "fine": no need, no health sign, nothing left unread
    temperature: float | None = None
    fever: bool = False
    opt_out: bool = False
    opt_in: bool = False

    @property
    def understood(self) -> bool:
        """False if the message could not be read whole: it goes to a clerk as it is (with any temperature in it
        recorded). A message partly read as fine is not understood: only one read whole is fine."""
        return bool(self.needs or self.fine or self.opt_out or self.opt_in)

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
        head = "+".join(self.needs) or ("fine" if self.fine else "other")
        return head + (f" t={self.temperature:.1f}" if self.temperature is not None else "")


@dataclass(frozen=True)
class _Phrase:
    text: str
    meaning: str  # a meaning, NEUTRAL, or a softener kind


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
    temperatures: TemperatureReader
    table: PhraseTable
    digit_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # digit → language → label
    sms_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # digit → language → short label
    typo_pattern: re.Pattern[str] | None = None
    family_table: PhraseTable | None = None  # the phrases with [family_neutral]: for a care-circle message only
    emergency_pattern: re.Pattern[str] | None = None

    def mend_typo(self, match: re.Match[str]) -> str:
        """What a typo found by `typo_pattern` meant; a typo that is the start of what it means (拉肚 for 拉肚子) is
        left alone inside the right word."""
        typo = match.group()
        meant = self.typos[typo]
        if meant.startswith(typo) and match.string.startswith(meant[len(typo) :], match.end()):
            return typo
        return meant

    def sms_menu(self, language: str) -> str:
        """The digit menu as the SMS check-in lists it: `1平安 2买菜 … 0回电`, zh-CN if the language is unknown."""
        sep = "" if language == "zh-CN" else " "
        return " ".join(f"{d}{sep}{by.get(language) or by.get('zh-CN', '')}" for d, by in self.sms_labels.items())

    @classmethod
    def load(cls, menu: Path = MENU_FILE, keywords: Path = KEYWORDS_FILE) -> ReplyVocabulary:
        """Read both files.

        Raises:
            MessageCatalogError: a file is malformed, of an unknown version, names an unknown meaning, or gives one
                phrase two meanings.
        """
        menu_data, words = load_versioned_toml(menu), load_versioned_toml(keywords)
        digits, labels, sms_labels = {}, {}, {}
        for entry in menu_data.get("digit", []):
            if entry.get("meaning") not in MEANINGS or not str(entry.get("key", "")).isdigit():
                raise MessageCatalogError(f"{menu.name}: bad digit entry {entry!r}")
            digits[entry["key"]] = entry["meaning"]
            labels[entry["key"]] = {lang: entry[lang] for lang in ("zh-CN", "en") if lang in entry}
            sms_labels[entry["key"]] = {str(k): str(v) for k, v in dict(entry.get("sms", {})).items()}
        kinds: dict[str, str] = {}
        for meaning, by_language in [*words.get("meanings", {}).items(), (NEUTRAL, words.get("neutral", {}))]:
            if meaning not in (*MEANINGS, NEUTRAL):
                raise MessageCatalogError(f"{keywords.name}: unknown meaning {meaning!r}")
            for text in _words(by_language, keywords.name, meaning):
                _add(kinds, text, meaning, keywords.name)
        staples = words.get("staples", {})
        for pattern in _words({"p": staples.get("patterns", [])}, keywords.name, "staples"):
            if pattern.count("{}") != 1:
                raise MessageCatalogError(f"{keywords.name}: staple pattern {pattern!r} needs one {{}}")
            for thing in _words({"t": staples.get("things", [])}, keywords.name, "staples"):
                _add(kinds, pattern.replace("{}", thing), "groceries", keywords.name)
        for text in _words({"w": words.get("body", {}).get("words", [])}, keywords.name, "body"):
            _add(kinds, text, BODY, keywords.name)
        for group, kind in _KINDS.items():
            for text in _words({"w": words.get("softeners", {}).get(group, [])}, keywords.name, "softeners"):
                _add(kinds, text, kind, keywords.name)
        family = dict(kinds)
        for text in _words(words.get("family_neutral", {}), keywords.name, "family_neutral"):
            _add(family, text, NEUTRAL, keywords.name)
        negations = _words(words.get("negations", {}), keywords.name, "negations")
        for text in negations:
            kinds.setdefault(text, "fine")  # said alone (不要, 暂时不需要), a negation answers "no need"
        choose = _words({"w": words.get("menu", {}).get("choose", [])}, keywords.name, "menu")
        for text in choose:
            kinds.setdefault(text, NEUTRAL)
        for text in [*negations, *choose]:
            family.setdefault(text, kinds[text])
        typos = {str(k).lower(): str(v).lower() for k, v in words.get("typos", {}).items()}
        emergency = set(words.get("emergency", {}).get("numbers", []))
        return cls(
            digits=digits,
            phrases=[_Phrase(text, kind) for text, kind in sorted(kinds.items(), key=lambda kv: -len(kv[0]))],
            negations=sorted(negations, key=len, reverse=True),
            typos=typos,
            opt_out={w.upper() for w in words.get("opt_out", {}).get("words", [])},
            opt_in={w.upper() for w in words.get("opt_in", {}).get("words", [])},
            emergency_numbers=emergency,
            temperatures=TemperatureReader.from_table(words.get("temperature", {}), keywords.name),
            table=PhraseTable.build(kinds, frozenset(negations), frozenset(choose)),
            digit_labels=labels,
            sms_labels=sms_labels,
            typo_pattern=_typo_pattern(typos),
            family_table=PhraseTable.build(family, frozenset(negations), frozenset(choose)),
            emergency_pattern=re.compile(rf"(?<!\d)(?:{'|'.join(sorted(emergency))})(?!\d)") if emergency else None,
        )


def _words(by_language: Any, source: str, where: str) -> list[str]:
    """The words of a `{language: [words]}` table, lower case; a clear error if it is not one."""
    if not isinstance(by_language, dict):
        raise MessageCatalogError(f"{source}: [{where}] must be a table of word lists")
    found = []
    for texts in by_language.values():
        if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
            raise MessageCatalogError(f"{source}: [{where}] must hold lists of non-empty words")
        found += [t.lower() for t in texts]
    return found


def _add(kinds: dict[str, str], text: str, kind: str, source: str) -> None:
    if kinds.setdefault(text, kind) != kind:
        raise MessageCatalogError(f"{source}: {text!r} is both {kinds[text]} and {kind}")


def _typo_pattern(typos: dict[str, str]) -> re.Pattern[str] | None:
    """One regex for every typo, the longest at each place."""
    return re.compile(trie_pattern(list(typos))) if typos else None


def normalise(text: str) -> str:
    """Full-width digits and letters to half-width (NFKC), lower case, trimmed."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def parse_reply(
    text: str, vocabulary: ReplyVocabulary, fever_threshold: float = DEFAULT_FEVER_THRESHOLD, *, family: bool = False
) -> Reading:
    """Read one message from a resident.

    Health first: any health word, a fever or an emergency number makes it unwell, whatever else it says; it is
    fine only when all of it reads as fine.

    Args:
        text: The message as received.
        vocabulary: Digits and words.
        fever_threshold: A temperature at or above this is a fever, and so unwell.
        family: A family member's message (care circle): the [family_neutral] words (妈妈, she) are read too, and
            a part of the body named is a health sign whatever else it says (妈妈腿好多了 is for a person).

    Returns:
        What it says. `understood` is False when it could not be read whole.
    """
    plain = normalise(text)
    bare = plain.rstrip(_TRAILING).upper()
    if bare in vocabulary.opt_out:
        return Reading(opt_out=True)
    if bare in vocabulary.opt_in:
        return Reading(opt_in=True)
    if vocabulary.typo_pattern is not None:
        plain = vocabulary.typo_pattern.sub(vocabulary.mend_typo, plain)

    temperature, plain, said_at = vocabulary.temperatures.take(plain)
    found: list[tuple[int, str]] = []  # (position, meaning)
    leftover = 0
    digits = _NOT_DIGIT.sub("", plain)
    if _MENU_ONLY.match(plain):
        if digits in vocabulary.emergency_numbers:
            found = [(0, "unwell")]  # 120: an emergency, not "fine, groceries, call back"
        elif digits and all(d in vocabulary.digits for d in digits):
            # Menu digits only if every digit is one; "39" or "38." is for a clerk to read, not a guess.
            found = [(m.start(), vocabulary.digits[m.group()]) for m in _DIGIT.finditer(plain)]
        else:
            leftover = len(digits)
    else:
        table = vocabulary.family_table if family and vocabulary.family_table is not None else vocabulary.table
        words = read_phrases(plain, table)
        found, leftover = list(words.found), words.leftover
        if words.body is not None and (family or leftover or not any(meaning == "fine" for _, meaning in found)):
            found.append((words.body, "unwell"))  # 脚崴了: a part of the body and words not read mean a person calls
        if digits:
            found += _digits_in_words(plain, words.spans, vocabulary)

    fever = temperature is not None and temperature >= fever_threshold
    if fever:
        found.append((said_at, "unwell"))
    needs: list[str] = []
    for _, meaning in sorted(found):
        if meaning != "fine" and meaning not in needs:
            needs.append(meaning)
    said_fine = temperature is not None or any(meaning == "fine" for _, meaning in found)
    fine = said_fine and not needs and leftover == 0
    return Reading(needs=tuple(needs), fine=fine, temperature=temperature, fever=fever)


def _digits_in_words(
    text: str, spans: list[tuple[int, int, str]], vocabulary: ReplyVocabulary
) -> list[tuple[int, str]]:
    """Numbers that mean something in a message of words: an emergency number anywhere (快打120), and a lone menu
    digit at either end of the message, standing apart or against a word read (2 买米, 1平安, 谢谢 1), or just after
    a word such as 回复 (回复3). 2号楼 is an address, not a choice."""
    found: list[tuple[int, str]] = []
    if vocabulary.emergency_pattern is not None:
        found += [(m.start(), "unwell") for m in vocabulary.emergency_pattern.finditer(text)]
    inner = _EDGE.sub("", text)
    if not inner:
        return found
    first = text.index(inner)
    edges = (first, first + len(inner) - 1)
    starts = {start for start, _, _ in spans}
    ends = {end: phrase for _, end, phrase in spans}
    for match in _LONE_DIGIT.finditer(text):
        digit, at = match.group(), match.start()
        if digit not in vocabulary.digits:
            continue
        chosen = ends.get(at) in vocabulary.table.choose
        before_apart = at == 0 or at in ends or not (text[at - 1].isalnum() or has_cjk(text[at - 1]))
        after_apart = at + 1 == len(text) or at + 1 in starts or not (text[at + 1].isalnum() or has_cjk(text[at + 1]))
        if chosen or (at in edges and before_apart and after_apart):
            found.append((at, vocabulary.digits[digit]))
    return found
