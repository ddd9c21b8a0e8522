"""Errors raised by the web app and the command line."""

from __future__ import annotations


class SettingsError(Exception):
    """A setting is missing or bad. `str()` is one line naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable} {problem}")


class EmbeddedRedisError(Exception):
    """The private redis-server could not be found or started."""


class UnstorableJson(Exception):
    """A JSON body holds text no database can store (a lone surrogate, a NUL). `field` names where."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


class VoicemailUnavailable(Exception):
    """A voicemail in scope that cannot be played now: `status` to answer, `text` the catalog key that says why."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(text)
