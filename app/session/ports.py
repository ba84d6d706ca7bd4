"""What a session is driven through: its model and enrichment ports, its clock, its emit callback.

The session core (:mod:`app.session.controller`) does no I/O of its own; these ports are where the
file mode, the unit tests (fakes) and the Ray session hosts (deployment handles) plug in.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class TurnTracker(Protocol):
    """A stage that follows who speaks while an utterance is in progress (speaker diarization). Called
    after each chunk of audio with the utterance's id, its start, the end of the audio so far and a
    reader of the stream's audio; it must return at once (model calls run in the background). When it
    returns a point inside the utterance, the speaker changed there: the session ends the utterance at
    that point (``speaker_change``) and the next one starts there."""

    def track(
        self, utterance_id: int, start: int, end: int, read: Callable[[int, int], Audio], options: SessionOptions
    ) -> int | None: ...

    async def settle(self) -> None:
        """Returns once its model call in flight (if any) has answered: a session fed faster than real
        time (the file mode) waits for it, so that its turns do not depend on how fast it was fed."""
        ...


@runtime_checkable
class FollowingUp(Protocol):
    """A final stage with messages that follow a final (a ``speaker_revision`` of earlier finals): the
    final worker sends them right after the final."""

    def follow_ups(self, after_seq: int) -> list[p.ServerMessage]: ...


@runtime_checkable
class Stateful(Protocol):
    """A stage whose state a session resumed on another host needs (the speakers' centroids): stored
    with the session's finals, restored when a new host takes the session over."""

    state_key: str

    def snapshot(self) -> dict[str, Any] | None:
        """JSON-able state; None when there is none (the feature was never on)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Raises ValueError for a state it cannot read."""
        ...


@dataclass(slots=True)
class Ports:
    #: partials: the scheduler shared by every session (the RealtimeASR deployment), or a plain
    #: transcriber, which the session schedules alone (file mode, tests)
    realtime: RealtimePort | Transcriber
    main: Transcriber
    enrichers: Sequence[FinalEnricher] = ()
    partial_enrichers: Sequence[PartialEnricher] = ()
