"""Reading settings from a table: one `Setting` per variable, and the kinds of value a variable may hold.

A kind is a function from the text an operator wrote (stripped, never empty) and the settings read before it to
the value; a bad value raises `BadValue` with the problem in words, and `read_table` turns that into one
`SettingsError` line that names the variable. A variable left unset or blank takes its default, which is
checked like any given value; a setting with no default is None when unset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from hotline.exceptions import SettingsError

Found = Mapping[str, Any]  # the settings read so far, by field name
Kind = Callable[[str, Found], Any]


class BadValue(Exception):
    """A value a setting cannot take; `problem` completes the sentence that starts with the variable's name."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Setting:
    """One environment variable: the `Settings` field it fills, its kind of value, its default and what it is."""

    env: str
    field: str
    kind: Kind
    default: str | Callable[[Found], str] | None = None  # a callable: a default that follows earlier settings
    help: str = ""


def read_table(table: tuple[Setting, ...], text: Callable[[str], str | None]) -> dict[str, Any]:
    """Every setting of `table`, in order, by field name.

    Args:
        table: the settings, each after those its kind or default reads.
        text: the stripped value of a variable, or None when it is unset or blank.

    Raises:
        SettingsError: naming the first variable whose value (or default) its kind refuses.
    """
    found: dict[str, Any] = {}
    for setting in table:
        raw = text(setting.env)
        if raw is None:
            raw = setting.default(found) if callable(setting.default) else setting.default
        if raw is None:
            found[setting.field] = None
            continue
        try:
            found[setting.field] = setting.kind(raw, found)
        except BadValue as bad:
            raise SettingsError(setting.env, bad.problem) from None
    return found


def plain(raw: str, found: Found) -> str:
    """The text as given."""
    return raw


def whole(low: int, high: int, unit: str = "") -> Kind:
    """A whole number from `low` to `high`; `unit` names what is counted in the message."""
    problem = f"must be a whole number{f' of {unit}' if unit else ''} from {low} to {high}"

    def kind(raw: str, found: Found) -> int:
        try:
            value = int(raw) if raw.isdigit() else low - 1  # "²" is a digit int() refuses
        except ValueError:
            raise BadValue(problem) from None
        if not low <= value <= high:
            raise BadValue(problem)
        return value

    return kind


def number(low: float, high: float, problem: str) -> Kind:
    """A number from `low` to `high`."""

    def kind(raw: str, found: Found) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise BadValue(problem) from None
        if not low <= value <= high:
            raise BadValue(problem)
        return value

    return kind


def one_of(choices: Collection[str], problem: str, fold: Callable[[str], str] = str) -> Kind:
    """One of `choices` after `fold` (e.g. str.lower); `{value!r}` in `problem` shows what was given."""

    def kind(raw: str, found: Found) -> str:
        value = fold(raw)
        if value not in choices:
            raise BadValue(problem.format(value=value))
        return value

    return kind


def matching(pattern: str, problem: str) -> Kind:
    """Text that matches the regular expression `pattern`."""
    compiled = re.compile(pattern)

    def kind(raw: str, found: Found) -> str:
        if not compiled.match(raw):
            raise BadValue(problem)
        return raw

    return kind


def time_of_day(example: str) -> Kind:
    """A local time such as 20:00."""

    def kind(raw: str, found: Found) -> time:
        try:
            return time.fromisoformat(raw)
        except ValueError:
            raise BadValue(f"must be a time of day such as {example}") from None

    return kind


def times_of_day(raw: str, found: Found) -> tuple[time, ...]:
    """Comma-separated local times, in order, each once."""
    try:
        return tuple(sorted({time.fromisoformat(t.strip()) for t in raw.split(",") if t.strip()}))
    except ValueError:
        raise BadValue("must be times of day such as 09:00,15:00") from None


def time_span(raw: str, found: Found) -> tuple[time, time]:
    """From one local time to another, such as 21:00-07:00."""
    parts = raw.split("-")
    try:
        return time.fromisoformat(parts[0].strip()), time.fromisoformat(parts[1].strip())
    except (ValueError, IndexError):
        raise BadValue("must be two times such as 21:00-07:00") from None


def base_url(raw: str, found: Found) -> str:
    """An http(s) base URL with no query or fragment, without its trailing slash."""
    url = raw.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BadValue("must be a base URL such as https://hotline.example.org")
    return url


def http_url(raw: str, found: Found) -> str:
    """Any http(s) URL, without its trailing slash."""
    url = raw.rstrip("/")
    if urlsplit(url).scheme not in ("http", "https"):
        raise BadValue("must be an http(s) URL")
    return url


def folder(raw: str, found: Found) -> Path:
    """A folder's absolute path; whether it can be made is the data dir's preparation's to say."""
    return Path(raw).expanduser().resolve()


def existing_file(raw: str, found: Found) -> Path:
    """The path of a file that is there."""
    path = Path(raw).expanduser()
    if not path.is_file():
        raise BadValue(f"{path} is not a file")
    return path


def timezone(raw: str, found: Found) -> ZoneInfo:
    """An IANA timezone."""
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadValue(f"{raw!r} is not an IANA timezone such as Asia/Shanghai") from None


def phone_number(raw: str, found: Found) -> str:
    """A phone number in any format, read in the `region` setting's region, as E.164."""
    try:
        parsed = phonenumbers.parse(raw, found["region"])
    except phonenumbers.NumberParseException:
        raise BadValue("is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise BadValue("is not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
