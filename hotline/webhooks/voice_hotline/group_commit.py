"""Group commit for the steps of calls: many callers' webhooks, one transaction and one trip to Redis.

Each step of a call writes (its `calls` row, needs, SMS, the idempotency receipt). Run each in a transaction of
its own, concurrent callers queue for the write lock (SQLite's busy handler sleeps and polls for it), and more
callers buy nothing. Here one writer per process takes every step waiting and runs them, in one thread, in one
transaction. Before the steps run, the batch reads ahead for all of them at once (`VoiceHotline.read_ahead`: the
callers in the register, the calls' rows, the needs stored): a few statements per batch instead of a few per step.
The steps run with no savepoint each; the new calls and needs they make are inserted after the last, one
executemany INSERT per table (`dispatch.ivr.batch_writes`; the ORM would insert them one at a time), and the
changes to calls already stored are flushed together at the commit (a savepoint per step cost a flush per step).
If a step raises, that transaction is rolled back whole: the other steps run again together, each in a savepoint
of its own with its new rows inserted in it, so a step that fails there is rolled back alone and the others keep
what they did. Steps that arrive while a batch is being written wait for the next one. After the
commit, the callers are answered at once, and the batch's new work goes to Redis in one hand-over, off the writer
and after the answers (the endpoint waits for it once its answer is sent): nothing a caller hears depends on it,
and if Redis loses it, the sweeper queues the stored rows.

Every step keeps its guarantees. Idempotency is by CallSid and the receipt's token, as before; two deliveries of
one webhook in one batch meet in the same session, so the second finds the first's row and its answer. A step
that raised inside the batch is run again alone, in its own transaction, exactly as a step ran before: it either
succeeds then or its error reaches the endpoint, which answers the apology and the duty phone. If the batch's
commit fails, nothing of it was stored, and every step is run again alone the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from dispatch.exceptions import InvalidInboundMessage
from dispatch.inbound import claim_webhook, remember_answer
from dispatch.ivr.batch_writes import write_batch
from dispatch.models import InboundMessage
from hotline.handover import Decided, hand_over
from hotline.webhooks.thread_lane import ThreadLane

if TYPE_CHECKING:
    from hotline.webhooks.voice_hotline.steps import VoiceHotline

log = logging.getLogger(__name__)


@dataclass
class Work:
    """Ids to queue once the transaction has committed; needs the step kept for the batch's INSERT (their ids are
    read by `settled`, once the batch has written them)."""

    inbound: list[int] = field(default_factory=list)
    outbound: list[int] = field(default_factory=list)
    unflushed: list[InboundMessage] = field(default_factory=list)

    def settled(self) -> Work:
        """The work with the ids of its needs written since (called after the commit)."""
        if not self.unflushed:
            return self
        return Work(inbound=self.inbound + [m.id for m in self.unflushed], outbound=self.outbound)


Step = Callable[["VoiceHotline", Session, FormData, dict[str, str]], tuple[str, Work]]
MAX_BATCH = 64  # steps per transaction: a caller waits for at most this many others' steps
Answer = tuple[str, Work]
Outcome = Answer | BaseException


class _StepFailed(Exception):
    """A step raised inside a batch's first transaction: roll it back whole."""


class WriterStopped(RuntimeError):
    """The writer task ended before this step was run (the process is shutting down)."""


@dataclass(frozen=True)
class StepRequest:
    """One webhook of a call: the step to run and what it was given."""

    step: Step
    form: FormData
    query: dict[str, str]
    path: str
    token: str  # I-Twilio-Idempotency-Token, "" if none


Waiting = tuple[StepRequest, "asyncio.Future[tuple[Outcome, asyncio.Future[None]]]"]


def run_in(voice: VoiceHotline, session: Session, request: StepRequest) -> Answer:
    """One step in `session`'s transaction. With Twilio's idempotency token, a retry of a webhook already answered
    gets the first answer again and runs nothing: the receipt is claimed in the same transaction as the step's
    effects."""
    if request.token:
        answered = claim_webhook(session, request.token, request.path)
        if answered is not None:
            log.info("voice %s: a retry of a webhook already answered; nothing done again", request.path)
            return answered, Work()
    twiml, work = request.step(voice, session, request.form, request.query)
    if request.token:
        remember_answer(session, request.token, twiml)
    return twiml, work


def run_alone(voice: VoiceHotline, request: StepRequest) -> Answer:
    """One step in a transaction of its own."""
    with voice.services.sessions.begin() as session:
        twiml, work = run_in(voice, session, request)
    return twiml, work.settled()


