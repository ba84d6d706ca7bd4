"""One session as its host holds it: the session, its inbox and outbox, its owner, its lifecycle.

:func:`make_hosted` wires a :class:`~app.session.controller.StreamSession` to its outbox (through
the host's storage, when it has one: finals are stored before they are queued), to its audio inbox
and to its audio recorder (audio retention).

A hosted session moves through :class:`Phase` (any other move raises)::

    LIVE ──stop, idle, max duration, shutdown──▶ ENDING ──flushed (or dropped)──▶ ENDED
                                                                    └─ forgotten after resume_grace_s
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from app import protocol as p
from app.config import Limits, ServerSettings
from app.errors import IdleTimeout, InternalError, MaxDurationReached
from app.metrics import Metrics
from app.session.controller import SessionState, StreamSession
from app.session.inbox import AudioInbox
from app.session.outbox import Outbox
from app.session.ports import Clock, Ports, Stateful
from app.session.storage import HostStorage
from app.store.audio import AudioRecorder

log = logging.getLogger(__name__)


class Phase(enum.Enum):
    LIVE = "live"
    ENDING = "ending"  # a stop or a timeout is flushing it
    ENDED = "ended"  # kept for the resume grace, then forgotten


NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.LIVE: frozenset({Phase.ENDING}),
    Phase.ENDING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}


#: the close that follows a session's end, by its reason
END_CLOSE: dict[p.SessionEndReason, int] = {
    "stopped": 1000,
    "idle_timeout": IdleTimeout.close_code,
    "max_duration": MaxDurationReached.close_code,
    "error": InternalError.close_code,
    "shutdown": 1001,
}


@dataclass(slots=True)
class Hosted:
    owner: str
    session: StreamSession
    outbox: Outbox
    inbox: AudioInbox
    standalone: bool
    recorder: AudioRecorder | None = None  # audio retention
    created_at: float = 0.0  # wall time it was registered here: orders a client's parallel starts
    phase: Phase = Phase.LIVE
    end_reason: p.SessionEndReason | None = None  # set when it starts ending
    ended_at: float | None = None  # monotonic time it ended
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def _move(self, new: Phase) -> None:
        if new not in NEXT[self.phase]:
            raise RuntimeError(f"session phase {self.phase.value} → {new.value} is not allowed")
        self.phase = new

    def begin_end(self, reason: p.SessionEndReason) -> None:
        self._move(Phase.ENDING)
        self.end_reason = reason

    def finish_end(self, at: float) -> None:
        self._move(Phase.ENDED)
        self.ended_at = at

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED

    @property
    def close_code(self) -> int:
        """The close that follows the session's end, by its reason."""
        return END_CLOSE[self.end_reason or "stopped"]

    def due(self, now: float, limits: Limits) -> Literal["forget", "idle_timeout", "max_duration"] | None:
        """What the host's reaper owes this session at monotonic time ``now``: to forget it (ended, past
        the resume grace), or to end it (idle, or over its maximum duration)."""
        if self.ended_at is not None:
            return "forget" if now - self.ended_at > limits.resume_grace_s else None
        session = self.session
        if self.phase is not Phase.LIVE or session.state is SessionState.CREATED:
            return None
        if now - session.last_activity > limits.idle_timeout_s:
            return "idle_timeout"
        if now - session.started_at > limits.max_session_duration_s:
            return "max_duration"
        return None


def make_hosted(
    session_id: str,
    client_id: str,
    standalone: bool,
    *,
    settings: ServerSettings,
    ports: Ports,
    clock: Clock,
    metrics: Metrics,
    storage: HostStorage | None,
    feed: Callable[[StreamSession, Outbox, bytes], Awaitable[None]],
    first_seq: int = 1,
    offset_s: float = 0.0,
    state: dict[str, Any] | None = None,
) -> Hosted:
    """``feed`` applies one frame of audio to the session and reports what went wrong to its outbox;
    ``state``: the stored stage state of a session taken over (its speakers)."""
    outbox = Outbox()
    recorder = storage.recorder(session_id, offset_s) if storage is not None else None
    stages = StageState([s for s in ports.enrichers if isinstance(s, Stateful)], session_id)
    if state:
        stages.restore(state)

    async def emit(m: p.ServerMessage) -> None:
        if isinstance(m, p.SessionEnded) and recorder is not None:
            # the session's audio is all in: the file is complete before the client hears of the end
            await recorder.close()
        if storage is not None:
            await storage.deliver(outbox, m, state=stages.changed() if isinstance(m, p.FinalResult) else None)
        else:
            outbox.put(m)

    session = StreamSession(
        session_id,
        settings=settings,
        ports=ports,
        emit=emit,
        clock=clock,
        metrics=metrics,
        first_seq=first_seq,
        stream_offset_s=offset_s,
        on_audio=recorder.write if recorder is not None else None,
    )

    async def consume(data: bytes) -> None:
        await feed(session, outbox, data)

    inbox = AudioInbox(consume, limit=settings.limits.allowed_latency_limit, name=session_id)
    return Hosted(
        owner=client_id, session=session, outbox=outbox, inbox=inbox, standalone=standalone, recorder=recorder
    )


class StageState:
    """The state of a session's stateful stages, as stored: restored on a takeover, and written
    with a final only when it changed since the last one written."""

    def __init__(self, stages: list[Stateful], session_id: str) -> None:
        self._stages = stages
        self._session_id = session_id
        self._last = ""

    def restore(self, state: dict[str, Any]) -> None:
        for stage in self._stages:
            if stage.state_key in state:
                try:
                    stage.restore(state[stage.state_key])
                except ValueError:
                    log.warning(
                        "stored %s state unreadable; starting afresh",
                        stage.state_key,
                        extra={"session_id": self._session_id},
                    )
        self._last = json.dumps(state, sort_keys=True)

    def changed(self) -> dict[str, Any] | None:
        if not self._stages:
            return None
        state = {s.state_key: snap for s in self._stages if (snap := s.snapshot()) is not None}
        dumped = json.dumps(state, sort_keys=True)
        if not state or dumped == self._last:
            return None
        self._last = dumped
        return state


def resumed_message(hosted: Hosted, audio_offset_bytes: int | None = None) -> str:
    """The ``session_started`` of a resume; ``audio_offset_bytes``: where the session takes re-sent
    audio from (:mod:`app.session.resend`)."""
    options = hosted.session.options
    return p.SessionStarted(
        session_id=hosted.session.session_id,
        resumed=True,
        audio=p.AudioFormat(**options.audio.model_dump(include={"sample_rate", "encoding", "channels"})),
        options=options,
        audio_offset_bytes=audio_offset_bytes,
    ).model_dump_json()
