"""What a session is driven through: its model and enrichment ports, its clock, its emit callback.

The session core (:mod:`app.session.controller`) does no I/O of its own; these ports are where the
file mode, the unit tests (fakes) and the Ray session hosts (deployment handles) plug in.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from app import protocol as p
from app.options import SessionOptions
from app.streaming.scheduler import RealtimePort
from app.transcript import Audio, Transcriber

#: how a session hands a server message on (to its outbox, through storage)
Emit = Callable[[p.ServerMessage], Awaitable[None]]


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def now(self) -> datetime: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FinalEnricher(Protocol):
    """A stage between the main model and the client (diarizer, analyzer …). ``audio`` is the
    utterance's audio; word times in ``final`` are seconds of stream time."""

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult: ...


class PartialEnricher(Protocol):
    """A stage between the realtime model and the client (speaker guess, profanity, wake words).
    It must be cheap: partials are frequent and a slow stage delays every one."""

    async def enrich_partial(
        self, partial: p.PartialResult, audio: Audio, options: SessionOptions
    ) -> p.PartialResult: ...


@runtime_checkable
class Preparing(Protocol):
    """A stage that wants to know a session's options when it starts or is configured (to wake the
    model a feature needs before its first result)."""

    def prepare(self, options: SessionOptions) -> None: ...


@dataclass(slots=True)
class Ports:
    #: partials: the scheduler shared by every session (the RealtimeASR deployment), or a plain
    #: transcriber, which the session schedules alone (file mode, tests)
    realtime: RealtimePort | Transcriber
    main: Transcriber
    enrichers: Sequence[FinalEnricher] = ()
    partial_enrichers: Sequence[PartialEnricher] = ()
