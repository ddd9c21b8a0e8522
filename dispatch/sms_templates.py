"""Approved SMS templates (Tencent Cloud SMS): which template carries each text the hotline sends.

Mainland SMS goes out only through templates approved in advance: a fixed text with variables {1}, {2}, … The
table is read from `ivr_scripts/tencent_sms_templates.toml` and checked against `sms_texts.toml` and Tencent's
template rules (`check_templates`, run by `hotline ivr check`), so a text that cannot fit is refused before it is
ever sent.

The template of a catalog text is its zh-CN text with a leading 【…】 left off (Tencent writes the approved sign
there) and each placeholder, or run of placeholders side by side, as one variable, numbered in order. The gateway
is given the rendered text: `TemplateTable.match` finds the text it came from and the variables' values, and
Tencent renders the same text back. Staff's notices, free text, go through the one notice template.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch.exceptions import MessageCatalogError
from dispatch.script_data import load_versioned_toml
from dispatch.texts import FALLBACK_LANGUAGE, SMS_TEXTS_FILE
from ivr_scripts import SCRIPTS_DIR

TEMPLATES_FILE = SCRIPTS_DIR / "tencent_sms_templates.toml"
MOST_CHARACTERS = 500  # Tencent's limit: the sign with its 【】, and the text with its variables filled in
SIGN_LONGEST = 12  # characters of the sign's own text (TENCENT_SMS_SIGN is checked against it)
_ID = re.compile(r"^[1-9][0-9]{0,11}\Z")  # Tencent's template ids are numbers
_LEADING_SIGN = re.compile(r"^【[^【】]*】")
_BANNED = "【】¥★☞✓※"  # 【】 is the sign's; the rest are symbols Tencent refuses in a template
# A link: a scheme, www., or a name ending in a common top-level domain (short links included).
_LINK = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://\S*|www\.\S*|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*"
    r"\.(?:com|cn|net|org|gov|edu|info|top|xyz|vip|cc|me|io|co|ly|gl|tv|site|shop|link|club|online|wang|ren)\b\S*)"
)


def leading_sign(text: str) -> str | None:
    """The sign a catalog text starts with, without its 【】, or None."""
    found = _LEADING_SIGN.match(text)
    return found.group(0)[1:-1] if found else None


def has_link(text: str) -> bool:
    """True if `text` holds anything Tencent would read as a link."""
    return _LINK.search(text) is not None


@dataclass(frozen=True)
class Variable:
    """A catalog placeholder: its longest value."""

    longest: int


@dataclass(frozen=True)
class Template:
    """One approved template: its id, its text as submitted ({1}, {2}, …) and how to read a rendered SMS back."""

    key: str  # the catalog key, or "notice"
    id: str
    text: str
    pattern: re.Pattern[str]  # matches the rendered text whole, one group per variable


@dataclass(frozen=True)
class Match:
    """A rendered SMS read back: the template that renders it and the values of its variables."""

    template: Template
    values: list[str]

    def rendered(self, sign: str) -> str:
        """What the phone receives: the approved sign in 【】, then the template with its variables filled in."""
        text = re.sub(r"\{([1-9][0-9]*)\}", lambda found: self.values[int(found.group(1)) - 1], self.template.text)
        return f"【{sign}】{text}"


@dataclass(frozen=True)
class TemplateTable:
    """Every approved template, tried most specific first, and the notice template."""

    templates: tuple[Template, ...]
    notice: Template
    notice_longest: int  # the longest notice the notice template's variable takes
    link_replacement: str

    @classmethod
    def load(cls, path: Path = TEMPLATES_FILE, catalog: Path = SMS_TEXTS_FILE) -> TemplateTable:
        """Read and check the table.

        Raises:
            MessageCatalogError: every problem `check_templates` finds, one per line.
        """
        table, problems = _read(path, catalog)
        if problems or table is None:
            raise MessageCatalogError("\n".join(f"{path.name}: {problem}" for problem in problems))
        return table

    def match(self, body: str) -> Match | None:
        """The template that renders `body` and its variables' values, any link in them left out (a resident's words
        in a task SMS may hold one; a variable may not). A text of no catalog key goes as a notice if it fits the
        notice template; None if nothing can carry it."""
        for template in self.templates:
            found = template.pattern.fullmatch(body)
            if found is not None:
                return Match(template, [self.without_links(value) for value in found.groups()])
        if body.strip() and self.notice_problem(body) is None:
            return Match(self.notice, [body])
        return None

    def without_links(self, value: str) -> str:
        """A variable's value with every link replaced: a template variable may not carry one."""
        return _LINK.sub(self.link_replacement, value)

    def notice_problem(self, body: str) -> str | None:
        """Why a notice cannot go through the notice template, in English (the console says it in its own words),
        or None if it can."""
        if has_link(body):
            return "a notice sent as a Tencent template may not carry a link"
        if len(body) > self.notice_longest:
            return f"a notice sent as a Tencent template has at most {self.notice_longest} characters"
        return None


