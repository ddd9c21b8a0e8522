"""A resident's profile for hearing and memory, as the voice hotline speaks by it: slower and louder speech (SSML
prosody), every prompt said twice, short menus, and an SMS copy of what a call said.

Short menus: a level says at most `MAX_SHORT` options. A menu with more is said in levels: two options and "for
more, press <more key>", the last level up to three. The keys stay the ones the resident knows (the script's
`more` key is one no split menu uses), and every level's <Gather> takes every key of the menu, so a key pressed
early still counts. Key 9 (say again) is not said in a short menu: silence says the level again, and 9 still
works. A node may give its levels' order in the script (`short = [["4", "0"], ["2", "3"]]`); without it, the
options go in the script's order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from dispatch.ivr.script import Node, Option

MAX_SHORT = 3  # options said at one level of a short menu, "more" included
SLOWER_RATE = "80%"  # of the voice's usual rate (Amazon Polly takes 20% to 200%)
LOUDER_VOLUME = "+6dB"  # about twice as loud as the voice's usual volume
PAUSE_SECONDS = 1  # between a prompt and its repeat


@dataclass(frozen=True)
class Profile:
    """How calls speak to one resident. Every switch is independent of the others."""

    slower: bool = False
    louder: bool = False
    twice: bool = False
    short_menus: bool = False
    sms_copy: bool = False

    def merged(self, other: Profile) -> Profile:
        """Both profiles' switches: a number shared by two residents speaks as the one who needs more needs."""
        return Profile(*(getattr(self, f.name) or getattr(other, f.name) for f in fields(Profile)))

    def prosody(self) -> dict[str, str]:
        """The SSML <prosody> attributes this profile asks for (empty: none)."""
        return {
            **({"rate": SLOWER_RATE} if self.slower else {}),
            **({"volume": LOUDER_VOLUME} if self.louder else {}),
        }

    def name(self) -> str:
        """The switches that are on, for a check's message: "slower+twice", or "plain"."""
        return "+".join(f.name for f in fields(Profile) if getattr(self, f.name)) or "plain"


NO_PROFILE = Profile()
SWITCHES = tuple(f.name for f in fields(Profile))
# The switches that change a call's TwiML (an SMS copy does not): `hotline ivr check` renders all their combinations.
VOICE_SWITCHES = ("slower", "louder", "twice", "short_menus")


def every_voice_profile() -> list[Profile]:
    """Every combination of the voice switches (16)."""
    return [
        Profile(**{name: bool(bits >> i & 1) for i, name in enumerate(VOICE_SWITCHES)})
        for bits in range(2 ** len(VOICE_SWITCHES))
    ]


def short_levels(node: Node, options: list[Option]) -> list[tuple[Option, ...]]:
    """The levels of a short menu: the options said at each (the offered ones but "say again"), in order. One
    level if they fit; a level that is not the last is followed by "more"."""
    spoken = [o for o in options if o.do != "repeat"]
    if len(spoken) <= MAX_SHORT:
        return [tuple(spoken)]
    if node.short:
        by_digit = {o.digit: o for o in spoken}
        listed = {digit for group in node.short for digit in group}
        levels = [tuple(by_digit[d] for d in group if d in by_digit) for group in node.short]
        levels.append(tuple(o for o in spoken if o.digit not in listed))  # any the script's order left out
        return [level for level in levels if level] or [()]
    levels = []
    while len(spoken) > MAX_SHORT:
        levels.append(tuple(spoken[: MAX_SHORT - 1]))
        spoken = spoken[MAX_SHORT - 1 :]
    levels.append(tuple(spoken))
    return levels
