"""Liaisons' natural replies: 收到, 12接了, 十二号完成, 今天去不了, as people answer a task in a work chat.

The words are the `[natural]` table of `ivr_scripts/liaison_sms_commands.toml`. `NaturalWords.read` says what a
reply means on its own; `resolve` decides, from the liaison's tasks in play, what it does. Both are pure: the
caller (`dispatch/tasks/liaison_replies.py`) carries the action out. Nothing changes by guesswork: a negated or
questioning phrase is not a command, a reply that could be about several tasks asks which, and words that cannot
be read go to staff on their task.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch.exceptions import MessageCatalogError
from dispatch.models import TaskStatus
from dispatch.resident_replies import normalise
from dispatch.script_data import load_versioned_toml
from ivr_scripts import SCRIPTS_DIR

# What a phrase may say. `ack` ("got it") takes a waiting task and leaves a taken one as it is.
SIGNALS = ("ack", "accept", "done", "decline", "chatter", "alarm")
WORD_LISTS = ("ack_alone", "done_alone", "negations", "after", "questions", "units", "readings", "fillers")
# What a reply does: a task action the caller already knows (accept, done, decline), or refer (to staff, on the
# task), ask (which task?), still (already theirs, nothing changes), empty (no task in play), help, quiet (no
# answer: thanks and greetings), urgent_no_task (a sign of danger with no task to put it on).
ACTIONS = ("accept", "done", "decline", "refer", "ask", "still", "empty", "help", "quiet", "urgent_no_task")

_NUMERALS = dict(zip("零〇幺一二两三四五六七八九", (0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_POWERS = {"十": 10, "百": 100, "千": 1000}
_CHINESE_NUMBER = re.compile(f"[{''.join(_NUMERALS)}{''.join(_POWERS)}]+")
_DIGITS = re.compile(r"(?<![\d.])\d{1,7}(?![\d.])")
_CJK_OR_WORD = re.compile(r"[\u4e00-\u9fff]|[a-z]+")
_CLAUSE = re.compile(r"\w+")
_ALONE_LONGEST = 4  # the longest word said alone, or filler, checked on load


@dataclass(frozen=True)
class Reading:
    """What a reply says on its own.

    `signal` is one of SIGNALS, "unclear" (words, none of them read), or None (nothing to read: empty, a bare
    number, punctuation). `more` is True when words beyond the phrases read and the little words are left.
    """

    signal: str | None
    task_ids: tuple[int, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class Action:
    """What a reply does, given the liaison's tasks: one of ACTIONS, on these tasks."""

    kind: str
    task_ids: tuple[int, ...] = ()

    def describe(self) -> str:
        """`accept 12`, `refer 12+13`, `ask`: the form of the published corpus."""
        return " ".join([self.kind, *(["+".join(map(str, self.task_ids))] if self.task_ids else [])])


@dataclass(frozen=True)
class _Phrase:
    text: str
    signal: str
    pattern: re.Pattern[str]


def _pattern(word: str) -> re.Pattern[str]:
    """The word, not inside a longer ASCII word or number: "ok" is not in "book", "120" not in "1203"."""
    before = r"(?<![a-z])" if word[0].isascii() and word[0].isalpha() else r"(?<!\d)" if word[0].isdigit() else ""
    after = r"(?![a-z])" if word[-1].isascii() and word[-1].isalpha() else r"(?!\d)" if word[-1].isdigit() else ""
    return re.compile(before + re.escape(word) + after)