def check_templates(path: Path = TEMPLATES_FILE, catalog: Path = SMS_TEXTS_FILE) -> list[str]:
    """Every problem of the template table, one clear line each: an empty list when it can be used."""
    return _read(path, catalog)[1]


def template_of(text: str) -> tuple[str, list[list[str]]]:
    """A catalog text as Tencent's template: the leading 【…】 left off, placeholders as {1}, {2}, … (a run of
    placeholders side by side is one variable). Returns the template and each variable's placeholder names."""
    pieces = _pieces(_LEADING_SIGN.sub("", text))
    out, variables = [], []
    for literal, names in pieces:
        if names is None:
            out.append(literal)
        else:
            variables.append(names)
            out.append(f"{{{len(variables)}}}")
    return "".join(out), variables


def shape_rules(text: str, banned_note: str = "") -> tuple[list[str], str]:
    """Where a template's shape breaks Tencent's rules, for SMS and voice alike: a refused character, variables side
    by side, only variables, variables out of order, a link. Returns the problems and the text without its
    variables (what each kind of template then measures)."""
    problems = []
    constant = re.sub(r"\{[0-9]+\}", "", text)
    if any(ch in text for ch in _BANNED):
        problems.append(f"has a character Tencent refuses in a template ({_BANNED}{banned_note})")
    if re.search(r"\}\{", text):
        problems.append("has two variables side by side: put text between them")
    if not constant.strip():
        problems.append("is only variables: Tencent needs text of its own")
    numbers = [int(n) for n in re.findall(r"\{([0-9]+)\}", text)]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("must number its variables {1}, {2}, … in order")
    if has_link(constant):
        problems.append("has a link in its own text")
    return problems, constant


def template_rules(text: str, variables: list[int], longest_sign: int = SIGN_LONGEST) -> list[str]:
    """Where a template text breaks Tencent's rules, given each variable's longest value."""
    problems, constant = shape_rules(text, "; 【】 is for the sign")
    total = longest_sign + 2 + len(constant) + sum(variables)
    if total > MOST_CHARACTERS:
        problems.append(
            f"can be {total} characters with the sign and the longest values; Tencent allows {MOST_CHARACTERS}"
        )
    return problems


def _pieces(text: str) -> list[tuple[str, list[str] | None]]:
    """The text as literal pieces and runs of placeholder names, in order."""
    pieces: list[tuple[str, list[str] | None]] = []
    for literal, field, _, _ in string.Formatter().parse(text):
        if literal:
            pieces.append((literal, None))
        if field is not None:
            if pieces and pieces[-1][1] is not None:
                run = pieces[-1][1]
                assert run is not None
                run.append(field)
            else:
                pieces.append(("", [field]))
    return pieces


def _pattern(text: str) -> re.Pattern[str]:
    """Matches `text` rendered: the literal pieces as they are, each run of placeholders as one group."""
    parts = [re.escape(literal) if names is None else "(.+?)" for literal, names in _pieces(text)]
    return re.compile("".join(parts), re.DOTALL)


