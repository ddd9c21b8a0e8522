"""`hotline ivr check`: find what would hurt a caller before any caller meets it.

Errors would break a call (a node that does not exist, a menu with no way to a person); the service refuses to
start with them. Warnings make a call worse (a node nobody can reach, a prompt too long to listen to); CI
fails on both.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dispatch.exceptions import IvrScriptError
from dispatch.ivr.check_profiles import check_short_menus
from dispatch.ivr.script import (
    AUDIO_DIR,
    GOODBYE,
    LANGUAGES,
    PERSON_DIGIT,
    PHRASE_FIELDS,
    PHRASES,
    PLACEHOLDER,
    PLACEHOLDERS,
    REPEAT_DIGIT,
    THEN_ACTIONS,
    IvrScript,
    Node,
    load_script,
)
from dispatch.resident_replies import ReplyVocabulary

MAX_SECONDS = 20.0
MAX_CHOICES = 5  # besides 0 (a person) and 9 (repeat): more is too many for an old person to hold in mind
# Speaking rates of a clear, unhurried TTS voice.
SYLLABLES_PER_SECOND = 4.0  # Mandarin: one character or digit is one syllable
WORDS_PER_SECOND = 2.5  # English
PAUSE_SECONDS = 0.3  # each comma or full stop
# What a placeholder is likely to say, for the estimate. Lists read from the register are not counted.
TYPICAL = {
    "zh-CN": {"name": "王秀英", "liaison": "张敏", "task_count": "3", "next_step": "您的联络员张敏会尽快给您回电话。"},
    "en": {
        "name": "Wang Xiuying",
        "liaison": "Zhang Min",
        "task_count": "3",
        "next_step": "Your liaison Zhang Min will call you back soon.",
    },
}
_SYLLABLE = re.compile(r"[\u4e00-\u9fff0-9]")
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_PAUSE = re.compile(r"[，。,.!?！？；;：:]")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # what TwiML (XML 1.0) cannot carry
_FORMAT_ERRORS = (ValueError, IndexError, KeyError, AttributeError, TypeError)  # str.format on a stray brace


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a script."""

    where: str
    message: str
    error: bool = True  # False: a warning

    def __str__(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.where}: {self.message}"


def speaking_seconds(text: str) -> float:
    """An estimate of how long `text` takes to say."""
    syllables = len(_SYLLABLE.findall(text))
    words = len(_WORD.findall(text))
    return syllables / SYLLABLES_PER_SECOND + words / WORDS_PER_SECOND + len(_PAUSE.findall(text)) * PAUSE_SECONDS


def spoken_text(node: Node, language: str, first_time: bool = True) -> str:
    """All a node says in `language`: intro (first time), prompt, and every option's words."""
    parts = [node.intro.get(language, "")] if first_time else []
    parts += [node.prompt.get(language, ""), *(o.say.get(language, "") for o in node.options)]
    return " ".join(p for p in parts if p)


def check_file(path: Path, digits: ReplyVocabulary | None = None) -> list[Problem]:
    """Every problem in one script file; an unloadable file is one problem per shape error."""
    digits = digits or ReplyVocabulary.load()
    try:
        script = load_script(path, digits)
    except IvrScriptError as exc:
        return [Problem(path.name, message) for message in exc.problems]
    return check_script(script, digits)


def check_script(script: IvrScript, digits: ReplyVocabulary) -> list[Problem]:
    """Every problem in a loaded script."""
    problems: list[Problem] = []
    names = set(script.nodes)
    for kind, target in script.entry.items():
        if target not in names:
            problems.append(Problem("entry", f"{kind} callers go to node {target!r}, which does not exist"))
    if GOODBYE not in names:
        problems.append(Problem(f"node {GOODBYE}", "is required: calls end there after a task or a voicemail"))
    for language in LANGUAGES:
        for key in PHRASES:
            text = script.phrases.get(language, {}).get(key)
            if not text:
                problems.append(Problem(f"phrase {key}", f"no {language} text"))
                continue
            fields = PHRASE_FIELDS.get(key, set())
            unknown = set(PLACEHOLDER.findall(text)) - fields
            if unknown:
                problems.append(Problem(f"phrase {key}", f"({language}) uses unknown placeholder {sorted(unknown)}"))
            elif fields and not _formats(text, dict.fromkeys(fields, "")):
                problems.append(Problem(f"phrase {key}", f"({language}) has a stray brace"))
            if _NOT_XML.search(text):
                problems.append(Problem(f"phrase {key}", f"({language}) has a control character"))
    for node in script.nodes.values():
        problems += _check_node(script, node, names, digits)
    problems += _short_menu_problems(script)
    reachable = _reachable(script)
    for name in sorted(names - reachable):
        problems.append(Problem(f"node {name}", "no caller can reach it", error=False))
    return problems


def _short_menu_problems(script: IvrScript) -> list[Problem]:
    """How the menus fare in a resident's short-menu profile (`dispatch.ivr.check_profiles`)."""
    return [Problem(where, message) for where, message in check_short_menus(script)]