@dataclass
class StepWriter:
    """The one writer of a process's call steps."""

    voice: VoiceHotline
    _waiting: list[Waiting] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None
    # The batches' transactions, one at a time, in a thread of their own; their hand-overs to Redis beside them.
    _writes: ThreadLane = field(default_factory=lambda: ThreadLane("voice-writer"))
    _hand_overs: ThreadLane = field(default_factory=lambda: ThreadLane("voice-handover", threads=4))

    async def run(self, request: StepRequest) -> tuple[Answer, asyncio.Future[None]]:
        """Run `request`'s step with whatever else is waiting; returns its TwiML and work as soon as the batch has
        committed, with the batch's hand-over to Redis, which may still be under way (a caller needs only the
        commit to be answered: if the hand-over fails, the sweeper queues the rows). Raises what the step raised
        when run alone."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Outcome, asyncio.Future[None]]] = loop.create_future()
        self._waiting.append((request, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        outcome, handed = await future
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome, handed

    async def _write_all(self) -> None:
        batch: list[Waiting] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                outcomes = await self._writes.run(self._commit, [request for request, _ in batch])
                handed = self._hand_over_after(outcomes)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # its request may have been cancelled (the caller hung up)
                        future.set_result((outcome, handed))
                batch = []
        finally:
            # Cancelled or broken: no caller may wait for ever. The endpoint answers them the duty phone.
            for _, future in batch + self._waiting:
                if not future.done():
                    future.set_exception(WriterStopped("voice step writer stopped before running this step"))
            self._waiting = []

    def _hand_over_after(self, outcomes: list[Outcome]) -> asyncio.Future[None]:
        """The committed batch's new work handed to Redis off the event loop, started now and not waited for here:
        the callers are answered at once. A batch with nothing to queue (a call's entry) needs no thread at all."""
        work = [o[1] for o in outcomes if not isinstance(o, BaseException)]
        if not any(w.inbound or w.outbound for w in work):
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return self._hand_overs.run(self._hand_over, work)

    def _commit(self, requests: list[StepRequest]) -> list[Outcome]:
        """The batch in one transaction; a step that raised is run again alone. First without savepoints, the
        steps' new rows written together after the last step; if a step raises, that transaction is rolled back
        whole and the other steps run again in one, each in a savepoint (`_commit_in_savepoints`). If the batch's
        INSERT or the commit fails, every step is run again alone."""
        failed: tuple[int, BaseException] | None = None
        answers: list[Answer] = []
        try:
            with self.voice.services.sessions.begin() as session:
                self.voice.read_ahead(session, [request.form for request in requests])
                for i, request in enumerate(requests):
                    try:
                        answers.append(run_in(self.voice, session, request))
                    except Exception as exc:
                        failed = (i, exc)
                        raise _StepFailed from exc
                write_batch(session)
        except _StepFailed:
            assert failed is not None
            return self._after_a_failure(requests, *failed)
        except Exception:
            log.warning("voice batch of %d steps not committed at once; each runs alone", len(requests))
            return [self._alone(request) for request in requests]
        return [(twiml, work.settled()) for twiml, work in answers]

    def _after_a_failure(self, requests: list[StepRequest], index: int, exc: BaseException) -> list[Outcome]:
        """The step at `index` raised in the batch's first transaction, which was rolled back: bad input is its
        answer, anything else runs again alone; the other steps run again together, each in a savepoint."""
        others = self._commit_in_savepoints(requests[:index] + requests[index + 1 :])
        if isinstance(exc, InvalidInboundMessage):  # bad input: the same alone, no need to run it again
            outcome: Outcome = exc
        else:
            log.warning("voice %s failed in a batch; it runs again alone", requests[index].path, exc_info=exc)
            outcome = self._alone(requests[index])
        return [*others[:index], outcome, *others[index:]]

    def _commit_in_savepoints(self, requests: list[StepRequest]) -> list[Outcome]:
        """The batch in one transaction, each step in a savepoint; a step that raised is run again alone. If the
        commit fails, every step is run again alone."""
        outcomes: list[Outcome | None] = []
        try:
            with self.voice.services.sessions.begin() as session:
                self.voice.read_ahead(session, [request.form for request in requests])
                for request in requests:
                    outcome: Outcome | None = None  # None: run it again alone
                    try:
                        with session.begin_nested():
                            answer = run_in(self.voice, session, request)
                            write_batch(session)
                        outcome = (answer[0], answer[1].settled())  # its savepoint released: part of the batch
                    except InvalidInboundMessage as exc:  # bad input: the same alone, no need to run it again
                        self.voice.forget_read_ahead(session)
                        outcome = exc
                    except Exception:
                        self.voice.forget_read_ahead(session)
                        log.warning("voice %s failed in a batch; it runs again alone", request.path, exc_info=True)
                    outcomes.append(outcome)
        except Exception:
            if len(requests) > 1:
                log.warning("voice batch of %d steps not committed at once; each runs alone", len(requests))
            outcomes = [None] * len(requests)
        return [self._alone(request) if o is None else o for request, o in zip(requests, outcomes, strict=True)]

    def _alone(self, request: StepRequest) -> Outcome:
        try:
            return run_alone(self.voice, request)
        except Exception as exc:
            return exc

    def _hand_over(self, work: list[Work]) -> None:
        """Queue what the batch's steps stored, in one hand-over."""
        decided = Decided(inbound=[i for w in work for i in w.inbound], sends=[i for w in work for i in w.outbound])
        if not decided.inbound and not decided.sends:
            return
        try:  # stored and committed: if Redis is down, the sweeper queues them once it is back
            hand_over(self.voice.services.redis, decided)
        except Exception:  # the writer must live on, whatever went wrong
            log.exception("voice steps' work stored but not queued; the sweeper will queue it")
