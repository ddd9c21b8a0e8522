"""Errors the domain raises. Entry points translate them once, at the edge."""

from __future__ import annotations


class DispatchError(Exception):
    """Base class for domain errors."""


class InvalidPhoneNumber(DispatchError):
    """A phone number could not be read or is not a real number."""

    def __init__(self, raw: str, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"{raw!r} is not a usable phone number: {reason}")


class AlreadyRegistered(DispatchError):
    """A phone number already belongs to someone in the register."""

    def __init__(self, phone_masked: str, who: str) -> None:
        self.phone_masked = phone_masked
        self.who = who
        super().__init__(f"{phone_masked} is already registered to {who}")


class NotFound(DispatchError):
    """A record named by the caller does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key}")


class InvalidInboundMessage(DispatchError):
    """An inbound message lacks a field we must have."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field} {problem}")


class MessageCatalogError(DispatchError):
    """An SMS text file in ivr_scripts/ is malformed."""


class IvrScriptError(DispatchError):
    """A voice menu script in ivr_scripts/ cannot be used; every problem found is listed."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        super().__init__(f"{name}: " + "; ".join(problems))


class InvalidPlan(DispatchError):
    """A check-in plan that cannot be kept: a bad time, one in quiet hours, an unknown channel, reversed dates."""


class InvalidStaffUser(DispatchError):
    """A staff account or API token cannot be made or changed as asked; the message says why, for the admin on
    the command line, and `field` and `code` name it for a console page to put in words."""

    def __init__(self, message: str, field: str = "", code: str = "invalid") -> None:
        self.field = field
        self.code = code
        super().__init__(message)


class InvalidAction(DispatchError):
    """Staff asked for something that cannot be done to this object in its state (e.g. closing a cancelled task),
    or gave a bad value. The message says what and why, in words staff can act on. `key` and `fields`, when given,
    name the console's own sentence for it (`refused_<key>`), so a page says it in the staff member's language."""

    def __init__(self, message: str, key: str = "", **fields: object) -> None:
        super().__init__(message)
        self.key = key
        self.fields = fields