def edges(script: IvrScript, node: Node) -> list[tuple[str, str]]:
    """(label, target node) for every way on from `node`; the label is a key, "next", or "then"."""
    found = []
    for option in node.options:
        if option.do == "goto" and option.node:
            found.append((option.digit, option.node))
        if option.do in THEN_ACTIONS:
            found.append((option.digit, option.then or GOODBYE))
    if node.next:
        found.append(("next", node.next))
    return found


def _reachable(script: IvrScript) -> set[str]:
    seen: set[str] = set()
    todo = [n for n in script.entry.values() if n in script.nodes]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [target for _, target in edges(script, script.nodes[name]) if target in script.nodes]
    return seen


def _check_node(script: IvrScript, node: Node, names: set[str], digits: ReplyVocabulary) -> list[Problem]:
    where = f"node {node.name}"
    problems = [
        Problem(where, f"key {label} goes to node {target!r}, which does not exist")
        for label, target in edges(script, node)
        if target not in names
    ]
    for option in node.options:
        if option.do == "goto" and not option.node:
            problems.append(Problem(where, f"key {option.digit} goes nowhere: add node = …"))
        table_key = next((k for k, m in digits.digits.items() if m == option.need), None)
        if option.do == "task" and table_key is not None and option.digit != table_key:
            message = f"key {option.digit} makes {option.need}, which menu_digits.toml gives key {table_key}"
            problems.append(Problem(where, message + ": callers learn one table for SMS and calls"))
    for digit, count in Counter(o.digit for o in node.options).items():
        if count > 1:
            problems.append(Problem(where, f"key {digit} is used {count} times"))
    if node.is_menu:
        person, repeat = node.option(PERSON_DIGIT), node.option(REPEAT_DIGIT)
        if person is None or person.do != "person" or person.only_if:
            problems.append(Problem(where, "menu has no way to a person: key 0 must put the caller through"))
        if repeat is None or repeat.do != "repeat":
            problems.append(Problem(where, "key 9 must repeat the menu"))
        choices = [o for o in node.options if o.digit not in (PERSON_DIGIT, REPEAT_DIGIT)]
        if len(choices) > MAX_CHOICES:
            problems.append(Problem(where, f"{len(choices)} choices besides 0 and 9; at most {MAX_CHOICES}"))
    elif not node.end and not node.next:
        problems.append(Problem(where, "a message must say where to go next (next = …) or end the call"))
    problems += _check_words(script, node, where)
    return problems


def _check_words(script: IvrScript, node: Node, where: str) -> list[Problem]:
    problems = []
    texts = {
        "prompt": node.prompt,
        "intro": node.intro,
        "title": node.title,
        **{f"key {o.digit}": o.say for o in node.options},
    }
    for label, text in texts.items():
        if label != "prompt" and not text:
            continue  # an intro and a title are optional, and an option need not be announced
        for language in LANGUAGES:
            if language not in text:
                problems.append(Problem(where, f"{label} has no {language} text"))
        for language, words in text.items():
            unknown = {p for p in PLACEHOLDER.findall(words)} - PLACEHOLDERS
            if unknown:
                problems.append(Problem(where, f"{label} ({language}) uses unknown placeholder {sorted(unknown)}"))
            if _NOT_XML.search(words):
                problems.append(Problem(where, f"{label} ({language}) has a control character"))
    for language, audio in node.audio.items():
        if not _audio_found(audio):
            problems.append(Problem(where, f"audio ({language}) {audio!r} is not in ivr_scripts/audio/"))
    for language in LANGUAGES:
        spoken = spoken_text(node, language)
        try:
            spoken = spoken.format_map(_Typical(TYPICAL.get(language, {})))
        except _FORMAT_ERRORS:
            problems.append(Problem(where, f"{language} text has a stray brace"))
            continue
        seconds = speaking_seconds(spoken)
        if seconds > MAX_SECONDS:
            problems.append(
                Problem(
                    where,
                    f"{language} takes about {seconds:.0f} s to say; keep it under {MAX_SECONDS:.0f} s",
                    error=False,
                )
            )
    return problems


def _formats(text: str, fields: dict[str, str]) -> bool:
    """True if `text` takes its placeholders' values as the hotline fills them (no stray brace)."""
    try:
        text.format(**fields)
    except _FORMAT_ERRORS:
        return False
    return True


def _audio_found(audio: str) -> bool:
    """True for an https URL, or a file in ivr_scripts/audio/ (not a name too long, or one leading out of it)."""
    if _NOT_XML.search(audio):
        return False
    if audio.startswith("https://"):
        return True
    try:
        path = (AUDIO_DIR / audio).resolve()
        return path.is_relative_to(AUDIO_DIR.resolve()) and path.is_file()
    except (OSError, ValueError):
        return False


class _Typical(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""  # lists read from the register are not counted