def _read(path: Path, catalog_path: Path) -> tuple[TemplateTable | None, list[str]]:
    try:
        data = load_versioned_toml(path)
        texts = load_versioned_toml(catalog_path)[FALLBACK_LANGUAGE]
    except MessageCatalogError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    limit = _whole(data.get("variable_limit"), "variable_limit", problems)
    replacement = data.get("link_replacement")
    if not isinstance(replacement, str) or not replacement or has_link(replacement):
        problems.append("link_replacement must be a text without a link, put where a link in people's words was")
        replacement = ""
    variables = _variables(data.get("variables"), limit, problems)
    fragments = data.get("fragments", {})
    fragments = fragments.get("keys", []) if isinstance(fragments, dict) else None
    mapped = data.get("templates", {})
    if not isinstance(mapped, dict) or not isinstance(fragments, list):
        return None, [*problems, "[templates] must map catalog keys to ids; [fragments] keys must be a list"]
    for key in sorted(set(texts) - set(mapped) - set(fragments)):
        problems.append(
            f"{catalog_path.name} key {key}: no template; map it under [templates], or list it under "
            "[fragments] if it is never an SMS of its own"
        )
    for key in sorted((set(mapped) | set(fragments)) - set(texts)):
        problems.append(f"{key}: not a key of {catalog_path.name}")
    for key in sorted(set(mapped) & set(fragments)):
        problems.append(f"{key}: both a template and a fragment")
    templates = []
    for key, template_id in mapped.items():
        if key not in texts:
            continue
        found = _catalog_template(key, template_id, texts[key], variables, problems)
        templates += [found] if found else []
    notice = _notice(data.get("notice"), limit, problems)
    if problems or notice is None:
        return None, problems
    templates.sort(key=lambda t: -len(re.sub(r"\{[0-9]+\}", "", t.text)))  # the most fixed text first
    return TemplateTable(tuple(templates), notice, limit, replacement), []


def _whole(value: object, name: str, problems: list[str]) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        problems.append(f"{name} must be a whole number of characters, as Tencent's console gives it")
        return MOST_CHARACTERS
    return value


def _variables(raw: object, limit: int, problems: list[str]) -> dict[str, Variable]:
    if not isinstance(raw, dict):
        problems.append("[variables] must give each placeholder its longest value: name = { longest = N }")
        return {}
    found = {}
    for name, spec in raw.items():
        spec = spec if isinstance(spec, dict) else {}
        if set(spec) != {"longest"}:
            problems.append(f"[variables] {name} must be {{ longest = N }}")
            continue
        longest = _whole(spec["longest"], f"[variables] {name} longest", problems)
        if longest > limit:
            problems.append(f"[variables] {name} can be {longest} characters; a variable takes at most {limit}")
        found[name] = Variable(longest)
    return found


def _catalog_template(
    key: str, template_id: object, text: str, variables: Mapping[str, Variable], problems: list[str]
) -> Template | None:
    if not isinstance(template_id, str) or not _ID.match(template_id):
        problems.append(f"[templates] {key}: id {template_id!r} must be Tencent's numeric template id, in quotes")
        return None
    template, runs = template_of(text)
    unknown = sorted({name for run in runs for name in run} - set(variables))
    if unknown:
        problems.append(f"[templates] {key}: placeholder {', '.join(unknown)} has no longest length in [variables]")
        return None
    longest = [sum(variables[name].longest for name in run) for run in runs]
    problems += [f"[templates] {key}: the template {template!r} {p}" for p in template_rules(template, longest)]
    return Template(key, template_id, template, _pattern(text))


def _notice(raw: Any, limit: int, problems: list[str]) -> Template | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("template"), str):
        problems.append('[notice] must give the notice template: id = "…", template = "…{1}…"')
        return None
    template_id, text = raw.get("id"), raw["template"]
    if not isinstance(template_id, str) or not _ID.match(template_id):
        problems.append(f"[notice] id {template_id!r} must be Tencent's numeric template id, in quotes")
        return None
    found = [f"[notice] the template {text!r} {p}" for p in template_rules(text, [limit])]
    if re.findall(r"\{([0-9]+)\}", text) != ["1"]:
        found.append(f"[notice] the template {text!r} must have one variable, {{1}}: the notice")
    problems += found
    head, _, tail = text.partition("{1}")
    pattern = re.compile(re.escape(head) + "(.+?)" + re.escape(tail), re.DOTALL)
    return None if found else Template("notice", template_id, text, pattern)
