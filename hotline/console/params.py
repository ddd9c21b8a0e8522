"""Ids in console URLs, query strings and forms: ASCII digits only, at most 9, so "²" or a 10-digit number is
simply not an id (a 404 or an ignored filter), never a crash in int() or the database (PostgreSQL's integer
columns end at 2,147,483,647, and a larger number in a query is an error there, not a miss)."""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor

ID_PATTERN = "[0-9]{1,9}"
_ID = re.compile(ID_PATTERN)


def as_id(value: object) -> int | None:
    """The id `value` names, or None if it is not one."""
    text = str(value).strip() if value is not None else ""
    return int(text) if _ID.fullmatch(text) else None


class IdConvertor(Convertor[int]):
    """`{name:id}` in a route path: matches only what `as_id` accepts."""

    regex = ID_PATTERN

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())
