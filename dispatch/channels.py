"""What each channel the hotline can speak through is able to do, and what the hotline does instead where a
community's channels cannot do something.

A channel is a provider's way of reaching phones: Twilio, Tencent Cloud's SMS, an Android phone's SIM, or the
local gateway of laptops and tests. Each declares its abilities here, once; settings are checked against them at
start, and the ladder asks them before it plans a rung that needs one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Ability(enum.StrEnum):
    """One thing a channel may or may not do."""

    TWO_WAY_SMS = "two_way_sms"  # residents' and liaisons' replies reach the hotline
    FREE_TEXT = "free_text"  # any text can be sent; without it, only approved templates
    DELIVERY_REPORTS = "delivery_reports"  # the provider says whether an SMS reached the phone
    VOICE_MENU = "voice_menu"  # callers to the hotline's number hear the voice menu (the 24-hour hotline)
    CHECKIN_CALLS = "checkin_calls"  # an automated call that takes a keypress (the check-in call, its ladder)
    SPOKEN_CALLS = "spoken_calls"  # an automated call that says a text (an urgent alert to a liaison)
    MISSED_CALLS = "missed_calls"  # the provider reports a call that rang and was not answered


@dataclass(frozen=True)
class ChannelAbilities:
    """A channel's name and what it can do."""

    name: str
    abilities: frozenset[Ability]

    def can(self, ability: Ability) -> bool:
        return ability in self.abilities


_EVERYTHING_BUT_MISSED = frozenset(Ability) - {Ability.MISSED_CALLS}

CHANNELS: dict[str, ChannelAbilities] = {
    channel.name: channel
    for channel in (
        ChannelAbilities("local", _EVERYTHING_BUT_MISSED),
        ChannelAbilities("twilio", _EVERYTHING_BUT_MISSED),
        # Mainland cloud SMS: replies come back by callback; every text goes out through an approved template. Its
        # voice messages place the check-in call (an approved template read aloud, keys reported by callback); they
        # cannot say a text of their own (an alert goes as an SMS), nor answer calls to the hotline.
        ChannelAbilities("tencent", frozenset({Ability.TWO_WAY_SMS, Ability.DELIVERY_REPORTS, Ability.CHECKIN_CALLS})),
        # A community's own SIM in an Android phone: any text, both ways, with reports; no automated calls.
        ChannelAbilities("android", frozenset({Ability.TWO_WAY_SMS, Ability.FREE_TEXT, Ability.DELIVERY_REPORTS})),
        ChannelAbilities("none", frozenset()),
    )
}


@dataclass(frozen=True)
class Shortfall:
    """Something a community's channels cannot do, and what the hotline does instead (a message catalog key)."""

    ability: Ability
    instead: str


# What the hotline does where the channels lack an ability: the catalog keys of hotline/console/channels.toml.
INSTEAD: dict[Ability, str] = {
    Ability.CHECKIN_CALLS: "shortfall_checkin_calls",
    Ability.SPOKEN_CALLS: "shortfall_spoken_calls",
    Ability.VOICE_MENU: "shortfall_voice_menu",
    Ability.FREE_TEXT: "shortfall_free_text",
    Ability.DELIVERY_REPORTS: "shortfall_delivery_reports",
}


def shortfalls(sms: ChannelAbilities, calls: ChannelAbilities) -> list[Shortfall]:
    """What the hotline cannot do with `sms` carrying its SMS and `calls` its calls, each with what it does
    instead, in the order of `INSTEAD`. Replies (two-way SMS) are not in it: a channel without them is refused."""
    has = {Ability.FREE_TEXT: sms, Ability.DELIVERY_REPORTS: sms}
    return [
        Shortfall(ability, instead) for ability, instead in INSTEAD.items() if not has.get(ability, calls).can(ability)
    ]
