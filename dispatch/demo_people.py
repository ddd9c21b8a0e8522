"""How the demo's people behave, for its made-up past (`dispatch.demo_history`): what residents answer to a check-in,
what they ask for unprompted, how liaisons answer an offer and how staff answer an alert. Every choice comes from
one seeded `random.Random`, so the same seed gives the same fortnight.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

FINE_WORDS = ("好", "我很好，放心", "挺好的，谢谢", "没事", "都好", "还行，谢谢关心", "一切正常")
NEED_WORDS = (
    "帮我买点菜",
    "降压药吃完了，帮忙买药",
    "垃圾帮忙倒一下",
    "有个快递帮我取一下",
    "请人来看看我",
    "麻烦回个电话",
)
UNWELL_WORDS = ("头晕，不舒服", "发烧38.6", "今天不大舒服", "胸口有点闷，难受")
DECLINE_WORDS = ("今天不在小区", "临时有事去不了", "在外地")
CANCEL_REASONS = ("家属已经买好了", "居民说不用了", "邻居帮忙办了")
REOPEN_REASONS = ("药买错了，要再跑一趟", "居民说东西没收到")
STAFF_DONE_NOTES = ("已电话联系，家属处理", "社区医生已上门")
DANGER_WORDS = "楼下王奶奶摔倒了，已叫救护车"
# Family members in a care circle, told a check-in is still unanswered: some answer for the resident.
FAMILY_FINE_WORDS = ("平安", "我在妈妈这里，她没事")
FAMILY_ANSWERS_EVERY = 2  # one unanswered check-in in two
HOSPITAL_NOTE = "市第一人民医院，家属陪护"
FAMILY_NOTE = "去女儿家住几天"
# The day's medicine tasks are made with the 09:00 check-in (the scheduler runs it on every tick; once a day is
# enough, and at a moment the past stops at anyway).
MEDICINE_RUN = "09:00"
RING_FINE_DAYS = 0.75  # a resident ringing "I am fine" does so most mornings; on the others, the check-in goes
RING_CALLBACK_EVERY = 5  # … "call me back", every fifth day

# A resident's answer to one check-in: at once, after the reminder (late), or never (silent: the visit comes).
CHECKIN_FATES = {"fine": 80, "need": 5, "unwell": 3, "late": 8, "silent": 4}
# A resident on voice, answering the check-in call: on the first call, on a retry (retry), or never.
CALL_FATES = {"fine": 82, "need": 4, "unwell": 3, "retry": 7, "silent": 4}


@dataclass(frozen=True)
class OfferAnswer:
    """What a liaison does with an offer: take it (and finish it, or not), hand it back, or let it lapse."""

    verb: str  # take, decline or ignore
    after: timedelta  # how long after the offer they reply
    finish_after: timedelta | None = None  # take: how long after taking they report it done; None: they do not


def minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def checkin_fate(rng: random.Random, by_call: bool) -> str:
    fates = CALL_FATES if by_call else CHECKIN_FATES
    return rng.choices(list(fates), weights=list(fates.values()))[0]


def answer_words(rng: random.Random, fate: str) -> str:
    """What a resident says for `fate` (fine, late and retry are fine, in the end)."""
    words = {"need": NEED_WORDS, "unwell": UNWELL_WORDS}.get(fate, FINE_WORDS)
    return rng.choice(words)


def offer_answer(rng: random.Random, urgent: bool) -> OfferAnswer:
    """How a liaison answers an offer: most take it, urgent ones sooner; a few hand it back or miss it."""
    verb = rng.choices(("take", "decline", "ignore"), weights=(85, 4, 11) if urgent else (72, 8, 20))[0]
    after = minutes(rng, 2, 8) if urgent else minutes(rng, 3, 40)
    if verb != "take":
        return OfferAnswer(verb, after)
    finish = minutes(rng, 25, 150) if rng.random() < 0.9 else None
    return OfferAnswer(verb, after, finish)


def staff_answer(rng: random.Random, rung: int) -> str:
    """What staff do when alerted about a task nobody took: assign it, close it themselves, or (a grid leader)
    leave it for the next rung."""
    if rung < 3:
        return rng.choices(("assign", "wait"), weights=(50, 50))[0]
    return rng.choices(("assign", "close"), weights=(70, 30))[0]


@dataclass
class Story:
    """A task told on purpose: its offers' answers by key (offer:0, offer:1, reopen, assign; missing: let lapse),
    and what staff do so long after it was made (cancel, reopen, close)."""

    offers: dict[str, OfferAnswer] = field(default_factory=dict)
    staff: list[tuple[timedelta, str]] = field(default_factory=list)
