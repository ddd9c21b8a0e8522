"""Text in a parsed JSON body that no database can store, found before anything reads the body's fields.

JSON may spell any UTF-16 code unit, so `"\\ud800"` parses to a lone surrogate: a Python `str` that has no UTF-8
form. SQLite's driver, PostgreSQL's and the SMS segment counter all encode text as UTF-8 and raise on one (a
500). A NUL (U+0000) is valid Unicode, but PostgreSQL cannot store it in text. Every reader of JSON bodies asks
`unstorable_text` once, so no route has to remember to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UnstorableText:
    """Where a parsed JSON value holds text that cannot be stored, and why.

    Attributes:
        field: the path to the string, as `note`, `phones[1]` or `address.room`; a key that is itself the bad
            text is named by its path with `(a key)` after it.
        code: `lone_surrogate` or `nul`.
        message: one sentence for the caller, naming the field.
    """

    field: str
    code: str
    message: str


def unstorable_text(value: Any) -> UnstorableText | None:
    """The first string in `value` (keys included), in document order, holding a lone surrogate or a NUL.

    A loop, not recursion: the JSON may be nested as deep as the parser allowed.

    Args:
        value: a value as `json.loads` returns it.

    Returns:
        What is wrong and where, or None if every string can be stored.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = _problem(item)
            if found is not None:
                return _unstorable(path or "the body", *found)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                here = f"{path}.{_shown(key)}" if path else _shown(key)
                found = _problem(key)
                if found is not None:
                    return _unstorable(f"{here} (a key)", *found)
                children.append((here, child))
            stack += reversed(children)  # popped first to last: the first bad field named is the first written
        elif isinstance(item, list):
            stack += reversed([(f"{path}[{index}]", child) for index, child in enumerate(item)])
    return None


def _problem(text: str) -> tuple[str, str] | None:
    """(code, the character as a JSON escape) for the first character of `text` that cannot be stored."""
    for char in text:
        if char == "\x00":
            return "nul", "\\u0000"
        if "\ud800" <= char <= "\udfff":
            return "lone_surrogate", f"\\u{ord(char):04x}"
    return None


def _unstorable(field: str, code: str, escape: str) -> UnstorableText:
    if code == "nul":
        return UnstorableText(field, code, f"{field}: text must not contain NUL characters ({escape})")
    return UnstorableText(field, code, f"{field}: text must be valid Unicode, not a lone surrogate ({escape})")


def _shown(key: str) -> str:
    """A key as it can be written in an answer: at most 60 characters, those with no UTF-8 form and NUL as escapes."""
    return key[:60].encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
