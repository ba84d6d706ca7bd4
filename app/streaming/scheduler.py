"""One scheduler of partial calls across sessions (it runs in the RealtimeASR deployment).

Every session asks for a partial when enough new audio has come (:class:`PartialRequest`); the
scheduler, not a timer per session, decides what runs:

* **most overdue first**: a request's due time is its arrival minus how long the session's display
  has already waited (``waited_s``), and a free slot takes the earliest due request, at most one
  running per session;
* **stale requests are dropped**: a session's newer request supersedes its queued one, which is
  answered at once without a model call (:attr:`PartialReply.transcript` is ``None``);
* **the interval stretches together**: every reply carries the interval all sessions should keep
  now, from the measured cost of a call and the sessions asking, so that the demand fits the
  slots (:meth:`PartialScheduler.interval_s`): at one stream partials come every
  ``min_interval_s``, under load every session's partials thin out alike instead of some queuing.

It lives in the deployment because that is the one place that sees the requests of every session,
whichever session host and ingress replica they come from, and where the cores are spent. Finals
outrank partials there too: MainASR runs at a lower OS nice value than RealtimeASR, so when both
want the cores the final's threads run first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app.transcript import Transcriber, TranscribeRequest, Transcript

#: a session that asked within this many seconds counts as asking for partials
ACTIVE_S = 3.0
#: the share of the slots the partial demand may fill (the rest absorbs bursts)
TARGET_UTILISATION = 0.8
#: weight of the newest call in the running mean of a call's cost
COST_WEIGHT = 0.2

RunBatch = Callable[[list[TranscribeRequest]], Awaitable[list[Transcript]]]


@dataclass(frozen=True, slots=True)
class PartialRequest:
    key: str  # the session: its newer request supersedes its queued one
    request: TranscribeRequest
    waited_s: float = 0.0  # seconds of audio since the session's last partial: how overdue it is


@dataclass(frozen=True, slots=True)
class PartialReply:
    transcript: Transcript | None  # None: superseded by the session's newer request, never run
    interval_s: float  # the partial interval every session should keep now
    queued_s: float = 0.0  # time the request waited for a slot


@runtime_checkable
class RealtimePort(Protocol):
    """How a session asks for partials: the RealtimeASR deployment, or a :class:`LocalRealtime`."""

    async def partial(self, request: PartialRequest) -> PartialReply: ...


@dataclass(slots=True)
class _Queued:
    due: float
    arrived: float
    item: PartialRequest
    reply: asyncio.Future[PartialReply] = field(repr=False)


class PartialScheduler:
    def __init__(
        self,
        run_batch: RunBatch,
        *,
        slots: int,
        batch_size: int = 1,
        min_interval_s: float = 0.1,
        max_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run_batch = run_batch
        self.slots = slots
        self.batch_size = batch_size
        self.min_interval_s = min_interval_s
        self.max_interval_s = max_interval_s
        self._clock = clock
        self._queued: dict[str, _Queued] = {}
        self._running: set[str] = set()
        self._busy = 0  # slots in use
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked: dict[str, float] = {}  # key -> when it last asked
        self._cost_s: float | None = None  # running mean of one request's wall time in a slot
        self.superseded = 0
        self.calls = 0

    def interval_s(self) -> float:
        """The interval at which the sessions asking now fit ``TARGET_UTILISATION`` of the slots."""
        if self._cost_s is None:
            return self.min_interval_s
        now = self._clock()
        active = sum(1 for t in self._asked.values() if now - t <= ACTIVE_S)
        wanted = active * self._cost_s / (self.slots * self.batch_size * TARGET_UTILISATION)
        return min(self.max_interval_s, max(self.min_interval_s, wanted))

    async def submit(self, item: PartialRequest) -> PartialReply:
        now = self._clock()
        self._asked[item.key] = now
        if len(self._asked) > 4 * (len(self._running) + len(self._queued)) + 64:  # forget long-gone sessions
            self._asked = {k: t for k, t in self._asked.items() if now - t <= ACTIVE_S}
        old = self._queued.pop(item.key, None)
        if old is not None:
            self.superseded += 1
            old.reply.set_result(PartialReply(None, self.interval_s(), now - old.arrived))
        reply: asyncio.Future[PartialReply] = asyncio.get_running_loop().create_future()
        self._queued[item.key] = _Queued(now - max(0.0, item.waited_s), now, item, reply)
        self._kick()
        return await reply

    def _kick(self) -> None:
        while self._busy < self.slots:
            eligible = sorted((q for k, q in self._queued.items() if k not in self._running), key=lambda q: q.due)
            if not eligible:
                return
            batch = eligible[: self.batch_size]
            for q in batch:
                del self._queued[q.item.key]
                self._running.add(q.item.key)
            self._busy += 1
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Queued]) -> None:
        started = self._clock()
        try:
            transcripts = await self._run_batch([q.item.request for q in batch])
        except BaseException as exc:
            for q in batch:
                if q.reply.done():
                    continue
                if isinstance(exc, Exception):
                    q.reply.set_exception(exc)
                else:  # cancelled: the sessions waiting on it must not hang
                    q.reply.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._busy -= 1
            for q in batch:
                self._running.discard(q.item.key)
            self._kick()
        elapsed = self._clock() - started
        self.calls += len(batch)
        cost = elapsed / len(batch) if self.batch_size > 1 else elapsed
        self._cost_s = cost if self._cost_s is None else (1 - COST_WEIGHT) * self._cost_s + COST_WEIGHT * cost
        interval = self.interval_s()
        for q, transcript in zip(batch, transcripts, strict=True):
            if not q.reply.done():
                q.reply.set_result(PartialReply(transcript, interval, started - q.arrived))


class LocalRealtime:
    """The realtime port over a plain transcriber, in-process (file mode, tests): one slot."""

    def __init__(self, transcriber: Transcriber, *, min_interval_s: float = 0.1, max_interval_s: float = 1.0) -> None:
        self.transcriber = transcriber

        async def run(requests: list[TranscribeRequest]) -> list[Transcript]:
            return [await transcriber.transcribe(r) for r in requests]

        self.scheduler = PartialScheduler(run, slots=1, min_interval_s=min_interval_s, max_interval_s=max_interval_s)

    async def partial(self, request: PartialRequest) -> PartialReply:
        return await self.scheduler.submit(request)
