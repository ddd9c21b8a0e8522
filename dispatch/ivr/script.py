"""Reading a voice menu script (`ivr_scripts/voice_hotline.toml`) into nodes and options.

Loading checks the shape: every field of the right type, every action known. Whether the script makes sense
(references, reachability, a way to a person, prompt lengths) is `dispatch.ivr.check`'s work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch.exceptions import IvrScriptError, MessageCatalogError
from dispatch.resident_replies import ReplyVocabulary
from dispatch.script_data import load_versioned_toml
from ivr_scripts import SCRIPTS_DIR

VOICE_SCRIPT_FILE = SCRIPTS_DIR / "voice_hotline.toml"
AUDIO_DIR = SCRIPTS_DIR / "audio"
LANGUAGES = ("zh-CN", "en")
ACTIONS = (
    "task",
    "goto",
    "person",
    "voicemail",
    "repeat",
    "back",
    "sms_directory",
    "accept_oldest",
    "record_greeting",
)
THEN_ACTIONS = ("task", "sms_directory", "accept_oldest")  # actions that go on to `then` (default: goodbye)
CONDITIONS = ("sms", "resident")
# The placeholders each phrase may use (the code fills exactly these).
PHRASE_FIELDS = {
    "putting_through": {"person"},
    "person_liaison": {"name"},
    "person_backup": {"name"},
    "person_duty": {"name"},
    "next_step_liaison": {"liaison"},
    "task_recorded": {"need"},
    "directory_entry": {"name", "phone"},
    "directory_sms": {"entries"},
    "task_line": {"n", "resident", "category", "address"},
    "accepted": {"resident", "category", "address"},
    "more_options": {"digit"},
    "call_copy_sms": {"words"},
}
GOODBYE = "goodbye"  # the node a call ends at after a task or a voicemail
# The phrases the hotline says between menus; each language must have every one.
PHRASES = (
    "no_input",
    "wrong_input",
    "putting_through",
    "person_liaison",
    "person_backup",
    "person_duty",
    "voicemail_prompt",
    "voicemail_received",
    "voicemail_empty",
    "next_step_liaison",
    "next_step_staff",
    "task_recorded",
    "directory_entry",
    "directory_empty",
    "directory_sent",
    "directory_sms",
    "no_tasks",
    "task_line",
    "accepted",
    "nothing_to_accept",
    "greeting_prompt",
    "greeting_heard",
    "greeting_choices",
    "greeting_kept",
    "greeting_kept_old",
    "greeting_not_recorded",
    "error_apology",
    "error_sorry",
    "emergency_hint",
    "more_options",
    "call_copy_sms",
)
CALLER_KINDS = ("resident", "liaison", "unknown")
PERSON_DIGIT, REPEAT_DIGIT = "0", "9"  # in every menu: 0 reaches a person, 9 repeats
KEYS = set("0123456789*#")
PLACEHOLDER = re.compile(r"\{(\w*)\}")
PLACEHOLDERS = {"name", "liaison", "next_step", "directory", "task_count", "tasks"}


@dataclass(frozen=True)
class Option:
    """One key in a menu and what it does."""

    digit: str
    do: str
    say: dict[str, str]
    need: str | None = None  # for `task`: a meaning from the shared digit table
    node: str | None = None  # for `goto`: where to go
    then: str | None = None  # for `task`, `sms_directory`, `accept_oldest`: where to go after
    only_if: str | None = None  # "sms" or "resident": offered only to such callers


@dataclass(frozen=True)
class Node:
    """A menu (with options) or a message (without)."""

    name: str
    prompt: dict[str, str]
    intro: dict[str, str] = field(default_factory=dict)
    title: dict[str, str] = field(default_factory=dict)  # what staff call it (the picture's box); not said
    audio: dict[str, str] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    timeout: int = 6
    # "repeat" the menu; "person": put through at once; "callback": after the last round, a call-back task
    no_input: str = "repeat"
    next: str | None = None  # a message: the node said after it
    end: bool = False  # a message: the call ends after it
    short: tuple[tuple[str, ...], ...] = ()  # a short menu's levels, by key (`dispatch.ivr.hearing`)

    @property
    def is_menu(self) -> bool:
        """True if the node asks for a key."""
        return bool(self.options)

    def option(self, digit: str) -> Option | None:
        """The option for `digit`, if the node has one."""
        return next((o for o in self.options if o.digit == digit), None)


@dataclass(frozen=True)
class IvrScript:
    """A whole voice script."""

    path: Path
    version: int
    entry: dict[str, str]  # caller kind → node
    rounds: int
    speech: bool
    phrases: dict[str, dict[str, str]]  # language → key → text
    nodes: dict[str, Node]
    more: str = "7"  # the key of "more" in a short menu (`dispatch.ivr.hearing`): no split menu may use it

    def phrase(self, key: str, language: str, **fields: object) -> str:
        """A phrase in `language` (falling back to zh-CN) with its placeholders filled."""
        text = self.phrases.get(language, {}).get(key) or self.phrases["zh-CN"][key]
        return text.format(**fields) if fields else text


def load_script(path: Path = VOICE_SCRIPT_FILE, digits: ReplyVocabulary | None = None) -> IvrScript:
    """Read and shape-check a voice script.

    Args:
        path: The TOML file.
        digits: The shared digit table; options of `do = "task"` without a `digit` take theirs from it.

    Returns:
        The script.

    Raises:
        IvrScriptError: the file cannot be read, or is not shaped like a script; every problem is listed.
    """
    try:
        data = load_versioned_toml(path)
    except MessageCatalogError as exc:
        raise IvrScriptError(path.name, [str(exc)]) from exc
    digits = digits or ReplyVocabulary.load()
    key_of_meaning = {meaning: key for key, meaning in digits.digits.items()}
    problems: list[str] = []
    reader = _Reader(problems)
    if data.get("kind") != "ivr":
        problems.append('kind must be "ivr"')
    rules = reader.table(data, "rules", "script")
    timeout = reader.integer(rules, "timeout", "rules", 6, 2, 30)
    rounds = reader.integer(rules, "rounds", "rules", 2, 1, 3)
    speech = bool(rules.get("speech", False))
    more = str(rules.get("more", "7"))
    if more not in KEYS or more in (PERSON_DIGIT, REPEAT_DIGIT):
        problems.append('rules: more must be one key 1-8, * or #: the key of "more" in a short menu')
    entry = {str(k): str(v) for k, v in reader.table(data, "entry", "script").items()}
    for kind in CALLER_KINDS:
        if kind not in entry:
            problems.append(f"entry: no node for {kind} callers")
    entry.setdefault("checkin", entry.get("resident", ""))  # the daily check-in call: the resident menu if unset
    phrases_raw = reader.table(data, "phrase", "script")
    phrases = {
        str(lang): {str(k): str(v) for k, v in table.items()}
        for lang, table in phrases_raw.items()
        if isinstance(table, dict)
    }
    if "zh-CN" not in phrases:
        problems.append("phrase: zh-CN phrases are required")
    nodes: dict[str, Node] = {}
    for name, raw in reader.table(data, "node", "script").items():
        if not isinstance(raw, dict):
            problems.append(f"node {name}: must be a table")
            continue
        nodes[name] = _node(str(name), raw, timeout, key_of_meaning, reader)
    if problems:
        raise IvrScriptError(path.name, problems)
    return IvrScript(path, int(data["version"]), entry, rounds, speech, phrases, nodes, more)


def _node(name: str, raw: dict[str, Any], timeout: int, key_of_meaning: dict[str, str], reader: _Reader) -> Node:
    where = f"node {name}"
    options = []
    listed = raw.get("option", [])
    if not isinstance(listed, list):
        reader.problems.append(f"{where}: option must be a list of tables ([[node.{name}.option]])")
        listed = []
    for index, opt in enumerate(listed):
        if not isinstance(opt, dict):
            reader.problems.append(f"{where}: option {index + 1} must be a table")
            continue
        do = str(opt.get("do", ""))
        need = opt.get("need")
        digit = str(opt.get("digit", key_of_meaning.get(str(need), "") if need else ""))
        here = f"{where}, option {digit or index + 1}"
        if do not in ACTIONS:
            reader.problems.append(f"{here}: do must be one of {', '.join(ACTIONS)}, not {do!r}")
        if digit not in KEYS:
            reader.problems.append(f"{here}: digit must be one key 0-9, * or #")
        if do == "task" and (not isinstance(need, str) or need not in key_of_meaning):
            reader.problems.append(f"{here}: need must be a meaning from menu_digits.toml, not {need!r}")
        if opt.get("only_if") not in (None, *CONDITIONS):
            reader.problems.append(f"{here}: only_if must be one of {', '.join(CONDITIONS)}")
        options.append(
            Option(
                digit=digit,
                do=do,
                say=reader.texts(opt, "say", here),
                need=str(need) if need else None,
                node=str(opt["node"]) if "node" in opt else None,
                then=str(opt["then"]) if "then" in opt else None,
                only_if=str(opt["only_if"]) if "only_if" in opt else None,
            )
        )
    no_input = str(raw.get("no_input", "repeat"))
    if no_input not in ("repeat", "person", "callback"):
        reader.problems.append(f"{where}: no_input must be repeat, person or callback")
    return Node(
        name=name,
        prompt=reader.texts(raw, "prompt", where),
        intro=reader.texts(raw, "intro", where),
        title=reader.texts(raw, "title", where),
        audio=reader.texts(raw, "audio", where),
        options=tuple(options),
        timeout=reader.integer(raw, "timeout", where, timeout, 2, 30),
        no_input=no_input,
        next=str(raw["next"]) if "next" in raw else None,
        end=bool(raw.get("end", False)),
        short=_levels(raw.get("short", []), where, reader),
    )


def _levels(raw: object, where: str, reader: _Reader) -> tuple[tuple[str, ...], ...]:
    """A node's `short`: a list of lists of keys, the order of a short menu's levels."""
    if not isinstance(raw, list) or not all(
        isinstance(group, list) and all(isinstance(key, str) for key in group) for group in raw
    ):
        reader.problems.append(f'{where}: short must be a list of lists of keys, e.g. [["4", "0"], ["2", "3"]]')
        return ()
    return tuple(tuple(group) for group in raw)


@dataclass
class _Reader:
    problems: list[str]

    def table(self, data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problems.append(f"{where}: {key} must be a table")
            return {}
        return value

    def texts(self, data: dict[str, Any], key: str, where: str) -> dict[str, str]:
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.problems.append(f"{where}: {key} must be a table of language = text")
            return {}
        return {str(k): v for k, v in value.items()}

    def integer(self, data: dict[str, Any], key: str, where: str, default: int, low: int, high: int) -> int:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.problems.append(f"{where}: {key} must be a whole number from {low} to {high}")
            return default
        return value
