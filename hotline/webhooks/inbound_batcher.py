"""Group commit for inbound SMS: many webhooks, one transaction and one queued job.

Every inbound SMS webhook waits until its message is committed and queued before it answers Twilio. Webhooks that
arrive while a commit is under way wait for the next one, which stores all of them at once (one insert, one commit)
in one thread, then queues their processing as one RQ job. Under light load a batch is one message and nothing
waits longer than before; under a burst, the cost of a commit and of a queued job is shared.

One writer per process also means SQLite's write lock is taken by one thread at a time, in order, instead of by
many threads that sleep and poll for it.

If the commit fails, every webhook in the batch answers 500 and Twilio retries it: nothing was acknowledged. If
queueing fails after the commit, the messages are stored and the sweeper queues them later.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from dispatch.inbound import InboundSms, StoredInbound, store_inbound_batch
from hotline.services import Services
from workers.queues import enqueue_inbound_batch

log = logging.getLogger(__name__)
MAX_BATCH = 500  # messages per transaction


@dataclass
class InboundBatcher:
    services: Services
    _waiting: list[tuple[InboundSms, asyncio.Future[StoredInbound]]] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None

    async def store(self, message: InboundSms) -> StoredInbound:
        """Store `message` with whatever else is waiting; returns once it is committed. Raises what the commit
        raised."""
        future: asyncio.Future[StoredInbound] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                stored = await run_in_threadpool(self._commit, [message for message, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, stored, strict=True):
                if not future.done():  # its request may have been cancelled (the client went away)
                    future.set_result(result)

    def _commit(self, messages: list[InboundSms]) -> list[StoredInbound]:
        """Store and commit the batch, then queue its processing (one job), in this one worker thread."""
        with self.services.sessions.begin() as session:
            stored = store_inbound_batch(session, messages)
        self._queue(stored)
        return stored

    def _queue(self, stored: list[StoredInbound]) -> None:
        """Queue the processing of the messages this batch stored. A repeat of an earlier message is not queued
        again: its first copy was queued, or, if that failed, the sweeper queues it."""
        new = [s.message_id for s in stored if s.created]
        if not new:
            return
        try:
            enqueue_inbound_batch(self.services.redis, new)
        except RedisError as exc:
            # Stored and committed: the sweeper queues them once Redis is back. Twilio still gets its 200.
            log.error("inbound messages=%s stored but not queued (%s); sweeper will retry", new, type(exc).__name__)
        except Exception:
            log.exception("inbound messages=%s stored but not queued; sweeper will retry", new)
