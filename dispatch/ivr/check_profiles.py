"""`hotline ivr check` for residents' profiles for hearing and memory (`dispatch.ivr.hearing`): every menu can be
said as a short menu. For each menu and each kind of caller (what they are offered depends on it), in the
short-menu profile: no level says more than three options ("more" counted), every option but "say again" is said
at exactly one level, the levels the script gives name only the menu's keys, and "more" is a key the menu does
not use. The TwiML of every prompt in every profile is rendered and read back by `hotline.webhooks.profile_check`.
"""

from __future__ import annotations

from collections import Counter

from dispatch.ivr.call_plan import menu_levels, offered
from dispatch.ivr.calls import Caller
from dispatch.ivr.hearing import MAX_SHORT, Profile
from dispatch.ivr.script import IvrScript, Node

SHORT = Profile(short_menus=True)


def callers(profile: Profile, language: str = "zh-CN") -> list[Caller]:
    """One caller of each kind that changes what a menu offers: with and without SMS, liaisons on the register
    or not. Every menu is checked for each."""
    return [
        Caller(kind, "+8613800138000", language, can_sms=sms, is_resident=resident, profile=profile)
        for kind, sms, resident in (
            ("resident", True, False),
            ("resident", False, False),
            ("liaison", True, True),
            ("liaison", False, False),
            ("unknown", True, False),
            ("unknown", False, False),
        )
    ]


def check_short_menus(script: IvrScript) -> list[tuple[str, str]]:
    """Every problem a menu has in the short-menu profile: (where, what)."""
    problems: list[tuple[str, str]] = []
    for node in script.nodes.values():
        if node.is_menu:
            problems += _check_levels_given(node)
            seen: set[str] = set()
            for caller in callers(SHORT):
                for message in _check_menu(script, node, caller):
                    if message not in seen:
                        seen.add(message)
                        problems.append((f"node {node.name}", f"in the profile {SHORT.name()}: {message}"))
    return problems


def _check_levels_given(node: Node) -> list[tuple[str, str]]:
    where = f"node {node.name}"
    keys = [key for group in node.short for key in group]
    problems = [
        (where, f"short names key {key}, which this menu does not have")
        for key in dict.fromkeys(keys)
        if node.option(key) is None
    ]
    problems += [(where, f"short names key {key} {n} times") for key, n in Counter(keys).items() if n > 1]
    return problems


def _check_menu(script: IvrScript, node: Node, caller: Caller) -> list[str]:
    levels = menu_levels(node, caller)
    messages = []
    if len(levels) > 1 and node.option(script.more) is not None:
        messages.append(f'key {script.more} is this menu\'s, so it cannot mean "more": change rules.more or the key')
    for index, level in enumerate(levels):
        said = len(level) + (1 if index + 1 < len(levels) else 0)
        if said > MAX_SHORT:
            messages.append(f'level {index + 1} says {said} options; at most {MAX_SHORT} ("more" counted)')
    spoken = Counter(o.digit for level in levels for o in level)
    for option in (o for o in offered(node, caller) if o.do != "repeat"):
        if spoken[option.digit] != 1:
            messages.append(f"key {option.digit} is said at {spoken[option.digit]} levels, not one")
    return messages
