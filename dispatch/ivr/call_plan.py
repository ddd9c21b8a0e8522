"""What one step of a call to the voice hotline decides: a plan, and the facts it is decided from.

`dispatch.ivr.decide` turns a call step (where the call is, the caller, the key or words, the facts read before)
into a `Plan`; `dispatch.ivr.plan_store` carries the plan out in the step's transaction; the webhook says it as
TwiML. A plan holds no database rows, so the decisions are tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from dispatch.ivr.calls import Caller
from dispatch.ivr.hearing import short_levels
from dispatch.ivr.script import Node, Option

CHOICES = (
    "task",
    "goto",
    "sms_directory",
    "accept_oldest",
    "record_greeting",
)  # what counts as having chosen something


def _count(text: str | None) -> int:
    """A count from an action URL: 1 to 9 ASCII digits, else 0."""
    return int(text) if text and text.isascii() and text.isdigit() and len(text) <= 9 else 0


@dataclass(frozen=True)
class Step:
    """Where a call is: carried in the action URL."""

    node: str
    rounds: int = 0  # rounds of silence or wrong keys so far at this node
    back: str = ""  # the node "back" returns to
    task: bool = False  # a task was made on this call: the goodbye says what happens next
    actions: int = 0  # choices acted on so far: a retried request is told apart from a second choice
    level: int = 0  # the level of a short menu being said (`dispatch.ivr.hearing`)

    def query(self, **extra: object) -> str:
        """The query string for an action URL."""
        params = {"n": self.node, "r": self.rounds, "b": self.back, "t": int(self.task), "k": self.actions}
        params |= {"l": self.level or None, **extra}
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})

    @classmethod
    def parse(cls, params: dict[str, str], default_node: str) -> Step:
        """The step from an action URL's query; unknown or missing values fall back to the start."""
        return cls(
            node=params.get("n") or default_node,
            rounds=_count(params.get("r", "0")),
            back=params.get("b", ""),
            task=params.get("t") == "1",
            actions=_count(params.get("k", "0")),
            level=_count(params.get("l", "0")),
        )


def offered(node: Node, caller: Caller) -> list[Option]:
    """The node's options this caller may choose."""
    ok = {"sms": caller.can_sms, "resident": caller.is_resident, None: True}
    return [o for o in node.options if ok.get(o.only_if, False)]


def menu_levels(node: Node, caller: Caller) -> list[tuple[Option, ...]]:
    """The levels a menu is said in to this caller: one, unless their profile asks for short menus."""
    options = offered(node, caller)
    if not caller.profile.short_menus or not node.is_menu:
        return [tuple(options)]
    return short_levels(node, options)


@dataclass(frozen=True)
class CallStep:
    """One request of a call: which call, who is on the line, where the call is."""

    call_sid: str
    caller: Caller
    step: Step
    outbound: bool = False  # a call the hotline placed (a check-in)


@dataclass(frozen=True)
class Press:
    """What the caller did at a menu: a key, spoken words, or neither (silence)."""

    digits: str = ""
    speech: str = ""


@dataclass(frozen=True)
class TaskFacts:
    """What a liaison hears about a task: whose it is, what for, where."""

    resident: str
    category: str  # the task category's code
    address: str


@dataclass(frozen=True)
class Accepted:
    """A liaison's "take the oldest" already done on this call at this choice (a retried request)."""

    task: TaskFacts | None  # the task it took; None if it took none


@dataclass(frozen=True)
class Listing:
    """A number in the community's directory."""

    name: str
    phone: str


@dataclass(frozen=True)
class MenuFacts:
    """What the menu step's choice needs from the database, read before deciding. Only what the chosen option
    needs is read; the rest keep their defaults."""

    directory: tuple[Listing, ...] = ()
    replies_to_caller: int = 0  # automatic answers to the caller's number in the last hour
    replies_to_unknown: int = 0  # automatic answers to numbers not on the register in the last hour
    accepted: Accepted | None = None  # "take the oldest" already done at this choice


@dataclass(frozen=True)
class Need:
    """A need to store as a voice inbound message, once per call and `what`; intake makes the task."""

    what: str
    need: str
    body: str  # for staff, in the staff language
    urgent: bool = False
    recording_url: str | None = None


@dataclass(frozen=True)
class Sms:
    """An SMS to queue, once per dedupe key."""

    dedupe_key: str
    to_phone: str
    body: str
    language: str


@dataclass(frozen=True)
class TakeOldest:
    """Take the oldest task waiting for the liaison on the phone, keyed so a retried request takes nothing more."""

    liaison_id: int
    dedupe_key: str


@dataclass(frozen=True)
class SayNode:
    """Say the node of `step` (a menu ends in a <Gather>); `intro`: with the node's introduction."""

    step: Step
    intro: bool = False


@dataclass(frozen=True)
class PutThrough:
    """Ring the `index`th person of the caller's chain; when nobody is left, take a voicemail."""

    step: Step
    index: int


@dataclass(frozen=True)
class TakeVoicemail:
    """Ask for a message and record it."""

    step: Step


@dataclass(frozen=True)
class RecordGreeting:
    """A liaison records their check-in greeting; nothing recorded: back to `step`'s menu."""

    step: Step


@dataclass(frozen=True)
class HangUp:
    """End the call."""


Then = SayNode | PutThrough | TakeVoicemail | RecordGreeting | HangUp


@dataclass(frozen=True)
class Plan:
    """What a step of a call does: what is said, what follows, and what is stored.

    `say` comes first, then `then`. When `take` is set, what it took is said after `say` (`accepted` or
    `nothing_to_accept`, by `decide.accepted_words`) once it has run.
    """

    then: Then
    say: tuple[str, ...] = ()
    needs: tuple[Need, ...] = ()
    sms: tuple[Sms, ...] = ()
    take: TakeOldest | None = None
    chose: bool = False  # the caller chose something (the call then needs no call-back for silence)
    dialled: int = 0  # people of the chain rung so far, counted by position: a retried request counts once
    connected: bool = False  # a person answered the put-through
    voicemail: bool = False  # a message was left
    checkin_needs: bool = False  # a resident on a check-in call talked to a person: they asked for someone
