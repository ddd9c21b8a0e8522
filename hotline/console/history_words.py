"""A task's history in the staff member's language: each event, message and call as one sentence from the catalog
(`texts/history.toml`), people by role and name, numbers in national format, times in the hotline's timezone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dispatch.models import TaskEventKind
from dispatch.tasks.escalation import DUTY_STAFF
from dispatch.tasks.event_reading import Actor
from dispatch.tasks.staff_views import HistoryItem

Words = Callable[..., str]  # a catalog key and its fields → the text in the staff member's language
# Events whose detail is never people's words: what they name is in the sentence.
HOTLINE_DETAIL = {TaskEventKind.OFFERED, TaskEventKind.ASSIGNED, TaskEventKind.LINKED, TaskEventKind.ESCALATED}


@dataclass(frozen=True)
class HistoryLine:
    """One line of the history as staff read it."""

    at: datetime
    sentence: str
    channel: str
    said: str  # people's own words: a message, a note, a reason; "" for none


def history_lines(
    history: list[HistoryItem], t: Words, category: Callable[[str], str], when: Callable[[datetime], str]
) -> list[HistoryLine]:
    """The history, oldest first, in words. `t` renders a console key, `category` a task category's name and
    `when` a time in the hotline's timezone."""
    return [_line(item, t, category, when) for item in history]


def _line(item: HistoryItem, t: Words, category: Callable[[str], str], when: Callable[[datetime], str]) -> HistoryLine:
    channel = _choice(t, "history_channel_", item.channel)
    if item.kind == "outbound":
        status, _, code = item.what.partition(" (")
        words = t(
            "history_outbound",
            to=t("history_to", who=actor(t, item.actor), phone=item.phone),
            kind=_choice(t, "history_message_kind_", item.channel, "sms"),
            status=_choice(t, "history_message_status_", status, "unknown")
            + (t("history_message_error", code=code.rstrip(")")) if code else ""),
        )
        by = "sms" if item.channel == "sms" else "voice"  # an outbound row's kind: sms, call or checkin (a call)
        return HistoryLine(item.at, words, _choice(t, "history_channel_", by), item.detail)
    if item.kind == "inbound":
        who = t("history_to", who=actor(t, item.actor), phone=item.phone)
        outcome = _choice(t, "history_outcome_", item.what, "other")
        return HistoryLine(
            item.at, t("history_inbound", who=who, channel=channel, outcome=outcome), channel, item.detail
        )
    if item.kind == "call":
        who = t("history_to", who=actor(t, item.actor), phone=item.phone)
        seconds, _, voicemail = item.detail.partition(",")
        words = t(
            "history_call",
            who=who,
            status=_choice(t, "history_call_status_", item.what.replace("-", "_").replace(" ", "_"), "other"),
            seconds=seconds.removesuffix("s") or "0",
            voicemail=t("history_call_voicemail") if voicemail else "",
        )
        return HistoryLine(item.at, words, channel, "")
    return HistoryLine(item.at, event_sentence(item, t, category, when), channel, _said(item))


def event_sentence(item: HistoryItem, t: Words, category: Callable[[str], str], when: Callable[[datetime], str]) -> str:
    """One event as a sentence: who did what, with the facts its detail holds."""
    facts, who = item.facts, actor(t, item.actor)
    person = actor(t, facts.person) if facts.person else t("history_actor_someone")
    kind = item.what
    if kind == TaskEventKind.CREATED:
        priority = _choice(t, "history_priority_", facts.priority or "normal")
        if facts.why in ("checkin", "staff", "ring"):
            return t(f"history_created_{facts.why}", who=who, priority=priority)
        return t("history_created", who=who, priority=priority)
    if kind == TaskEventKind.ADDED:
        return t(f"history_added_{facts.why}") if facts.why in ("checkin", "ring") else t("history_added", who=who)
    if kind == TaskEventKind.ESCALATED:
        reason = _choice(t, "history_reason_", facts.reason, "other")
        rung = t(f"rung_{min(facts.rung or 0, DUTY_STAFF)}")
        key = "history_escalated_nobody" if facts.nobody_to_reach else "history_escalated"
        return t(key, reason=reason, rung=rung)
    if kind == TaskEventKind.FLAGGED and facts.due is not None:
        return t("history_flagged_late", due=when(facts.due))
    if kind == TaskEventKind.TRIAGED:
        return t("history_triaged", who=who, category=category(facts.category) if facts.category else "-")
    if kind in set(TaskEventKind):
        return t(f"history_{kind}", who=who, person=person)
    return t("history_other", who=who)


def _said(item: HistoryItem) -> str:
    """People's words an event carries (a note, a reason, a liaison's reply); none for what the hotline wrote."""
    return "" if item.what in HOTLINE_DETAIL else item.facts.text


def actor(t: Words, who: Actor) -> str:
    """A person by role and name: 联络员王芳, 工作人员刘文员, 热线."""
    return t(f"history_actor_{who.role}", name=who.name)


def _choice(t: Words, prefix: str, value: str, fallback: str = "other") -> str:
    """The catalog's word for an enum value; the fallback's word for a value it does not know (never the value)."""
    try:
        return t(prefix + value)
    except KeyError:
        return t(prefix + fallback)
