"""The approved voice template of the check-in call placed through Tencent Cloud's voice messages (VMS), read from
`ivr_scripts/tencent_voice_templates.toml` and held to Tencent's rules, so a template that cannot be used is found
by `hotline ivr check` and at start, never when a call goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dispatch.exceptions import MessageCatalogError
from dispatch.script_data import load_versioned_toml
from dispatch.sms_templates import shape_rules
from ivr_scripts import SCRIPTS_DIR

VOICE_TEMPLATES_FILE = SCRIPTS_DIR / "tencent_voice_templates.toml"
MOST_SPOKEN = 350  # Tencent's limit: the voice content read aloud, with its variables filled in
_ID = re.compile(r"^[1-9][0-9]{0,11}\Z")  # Tencent's template ids are numbers


@dataclass(frozen=True)
class CheckinVoiceTemplate:
    """The check-in call's template: its id, its text (the name as {1}), and the longest name it carries."""

    id: str
    text: str
    name_longest: int

    def params(self, name: str) -> list[str]:
        """The template's variables for a resident called `name`: the name, cut to fit (never empty)."""
        cleaned = " ".join(name.split())[: self.name_longest]
        return [cleaned or "您"]

    @classmethod
    def load(cls, path: Path = VOICE_TEMPLATES_FILE) -> CheckinVoiceTemplate:
        """The checked template.

        Raises:
            MessageCatalogError: every problem found, one line each.
        """
        found, problems = _read(path)
        if found is None:
            raise MessageCatalogError("\n".join(f"{path.name}: {p}" for p in problems))
        return found


def check_voice_templates(path: Path = VOICE_TEMPLATES_FILE) -> list[str]:
    """Every problem of the voice template file, one clear line each: an empty list when it can be used."""
    return _read(path)[1]


def _read(path: Path) -> tuple[CheckinVoiceTemplate | None, list[str]]:
    try:
        data = load_versioned_toml(path)
    except MessageCatalogError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    limit = _whole(data.get("variable_limit"), "variable_limit", problems)
    checkin = data.get("checkin")
    if not isinstance(checkin, dict) or not isinstance(checkin.get("template"), str):
        return None, [*problems, '[checkin] must give the check-in call\'s template: id = "…", template = "{1}…"']
    template_id, text = checkin.get("id"), checkin["template"]
    if not isinstance(template_id, str) or not _ID.match(template_id):
        problems.append(f"[checkin] id {template_id!r} must be Tencent's numeric template id, in quotes")
    longest = _whole(checkin.get("name_longest"), "[checkin] name_longest", problems)
    if longest > limit:
        problems.append(f"[checkin] name_longest is {longest}; a variable takes at most {limit}")
    problems += [f"[checkin] the template {text!r} {p}" for p in voice_template_rules(text, [longest])]
    if re.findall(r"\{([0-9]+)\}", text) != ["1"]:
        problems.append(f"[checkin] the template {text!r} must have one variable, {{1}}: the resident's name")
    problems += [f"[checkin] the template {p}" for p in keys_against_the_menu(text)]
    if problems:
        return None, problems
    return CheckinVoiceTemplate(str(template_id), text, longest), []


MENU_DIGITS_FILE = SCRIPTS_DIR / "menu_digits.toml"


def keys_against_the_menu(text: str, menu: Path = MENU_DIGITS_FILE) -> list[str]:
    """Where the keys the template offers ("…请按N") disagree with the check-in menu's digits, which decide what a
    key means: each offered key must be in menu_digits.toml, its words must hold that digit's short label, and the
    key for feeling unwell must be offered (a resident on the phone must be able to say so)."""
    digits = {str(d.get("key")): d for d in load_versioned_toml(menu).get("digit", [])}
    label = {key: str(dict(d.get("sms", {})).get("zh-CN", "")) for key, d in digits.items()}
    problems, offered = [], set()
    for clause, key in re.findall(r"([^，。,.;；！!？?]*)请按([0-9])", text):
        offered.add(key)
        if key not in digits:
            problems.append(f"offers key {key}, which menu_digits.toml does not have")
        elif not label[key] or label[key] not in clause:
            problems.append(f"says {clause!r} for key {key}, which is {label[key]!r} in menu_digits.toml")
    unwell = [key for key, d in digits.items() if d.get("meaning") == "unwell"]
    if unwell and unwell[0] not in offered:
        problems.append(f"must offer the key for feeling unwell ({unwell[0]}, {label[unwell[0]]!r})")
    return problems


def voice_template_rules(text: str, variables: list[int]) -> list[str]:
    """Where a voice template breaks Tencent's rules, given each variable's longest value."""
    problems, constant = shape_rules(text)
    total = len(constant) + sum(variables[: len(re.findall(r"\{[0-9]+\}", text))])
    if total > MOST_SPOKEN:
        problems.append(f"can be {total} characters with the longest values; Tencent reads at most {MOST_SPOKEN}")
    return problems


def _whole(value: object, name: str, problems: list[str]) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        problems.append(f"{name} must be a whole number of characters, as Tencent's console gives it")
        return 1
    return value
