"""The demo's past, played: the clock set to each moment in turn, the hotline's own steps run at it, and people
answering as `dispatch.demo_people` says (the package's docstring tells the whole)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch import demo_people as people
from dispatch.checkins.answers import record_call_result, record_pickup
from dispatch.checkins.missed_checkin_ladder import advance
from dispatch.checkins.schedule import make_checkins, send_due
from dispatch.context import DispatchContext
from dispatch.demo_history.care_past import medicines, rings, set_away
from dispatch.demo_history.cast import DAYS, STEP, STORIES, cast_of
from dispatch.demo_history.stories import tell_stories
from dispatch.exceptions import DispatchError
from dispatch.inbound import InboundSms, store_inbound_batch
from dispatch.intake_batch import handle_inbound_batch
from dispatch.ivr.calls import identify_caller, start_call, store_call_need
from dispatch.models import (
    CHECKIN_WAITING,
    AbsenceReason,
    Checkin,
    CheckinStatus,
    CircleContact,
    InboundMessage,
    Liaison,
    LocalOutboxEntry,
    OutboundMessage,
    OutboundStatus,
    Resident,
    RingMode,
    RingSetting,
    StaffUser,
    Task,
    TaskPriority,
    TaskStatus,
)
from dispatch.models.base import set_clock
from dispatch.outbox import claim_many, mark_sent_many
from dispatch.staff_accounts import household_scope
from dispatch.tasks import staff_actions
from dispatch.tasks.escalation import escalate_due_tasks, flag_overdue_accepted

_OFFER_KEY = re.compile(r"task:(\d+):(offer:\d+|assign:\d+|reopen:\d+)")
_NO_ANSWER_KEY = re.compile(r"circle:checkin:(\d+):no-answer:\d+")


@dataclass(frozen=True)
class HistorySummary:
    """What the made-up past holds."""

    checkins: int
    tasks: int
    messages: int


def seed_history(
    sessions: sessionmaker[Session],
    context: DispatchContext,
    *,
    now: datetime,
    hotline_phone: str,
    staff_username: str,
    days: int = DAYS,
    seed: int = 1,
) -> HistorySummary | None:
    """Play the `days` days before `now`'s local day, and that day up to `now`, on the register as it is. Only on a
    hotline with no check-ins and no tasks yet: returns None, changing nothing, on any other."""
    with sessions() as session:
        if session.scalar(select(Checkin.id).limit(1)) or session.scalar(select(Task.id).limit(1)):
            return None
    rng = random.Random(seed)  # noqa: S311  # a made-up past, not secrets
    history = History(sessions, context, rng, hotline_phone, staff_username)
    try:
        history.play(now, days)
    finally:
        set_clock(None)
    with sessions() as session:
        return HistorySummary(
            checkins=session.scalar(select(func.count(Checkin.id))) or 0,
            tasks=session.scalar(select(func.count(Task.id))) or 0,
            messages=session.scalar(select(func.count(InboundMessage.id))) or 0,
        )


class History:
    """The past as it is played: the acts due at each moment, in order, and what people answer."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        context: DispatchContext,
        rng: random.Random,
        hotline_phone: str,
        staff_username: str,
    ) -> None:
        self.sessions, self.context, self.rng = sessions, context, rng
        self.hotline_phone, self.staff_username = hotline_phone, staff_username
        self.zone = context.timezone
        self.acts: list[tuple[datetime, int, Callable[[Session, datetime], None]]] = []
        self.order = itertools.count()
        self.inbox: list[tuple[str, str, str]] = []  # (SID, from phone, words) to store and take in at this moment
        self.sids = itertools.count(1)
        self.fates: dict[int, str] = {}  # check-in id: how its resident answers
        self.stories: dict[str, people.Story] = {}  # inbound SID: the story of the task it makes
        self.story_of: dict[int, people.Story] = {}  # task id: its story
        self.seen_tasks: set[int] = set()
        self.family_told: set[str] = set()  # check-in ids whose unanswered state a care circle was told
        with sessions() as session:
            phones, texters, homes = cast_of(session)
            # The stories' households are calm otherwise (every check-in fine, nothing asked unprompted): a need
            # of theirs would take in a story's message, and the story would be told on another task.
            told = {homes[r] for r in texters[-STORIES:]}
            self.calm = {phone for r, (phone, _) in phones.items() if homes[r] in told}
            self.texters = [phones[r][0] for r in texters if homes[r] not in told]
            self.tellers = [phones[r][0] for r in texters[-STORIES:]]
            self.liaisons = {
                li.phone: li.id for li in session.scalars(select(Liaison).where(Liaison.active)) if li.phone
            }
            # The register's care (`dispatch.demo_care`): who rings to check in, and who goes away in the past.
            self.ringers = [
                (rid, RingMode(mode), phones[rid][0])
                for rid, mode in session.execute(select(RingSetting.resident_id, RingSetting.mode))
                if rid in phones
            ]
            ringing = {rid for rid, _, _ in self.ringers}
            circled = sorted(set(session.scalars(select(CircleContact.resident_id))) & set(phones))
            hospital = [r for r in circled if homes[r] not in told and r not in ringing][:1]
            plain = [r for r in sorted(phones) if homes[r] not in told and r not in ringing and r not in circled]
            away = self.rng.sample(plain, 1) if plain and hospital else []
            self.away = list(zip((AbsenceReason.HOSPITAL, AbsenceReason.FAMILY), hospital + away, strict=False))
            gone = {phones[r][0] for _, r in self.away}
            self.texters = [phone for phone in self.texters if phone not in gone]  # asking nothing, away or not

    def at(self, when: datetime, act: Callable[[Session, datetime], None]) -> None:
        step = STEP.total_seconds()
        mark = datetime.fromtimestamp(-(-when.timestamp() // step) * step, when.tzinfo)
        heapq.heappush(self.acts, (mark, next(self.order), act))

    def local(self, day: date, hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm), self.zone)

    def play(self, now: datetime, days: int) -> None:
        today = now.astimezone(self.zone).date()
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            self.at(self.local(day, "00:05"), _nothing)  # the day's check-ins are made
            self.at(datetime.combine(day, self.context.done_by, self.zone), _nothing)  # tasks not done are flagged
            for _ in range(self.rng.randint(2, 4) if self.texters else 0):  # residents asking, unprompted
                when = self.local(day, "08:00") + people.minutes(self.rng, 0, 630)
                self.text(when, self.rng.choice(self.texters), self.rng.choice(people.NEED_WORDS))
            self.at(self.local(day, people.MEDICINE_RUN), medicines(self.context))
            rings(self, day)
        tell_stories(self, now, today)
        set_away(self, today)
        last = now - timedelta(days=days + 1)
        made: date | None = None
        while True:
            due = self.next_due(last)
            moment = min(filter(None, [self.acts[0][0] if self.acts else None, due]), default=None)
            if moment is None or moment > now:
                return
            set_clock(_stopped_at(moment))
            with self.sessions.begin() as session:
                if moment.astimezone(self.zone).date() != made:
                    made = moment.astimezone(self.zone).date()
                    make_checkins(session, moment, self.context)
                self.run_acts(session, moment)
                self.tick(session, moment, ladders=due is not None and due <= moment)
                self.deliver(session, moment)
            last = moment

    def next_due(self, after: datetime) -> datetime | None:
        """The earliest time after `after` that the scheduler or the sweeper has something to do."""
        sent = Checkin.status == CheckinStatus.SENT
        times = [
            (Checkin.due_at, Checkin.status == CheckinStatus.SCHEDULED),
            (Checkin.reminder_at, sent & (Checkin.rung == 0)),
            (Checkin.next_call_at, sent),
            (Checkin.visit_at, Checkin.status.in_(CHECKIN_WAITING) & (Checkin.rung < 2)),
            (Task.offer_deadline, Task.status.in_(TaskStatus.waiting())),
        ]
        queries = [select(func.min(column)).where(which, column > after) for column, which in times]
        with self.sessions() as session:
            found = [session.scalar(query) for query in queries]
        return min(filter(None, found), default=None)

    def tick(self, session: Session, now: datetime, *, ladders: bool) -> None:
        """The scheduler's and the sweeper's work at `now` (`ladders`: a check-in or an offer is due by now)."""
        flag_overdue_accepted(session, now, self.context)
        if not ladders:
            return
        while sum(send_due(session, now, self.context).counts.values()):
            pass
        while advance(session, now, self.context).more:
            pass
        while escalate_due_tasks(session, now, self.context).more:
            pass

    def run_acts(self, session: Session, now: datetime) -> None:
        while self.acts and self.acts[0][0] <= now:
            _, _, act = heapq.heappop(self.acts)
            # Staff acting on a task that moved on meanwhile: refused, as the console would refuse it.
            with contextlib.suppress(DispatchError), session.begin_nested():
                act(session, now)
        if self.inbox:
            sms = [InboundSms(sid, phone, self.hotline_phone, words, None, "local") for sid, phone, words in self.inbox]
            stored = store_inbound_batch(session, sms)
            handle_inbound_batch(session, [s.message_id for s in stored], self.context, now)
            self.inbox.clear()

    def sid(self, prefix: str) -> str:
        return f"{prefix}{0xDE0000 + next(self.sids):032x}"

    def text(self, when: datetime, phone: str, words: str, story: people.Story | None = None) -> None:
        """Someone texts the hotline at `when` (nobody: nothing)."""
        sid = self.sid("SM")
        self.stories.update({sid: story} if story is not None else {})
        if phone:
            self.at(when, lambda session, now: self.inbox.append((sid, phone, words)))

    def deliver(self, session: Session, now: datetime) -> None:
        """Hand every decided SMS and call to the local gateway, as the workers would, and let people answer."""
        while True:
            pending = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.status == OutboundStatus.PENDING)
                .order_by(OutboundMessage.id)
            ).all()
            if not pending:
                return
            claim_many(session, [row.id for row in pending])
            sent = [(row.id, f"{'CA' if row.kind == 'checkin' else 'SM'}{row.id:032x}") for row in pending]
            mark_sent_many(session, sent, "local")
            texts = [
                {"kind": "sms", "sid": sid, "to_phone": row.to_phone, "from_ref": self.hotline_phone, "body": row.body}
                for row, (_, sid) in zip(pending, sent, strict=True)
                if row.kind == "sms"
            ]
            if texts:
                session.execute(insert(LocalOutboxEntry), texts)
            for row, (_, sid) in zip(pending, sent, strict=True):
                self.answer(session, row, sid, now)

    def answer(self, session: Session, row: OutboundMessage, sid: str, now: datetime) -> None:
        key = row.dedupe_key
        if row.kind == "checkin" and row.checkin_id is not None:
            self.answer_call(row.id, row.checkin_id, row.to_phone, sid, now)
        elif key.startswith("checkin:") and row.checkin_id is not None:
            calm = row.to_phone in self.calm
            fate = self.fates.setdefault(row.checkin_id, "fine" if calm else people.checkin_fate(self.rng, False))
            reminded = key.endswith(":reminder")
            if (fate in ("fine", "need", "unwell") and not reminded) or (fate == "late" and reminded):
                when = now + people.minutes(self.rng, 4, 50)
                self.text(when, row.to_phone, people.answer_words(self.rng, fate))
        elif (found := _OFFER_KEY.fullmatch(key)) is not None:
            self.answer_offer(session, int(found.group(1)), found.group(2), row.to_phone, now)
        elif (found := _NO_ANSWER_KEY.fullmatch(key)) is not None and found.group(1) not in self.family_told:
            # The circle is told a check-in is still unanswered: for every other one, its first contact answers.
            self.family_told.add(found.group(1))
            if (len(self.family_told) - 1) % people.FAMILY_ANSWERS_EVERY == 0:
                words = self.rng.choice(people.FAMILY_FINE_WORDS)
                self.text(now + people.minutes(self.rng, 5, 40), row.to_phone, words)

    def answer_call(self, outbound_id: int, checkin_id: int, phone: str, sid: str, now: datetime) -> None:
        """A check-in call rings: answered with the resident's answer, or not answered (a retry, then the visit)."""
        first = checkin_id not in self.fates
        fate = self.fates.setdefault(checkin_id, "fine" if phone in self.calm else people.checkin_fate(self.rng, True))
        picks_up = fate in ("fine", "need", "unwell") or (fate == "retry" and not first)
        rules = self.context.checkin

        def ring(session: Session, at: datetime) -> None:
            if not picks_up:
                record_call_result(session, outbound_id, sid, "no-answer", "", at, rules)
                return
            record_pickup(session, outbound_id, "human")
            resident = session.scalar(select(Checkin.resident_id).where(Checkin.id == checkin_id))
            language = session.scalar(select(Resident.language).where(Resident.id == resident)) or "zh-CN"
            caller = identify_caller(
                session, phone, region=self.context.region, language=language, duty_phone=self.context.duty_phone
            )
            call = start_call(session, sid, caller, self.hotline_phone, at)
            words = people.answer_words(self.rng, fate)
            need = {"need": None, "unwell": "unwell"}.get(fate, "fine")
            message = store_call_need(session, call, "checkin", need=need or "", body=words, now=at)
            record_call_result(session, outbound_id, sid, "completed", "human", at, rules, duration=40)
            if message is not None:
                handle_inbound_batch(session, [message], self.context, at)

        self.at(now + timedelta(minutes=1), ring)

    def answer_offer(self, session: Session, task_id: int, offer: str, phone: str, now: datetime) -> None:
        task = session.get(Task, task_id)
        assert task is not None
        story = self.story_for(session, task, now)
        liaison = self.liaisons.get(phone)
        if liaison is None:  # a grid leader or duty staff, alerted: they act in the console
            rung = int(offer.split(":")[1])
            what = "wait" if story is not None else people.staff_answer(self.rng, rung)  # stories: staff leave it
            what = "close" if task.household is None else what  # nobody's household: staff see to it themselves
            if what != "wait":
                self.at(now + people.minutes(self.rng, 5, 35), self.staff(task_id, what))
            return
        if story is not None:
            answer = story.offers.get(offer if offer.startswith("offer") else offer.split(":")[0])
        elif offer.startswith("assign"):  # staff rang them first: they take it
            answer = people.OfferAnswer("take", people.minutes(self.rng, 2, 10), people.minutes(self.rng, 30, 90))
        else:
            answer = people.offer_answer(self.rng, task.priority == TaskPriority.URGENT)
        if answer is None or answer.verb == "ignore":
            return
        if answer.verb == "decline":
            self.text(now + answer.after, phone, f"退{task_id} {self.rng.choice(people.DECLINE_WORDS)}")
            return
        taken = now + answer.after
        self.text(taken, phone, f"接{task_id}")
        if answer.finish_after is not None:
            self.text(taken + answer.finish_after, phone, f"完{task_id}")
        elif story is None:  # not done by evening: flagged, and finished the next morning
            next_morning = self.local(taken.astimezone(self.zone).date() + timedelta(days=1), "09:00")
            self.text(next_morning + people.minutes(self.rng, 0, 60), phone, f"完{task_id}")

    def story_for(self, session: Session, task: Task, now: datetime) -> people.Story | None:
        """The story of `task`, if it is one; the first time it is seen, its staff steps are set going."""
        if task.id in self.seen_tasks:
            return self.story_of.get(task.id)
        self.seen_tasks.add(task.id)
        source = session.get(InboundMessage, task.source_message_id) if task.source_message_id else None
        story = self.stories.get(source.provider_sid) if source is not None else None
        if story is not None:
            self.story_of[task.id] = story
            for after, what in story.staff:
                self.at(now + after, self.staff(task.id, what))
        return story

    def staff(self, task_id: int, what: str) -> Callable[[Session, datetime], None]:
        """A step staff take in the console on a task (as the demo's own account)."""

        def act(session: Session, now: datetime) -> None:
            user = session.scalar(select(StaffUser).where(StaffUser.username == self.staff_username))
            assert user is not None
            where, ctx = household_scope(user), self.context
            if what == "cancel":
                reason = self.rng.choice(people.CANCEL_REASONS)
                staff_actions.cancel(session, task_id, actor=user, where=where, now=now, context=ctx, reason=reason)
            elif what == "reopen":
                reason = self.rng.choice(people.REOPEN_REASONS)
                staff_actions.reopen(session, task_id, actor=user, where=where, now=now, context=ctx, reason=reason)
            elif what == "close":
                note = self.rng.choice(people.STAFF_DONE_NOTES)
                staff_actions.close(session, task_id, actor=user, where=where, now=now, context=ctx, note=note)
            else:
                task = session.get(Task, task_id)
                assert task is not None and task.household is not None
                household = task.household
                choices = [li for li in (household.primary_liaison, household.backup_liaison) if li is not None]
                liaison = next(li for li in choices if li.id != task.assignee_liaison_id)
                staff_actions.assign(session, task_id, liaison.id, actor=user, where=where, now=now, context=ctx)

        return act


def _stopped_at(moment: datetime) -> Callable[[], datetime]:
    """A clock that says `moment`, whatever the time."""
    return lambda: moment


def _nothing(session: Session, now: datetime) -> None:
    """A moment the clock stops at for the scheduler's sake alone."""
