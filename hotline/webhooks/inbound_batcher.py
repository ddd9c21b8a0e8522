"""Group commit for inbound SMS: many webhooks, one transaction and one trip to Redis.

Every inbound SMS webhook waits until its message is committed and queued before it answers Twilio. Webhooks that
arrive while a commit is under way wait for the next one, which stores all of them at once (one insert, one
commit) in one thread. Each batch's jobs (one `inbound-<id>` job per new message) are then queued in one Redis
pipeline, outside the writer: a slow Redis holds up only the webhooks of that batch, never the next commit.
Under light load a batch is one message and nothing waits longer than before; under a burst, the cost of a
commit and of a round trip to Redis is shared.

One writer per process also means SQLite's write lock is taken by one thread at a time, in order, instead of by
many threads that sleep and poll for it.

If a batch's commit fails, its messages are stored again one by one, so one bad message cannot fail the others;
a message that still fails answers 500 and Twilio retries it: it was not acknowledged. If queueing fails after
the commit, the messages are stored, the webhooks answer 200, and the sweeper queues them later.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from dispatch.inbound import InboundSms, StoredInbound, store_inbound_batch
from hotline.handover import Decided, hand_over
from hotline.services import Services
from hotline.webhooks.thread_lane import ThreadLane

log = logging.getLogger(__name__)
MAX_BATCH = 500  # messages per transaction
Outcome = StoredInbound | Exception


class WriterStopped(RuntimeError):
    """The writer task ended before this message was stored (the process is shutting down)."""


@dataclass
class InboundBatcher:
    services: Services
    _waiting: list[tuple[InboundSms, asyncio.Future[tuple[Outcome, asyncio.Future[None]]]]] = field(
        default_factory=list
    )
    _writer: asyncio.Task[None] | None = None
    # The batches' transactions, one at a time, in a thread of their own; their queueing in Redis beside them.
    _writes: ThreadLane = field(default_factory=lambda: ThreadLane("sms-writer"))
    _queueing: ThreadLane = field(default_factory=lambda: ThreadLane("sms-queue", threads=4))

    async def store(self, message: InboundSms) -> StoredInbound:
        """Store `message` with whatever else is waiting; returns once it is committed and its processing queued
        (or queueing failed, which the sweeper makes good). Raises what storing it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Outcome, asyncio.Future[None]]] = loop.create_future()
        self._waiting.append((message, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        outcome, queued = await future
        await asyncio.shield(queued)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _write_all(self) -> None:
        batch: list[tuple[InboundSms, asyncio.Future[tuple[Outcome, asyncio.Future[None]]]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                outcomes = await self._writes.run(self._commit, [message for message, _ in batch])
                new = [o.message_id for o in outcomes if isinstance(o, StoredInbound) and o.created]
                queued = self._queueing.run(self._queue, new)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # its request may have been cancelled (the client went away)
                        future.set_result((outcome, queued))
                batch = []
        finally:
            # Cancelled or broken: no webhook may wait for ever. Those not stored answer 500; Twilio retries.
            for _, future in batch + self._waiting:
                if not future.done():
                    future.set_exception(WriterStopped("inbound writer stopped before storing this message"))
            self._waiting = []

    def _commit(self, messages: list[InboundSms]) -> list[Outcome]:
        """Store and commit the batch in one transaction; if that fails, each message in its own."""
        try:
            with self.services.sessions.begin() as session:
                return list(store_inbound_batch(session, messages))
        except Exception as exc:
            if len(messages) == 1:
                log.exception("inbound message not stored; the webhook answers 500 and Twilio retries")
                return [exc]
        log.warning("inbound batch of %d not stored at once; storing one by one", len(messages))
        return [outcome for message in messages for outcome in self._commit([message])]

    def _queue(self, new: list[int]) -> None:
        """Queue the processing of the messages a batch stored. A repeat of an earlier message is not queued
        again: its first copy was queued, or, if that failed, the sweeper queues it."""
        if not new:
            return
        try:  # stored and committed: if Redis is down, the sweeper queues them once it is back. Twilio gets its 200.
            hand_over(self.services.redis, Decided(inbound=new))
        except Exception:  # the writer must live on, whatever went wrong
            log.exception("inbound messages=%s stored but not queued; sweeper will retry", new)