def _any_of(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for any of the words, longest first; for no words, one that matches nothing."""
    return re.compile("|".join(map(re.escape, words)) or "(?!)")


def _longest_first(words: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({normalise(w) for w in words if normalise(w)}, key=lambda w: (-len(w), w)))


@dataclass(frozen=True)
class NaturalWords:
    """The natural-reply words, ready to read with."""

    phrases: tuple[_Phrase, ...]  # longest first
    by_start: dict[str, tuple[_Phrase, ...]]  # the phrases by their first two characters (or one), for one pass
    filler_pattern: re.Pattern[str]
    question_pattern: re.Pattern[str]
    ack_alone: tuple[str, ...]  # "got it" only as a whole clause: 好, 行, 嗯嗯
    done_alone: tuple[str, ...]  # "done" only as a whole clause: 送到 (but 12点前送到 is not)
    negations: tuple[str, ...]
    after: tuple[str, ...]
    questions: tuple[str, ...]
    units: tuple[str, ...]
    readings: tuple[str, ...]
    fillers: tuple[str, ...]

    @classmethod
    def from_data(cls, data: dict[str, Any], file_name: str) -> NaturalWords:
        """The `[natural]` table of the commands file.

        Raises:
            MessageCatalogError: an unknown list, a list that is not strings, or a phrase under two meanings.
        """
        lists: dict[str, tuple[str, ...]] = {}
        for name, words in data.items():
            if name not in SIGNALS + WORD_LISTS:
                raise MessageCatalogError(f"{file_name}: [natural] has an unknown list {name!r}")
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                raise MessageCatalogError(f"{file_name}: [natural] {name} must be a list of words")
            lists[name] = _longest_first(words)
        if any(len(w) > _ALONE_LONGEST for name in ("ack_alone", "done_alone", "fillers") for w in lists.get(name, ())):
            raise MessageCatalogError(
                f"{file_name}: [natural] words said alone, and fillers, have 4 characters at most"
            )
        meaning: dict[str, str] = {}
        for signal in SIGNALS:
            for word in lists.get(signal, ()):
                if meaning.setdefault(word, signal) != signal:
                    raise MessageCatalogError(f"{file_name}: [natural] {word!r} is both {meaning[word]} and {signal}")
        phrases = [_Phrase(word, signal, _pattern(word)) for word, signal in meaning.items()]
        phrases.sort(key=lambda p: (-len(p.text), p.text))
        by_start: dict[str, tuple[_Phrase, ...]] = {}
        for phrase in phrases:
            by_start[phrase.text[:2]] = (*by_start.get(phrase.text[:2], ()), phrase)
        return cls(
            phrases=tuple(phrases),
            by_start=by_start,
            filler_pattern=_any_of(lists.get("fillers", ())),
            question_pattern=_any_of(lists.get("questions", ())),
            **{name: lists.get(name, ()) for name in WORD_LISTS},
        )

    def read(self, text: str) -> Reading:
        """What `text` says on its own; see Reading."""
        plain = self.task_numbers_in_digits(normalise(text))
        taken = [False] * len(plain)
        signals: set[str] = set()
        # Longest first, then leftmost: 去不了 wins over 我去, and 没收到了 is 没 + 收到, not 没收 + 到了.
        spans = []
        for start, ch in enumerate(plain):
            for phrase in (*self.by_start.get(plain[start : start + 2], ()), *self.by_start.get(ch, ())):
                if plain.startswith(phrase.text, start) and phrase.pattern.match(plain, start):
                    spans.append((-len(phrase.text), start, start + len(phrase.text), phrase.signal))
        for _, start, end, signal in sorted(spans):
            if any(taken[start:end]):
                continue
            taken[start:end] = [True] * (end - start)
            turned = signal in ("ack", "accept", "done") and self._turned(plain[:start], plain[end:])
            signals.add("negated" if turned else signal)
        task_ids = self._take_numbers(plain, taken)
        rest = "".join(" " if used else ch for ch, used in zip(plain, taken, strict=True))
        for clause in _CLAUSE.finditer(rest):
            said = self._said_alone(clause.group())
            if said is not None:
                turned = self._turned(plain[: clause.start()], plain[clause.end() :])
                signals.add("negated" if turned else said)
                rest = rest[: clause.start()] + " " * len(clause.group()) + rest[clause.end() :]
        more = bool(_CJK_OR_WORD.search(self.filler_pattern.sub(" ", rest)))
        if self.question_pattern.search(plain):
            signals.add("negated")  # a question is not a command: 收到，几点送？ is for staff to answer
        return Reading(_signal(signals, more), task_ids, more)

    def _turned(self, before: str, after: str) -> bool:
        """A negation just before (还没送到, 不用去了), or just after (收到没, 好不好)."""
        tail, head = before.rstrip("0123456789#号 "), after.lstrip(" !！.。~～")  # 没12号完成: 没 … 完成
        return tail.endswith(self.negations) or head.startswith(self.after)

    def _said_alone(self, clause: str) -> str | None:
        """ "ack" or "done" when the clause is all words that mean it on their own, and little words: 好的, 行吧,
        嗯嗯, 送到啦; else None."""
        meaning = {**dict.fromkeys(self.fillers, ""), **dict.fromkeys(self.ack_alone, "ack")}
        meaning.update(dict.fromkeys(self.done_alone, "done"))
        # End position → the strongest meaning used to get there: "" (none yet) < "ack" < "done", as strings.
        reachable = {0: ""}
        for position in range(len(clause)):
            if position not in reachable:
                continue
            for end in range(position + 1, min(len(clause), position + _ALONE_LONGEST) + 1):
                word = clause[position:end]
                if word in meaning:
                    reachable[end] = max(reachable.get(end, ""), reachable[position], meaning[word])
        return reachable.get(len(clause)) or None

    def tidy(self, text: str) -> str:
        """The reply with its task number as a command has it: 接十二号 → 接12, 退十二号 没空 → 退12 没空."""
        plain = self.task_numbers_in_digits(unicodedata.normalize("NFKC", text).strip())
        return re.sub(r"(?<=\d)号(?!楼|房)", "", plain)

    def task_numbers_in_digits(self, plain: str) -> str:
        """十二号完成 → 12号完成, 接十二 → 接12; 一会儿, 两点, 十分钟 stay as they are. Compares in lower case."""
        for match in reversed(list(_CHINESE_NUMBER.finditer(plain))):
            run, (start, end) = match.group(), match.span()
            before, after = plain[:start], plain[end:]
            if self._is_quantity(before.lower(), after.lower()):
                continue
            marked = before.rstrip().endswith("#") or after.startswith("号")
            if not marked and (len(run) < 2 and run[0] not in _POWERS):
                continue  # a lone 一 or 两 is a word (一会儿), not a task
            if marked or not before or not before[-1].isalnum() or not after or not after[0].isalnum():
                plain = before + str(_chinese_value(run)) + after
        return plain

    def _is_quantity(self, before: str, after: str) -> bool:
        """A number that is a time, amount, address or reading: 10分钟, 3号楼, 体温38."""
        return after.lstrip().startswith(self.units) or before.rstrip().endswith(self.readings)

    def _take_numbers(self, plain: str, taken: list[bool]) -> tuple[int, ...]:
        """The task numbers in the unread part of `plain`, marking them (and quantities) read."""
        unread = "".join("\0" if used else ch for ch, used in zip(plain, taken, strict=True))  # 12多谢: no 12多
        found: list[int] = []
        for match in _DIGITS.finditer(unread):
            start, end = match.span()
            if self._is_quantity(unread[:start], unread[end:]) or unread[:start].endswith(":"):
                taken[start:end] = [True] * (end - start)  # a time, amount or reading, not a task
                continue
            if unread[end:].startswith("号"):
                end += 1
            taken[start:end] = [True] * (end - start)
            if int(match.group()) not in found:
                found.append(int(match.group()))
        return tuple(found)


def _chinese_value(run: str) -> int:
    """十二 → 12, 二十三 → 23, 一百零五 → 105; without 十, 百 or 千 digit by digit: 一二 → 12, 幺三 → 13."""
    if not any(ch in _POWERS for ch in run):
        return int("".join(str(_NUMERALS[ch]) for ch in run))
    total, digit = 0, 0
    for ch in run:
        if ch in _POWERS:
            total += (digit or 1) * _POWERS[ch]
            digit = 0
        else:
            digit = _NUMERALS[ch]
    return total + digit


def _signal(signals: set[str], more: bool) -> str | None:
    """One meaning from the phrases found. Danger first; then anything turned round or contradicting itself is
    unclear; "done" outranks "take" (finishing without taking is fine); "can't go" outranks "got it"."""
    if "alarm" in signals:
        return "alarm"
    if "negated" in signals or ("decline" in signals and signals & {"accept", "done"}):
        return "unclear"
    for signal in ("decline", "done", "accept", "ack"):
        if signal in signals:
            return signal
    if "chatter" in signals and not more:
        return "chatter"
    return "unclear" if more else None


def resolve(reading: Reading, in_play: Sequence[tuple[int, str]]) -> Action:
    """What a natural reply does, given the liaison's tasks in play: (id, status), waiting or taken.

    A reply naming one task acts on it; a reply naming none acts on the only task in play, and asks which when
    there are several. "Got it" on a task already taken changes nothing (any more words go to staff).
    """
    statuses = dict(in_play)
    named = reading.task_ids
    if reading.signal is None:
        return Action("help")
    if reading.signal == "alarm":
        on = named or tuple(statuses)
        return Action("refer", on) if on else Action("urgent_no_task")
    if reading.signal == "chatter":
        return Action("quiet")
    if len(named) > 1:
        return Action("ask" if statuses else "help")  # one at a time
    if named:
        target = named[0]
    elif len(statuses) == 1:
        [target] = statuses
    elif statuses:
        return Action("ask")
    else:
        return Action("help" if reading.signal == "unclear" else "empty")
    if reading.signal == "unclear":
        return Action("refer", (target,))
    if reading.signal in ("ack", "accept"):
        if statuses.get(target) == TaskStatus.ACCEPTED:
            return Action("refer" if reading.more else "still", (target,))
        return Action("accept", (target,))
    return Action(reading.signal, (target,))


COMMANDS_FILE = SCRIPTS_DIR / "liaison_sms_commands.toml"
VERBS = ("accept", "done", "decline", "note", "notes", "list")


@dataclass(frozen=True)
class Command:
    """One liaison reply, read."""

    verb: str | None  # None: not understood
    task_id: int | None = None
    text: str = ""


@dataclass(frozen=True)
class CommandTable:
    """Command words by verb, longest first so 接单 wins over 接; and the natural-reply words."""

    words: tuple[tuple[str, str], ...]  # (word, verb)
    natural: NaturalWords

    @classmethod
    def load(cls, path: Path = COMMANDS_FILE) -> CommandTable:
        """Read and check the command words.

        Raises:
            MessageCatalogError: malformed file, unknown version or verb.
        """
        data = load_versioned_toml(path)
        pairs = []
        for verb, words in data.get("commands", {}).items():
            if verb not in VERBS:
                raise MessageCatalogError(f"{path.name}: unknown command {verb!r}")
            pairs += [(normalise(word), verb) for word in words]
        natural = NaturalWords.from_data(data.get("natural", {}), path.name)
        return cls(tuple(sorted(pairs, key=lambda pair: -len(pair[0]))), natural)

    def read(self, text: str) -> Command:
        """`接12` → accept 12; `退12 没空` → decline 12 with a reason; anything else → not understood."""
        folded = unicodedata.normalize("NFKC", text).strip()  # full-width digits to half-width; case kept
        plain = folded.lower()
        for word, verb in self.words:
            if not plain.startswith(word):
                continue
            rest = folded[len(word) :]
            if word.isascii() and word[-1].isalpha() and rest[:1].isalpha():
                continue  # "okay" is not "ok" followed by "ay"
            if word[-1].isdigit() and rest[:1].isdigit():
                continue  # "12" is not "1" followed by task 2
            match = re.fullmatch(r"\s*#?\s*(\d{1,7})?\s*[,，:：]?\s*(.*)", rest, flags=re.S)
            if match is None:
                continue
            number, words = match.groups()
            if verb in ("accept", "done", "list", "notes") and words.strip():
                continue  # only a number may follow: "1 2 3" or "接什么" is not a command
            if verb in ("decline", "note") and not number:
                continue  # "No problem" and "退烧药买到了" hand nothing back: these need the task number
            if verb == "note" and not words.strip():
                verb = "notes"  # 备注12 with nothing to note asks for the task's notes
            return Command(verb, int(number) if number else None, words.strip())
        return Command(None)

    def understand(self, text: str, in_play: list[tuple[int, str]]) -> Command | Action:
        """A command (接12, or 接十二号 in Chinese numerals), or else what the reply does as a natural one, given
        the liaison's tasks in play, (id, status)."""
        command = self.read(text)
        if command.verb is None and (tidy := self.natural.tidy(text)) != unicodedata.normalize("NFKC", text).strip():
            command = self.read(tidy)  # 接十二号 is 接12
        return command if command.verb is not None else resolve(self.natural.read(text), in_play)
