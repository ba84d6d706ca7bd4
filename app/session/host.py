"""Many sessions in one process: the logical actors of DESIGN.md §3.

A :class:`SessionHost` owns the sessions whose ids hash to it. Both sockets of a
session, on whichever ingress replica, reach the same host by session id and
call it with plain data (JSON text, audio bytes), so the host runs the same
in-process (tests, a single-process server) and as a Ray actor
(``deployments/hosts.py``). Every call names the calling client, and a session
only answers the client that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from app import protocol as p
from app.config import ServerSettings
from app.errors import (
    BufferOverflow,
    Forbidden,
    InvalidMessage,
    InvalidState,
    SessionNotFound,
    StreamEnded,
    SttError,
    TooManySessions,
)
from app.metrics import Metrics, NullMetrics
from app.session.controller import Clock, Ports, SessionState, StreamSession, SystemClock
from app.session.outbox import Entry, Outbox

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CLOSE_NORMAL = 1000
_END_CLOSE = {"stopped": CLOSE_NORMAL, "idle_timeout": 4408, "max_duration": 4409, "error": 4500, "shutdown": 1001}


def new_session_id() -> str:
    return uuid.uuid4().hex


def check_session_id(session_id: str) -> str:
    if not _SESSION_ID.match(session_id):
        raise InvalidMessage("session_id must be 1 to 64 characters of letters, digits, '_', '-', '.', ':'")
    return session_id


@dataclass(frozen=True, slots=True)
class StartReply:
    session_id: str
    replay: list[str]  # JSON messages to send first (session_started, missed finals)
    cursor: int  # then poll after this index


@dataclass(frozen=True, slots=True)
class SessionInfo:
    owner: str  # the client that started it
    standalone: bool  # started on an audio socket, which also carries its commands and results


@dataclass(frozen=True, slots=True)
class PollReply:
    messages: list[tuple[int, str]]
    ended: bool  # session_ended was delivered: close the socket
    close_code: int


@dataclass(slots=True)
class Hosted:
    owner: str
    session: StreamSession
    outbox: Outbox
    standalone: bool
    end_reason: str | None = None
    ended_at: float | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    inbox: deque[bytes] = field(default_factory=deque)
    inbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)  # set while no audio awaits processing
    received_bytes: int = 0
    received: asyncio.Event = field(default_factory=asyncio.Event)  # set on every frame
    feeder: asyncio.Task[None] | None = None


class SessionHost:
    def __init__(
        self,
        settings: ServerSettings,
        ports: Ports | Callable[[], Ports],
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        reap_interval_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.metrics: Metrics = metrics or NullMetrics()
        self._ports = ports
        self._clock = clock or SystemClock()
        self._sessions: dict[str, Hosted] = {}
        self._reap_interval_s = reap_interval_s
        self._reaper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ queries

    def count(self, client_id: str | None = None) -> int:
        """Live sessions, of one client or of all."""
        return sum(
            1 for h in self._sessions.values() if h.ended_at is None and (client_id is None or h.owner == client_id)
        )

    def info(self, session_id: str) -> SessionInfo | None:
        hosted = self._sessions.get(session_id)
        return SessionInfo(hosted.owner, hosted.standalone) if hosted else None

    # ------------------------------------------------------------------ calls from sockets

    async def start(self, session_id: str, client_id: str, raw: str, *, standalone: bool = False) -> StartReply:
        """``start_stream``: a new session, or a resume of this client's session."""
        msg = p.parse_client_message(raw)
        if not isinstance(msg, p.StartStream):
            raise InvalidState(f"{msg.type} before start_stream; start the stream first")
        check_session_id(session_id)
        self._ensure_reaper()
        hosted = self._sessions.get(session_id)
        if hosted is not None:
            self._authorize(hosted, client_id)
            if hosted.end_reason is not None:
                raise SessionNotFound(f"session {session_id} has ended; start a new session")
            cursor = hosted.outbox.last_index
            started = p.SessionStarted(
                session_id=session_id,
                resumed=True,
                audio=p.AudioFormat(
                    **hosted.session.options.audio.model_dump(include={"sample_rate", "encoding", "channels"})
                ),
                options=hosted.session.options,
            )
            replay = [started.model_dump_json(), *(e.json for e in hosted.outbox.replay(msg.last_seq))]
            return StartReply(session_id, replay, cursor)
        if msg.last_seq is not None:
            raise SessionNotFound(f"session {session_id} is not running here; it cannot be resumed")
        if self.count() >= self.settings.limits.max_sessions_per_replica:
            raise TooManySessions(
                f"this server holds {self.settings.limits.max_sessions_per_replica} sessions, its limit; retry shortly"
            )
        outbox = Outbox()

        async def emit(m: p.ServerMessage) -> None:
            outbox.put(m)

        ports = self._ports() if callable(self._ports) else self._ports
        session = StreamSession(
            session_id, settings=self.settings, ports=ports, emit=emit, clock=self._clock, metrics=self.metrics
        )
        hosted = Hosted(owner=client_id, session=session, outbox=outbox, standalone=standalone)
        self._sessions[session_id] = hosted
        try:
            await session.handle(msg)
        except SttError:
            del self._sessions[session_id]
            raise
        self.metrics.gauge("sessions_active", self.count())
        return StartReply(session_id, [], 0)

    async def command(self, session_id: str, client_id: str, raw: str) -> None:
        hosted = self._get(session_id, client_id)
        msg = p.parse_client_message(raw)
        if isinstance(msg, p.StartStream):
            raise InvalidState("the stream is already started")
        if isinstance(msg, p.StopStream):
            if msg.audio_bytes is not None:
                await self._await_audio(hosted, msg.audio_bytes)
            await self._stop(hosted, "stopped")
            return
        # a command acts on all the audio sent before it (finalize, pause, configure)
        await self._drain(hosted)
        await hosted.session.handle(msg)

    async def feed(self, session_id: str, client_id: str, data: bytes) -> None:
        """Audio, queued for the session's feeder; returns at once.

        The queue holds at most ``limits.allowed_latency_limit`` frames; past that
        the session's ``handle_buffer_overflow`` decides: drop the oldest frame
        (true) or refuse this one (false), each with a ``buffer_overflow`` message.
        Bad audio becomes an ``error`` message for the session's consumer."""
        hosted = self._get(session_id, client_id)
        if hosted.end_reason is not None:
            raise StreamEnded("the stream has ended; start a new session to send more audio")
        hosted.received_bytes += len(data)
        hosted.received.set()
        if len(hosted.inbox) >= self.settings.limits.allowed_latency_limit:
            if hosted.session.options.audio.handle_buffer_overflow:
                hosted.inbox.popleft()
                hosted.outbox.put(
                    p.Warning_(
                        session_id=session_id,
                        code=BufferOverflow.code,
                        message="the server fell behind; the oldest unprocessed audio frame was dropped",
                    )
                )
            else:
                hosted.outbox.put(
                    p.Error(
                        session_id=session_id,
                        code=BufferOverflow.code,
                        message="the server is behind; this audio frame was refused (handle_buffer_overflow is false)",
                    )
                )
                return
        hosted.inbox.append(data)
        hosted.drained.clear()
        hosted.inbox_ready.set()
        if hosted.feeder is None:
            hosted.feeder = asyncio.create_task(self._feed_forever(hosted), name=f"feed-{session_id}")

    async def _feed_forever(self, hosted: Hosted) -> None:
        session = hosted.session
        while True:
            if not hosted.inbox:
                hosted.drained.set()
                hosted.inbox_ready.clear()
                await hosted.inbox_ready.wait()
                continue
            data = hosted.inbox.popleft()
            try:
                await session.feed(data)
            except SttError as exc:
                self.metrics.count("errors", code=exc.code)
                hosted.outbox.put(p.Error(session_id=session.session_id, code=exc.code, message=exc.message))
            except Exception:
                log.exception("audio processing failed", extra={"session_id": session.session_id})
                hosted.outbox.put(
                    p.Error(
                        session_id=session.session_id,
                        code="internal_error",
                        message="an audio frame could not be processed",
                    )
                )

    async def _await_audio(self, hosted: Hosted, total: int) -> None:
        """Wait until ``total`` audio bytes have arrived (from the audio socket, which may be on
        another replica and behind the control socket), or until ``limits.stop_wait_s``."""
        deadline = self._clock.monotonic() + self.settings.limits.stop_wait_s
        while hosted.received_bytes < total:
            left = deadline - self._clock.monotonic()
            if left <= 0:
                hosted.outbox.put(
                    p.Warning_(
                        session_id=hosted.session.session_id,
                        code="audio_missing",
                        message=f"stop_stream named {total} audio bytes but {hosted.received_bytes} arrived; "
                        "flushing what arrived",
                    )
                )
                return
            hosted.received.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hosted.received.wait(), left)

    async def _drain(self, hosted: Hosted) -> None:
        """Wait until queued audio has been processed (before a flush)."""
        if hosted.feeder is not None:
            await hosted.drained.wait()

    def report(self, session_id: str, client_id: str, error: SttError) -> None:
        """An error found at a socket (wrong frame type …), for the session's consumer."""
        hosted = self._get(session_id, client_id)
        hosted.outbox.put(p.Error(session_id=session_id, code=error.code, message=error.message, fatal=error.fatal))

    async def poll(self, session_id: str, client_id: str, after: int, wait_s: float = 20.0) -> PollReply:
        hosted = self._get(session_id, client_id)
        entries: list[Entry] = await hosted.outbox.wait(after, wait_s)
        ended = hosted.outbox.ended and (not entries or entries[-1].type == "session_ended")
        code = _END_CLOSE.get(hosted.end_reason or "stopped", CLOSE_NORMAL)
        return PollReply([(e.index, e.json) for e in entries], ended, code)

    async def shutdown(self) -> None:
        """End every session: flush what can be flushed quickly, then drop."""
        for hosted in list(self._sessions.values()):
            if hosted.ended_at is None:
                try:
                    await asyncio.wait_for(self._stop(hosted, "shutdown"), timeout=5.0)
                except (TimeoutError, SttError):
                    await hosted.session.abort()
        if self._reaper is not None:
            self._reaper.cancel()

    # ------------------------------------------------------------------ internals

    def _get(self, session_id: str, client_id: str) -> Hosted:
        hosted = self._sessions.get(session_id)
        if hosted is None:
            raise SessionNotFound(f"no session {session_id[:64]!r}; send start_stream first")
        self._authorize(hosted, client_id)
        return hosted

    @staticmethod
    def _authorize(hosted: Hosted, client_id: str) -> None:
        if hosted.owner != client_id:
            raise Forbidden("this session belongs to another client")

    async def _stop(self, hosted: Hosted, reason: str) -> None:
        if hosted.end_reason is not None:
            return
        hosted.end_reason = reason
        try:
            if reason == "stopped":
                await self._drain(hosted)
            await hosted.session.stop(reason)
        finally:
            hosted.ended_at = self._clock.monotonic()
            self.metrics.gauge("sessions_active", self.count())
            if hosted.feeder is not None:
                hosted.feeder.cancel()

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever(), name="session-reaper")

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reap_interval_s)
            try:
                self.reap()
            except Exception:
                log.exception("session reaper failed")

    def reap(self) -> None:
        """End idle and over-long sessions; forget ended ones after the resume grace."""
        limits = self.settings.limits
        now = self._clock.monotonic()
        for sid, hosted in list(self._sessions.items()):
            session = hosted.session
            if hosted.ended_at is not None:
                if now - hosted.ended_at > limits.resume_grace_s:
                    del self._sessions[sid]
                continue
            if hosted.end_reason is not None or session.state is SessionState.CREATED:
                continue
            if now - session.last_activity > limits.idle_timeout_s:
                self._spawn(hosted, "idle_timeout")
            elif now - session.started_at > limits.max_session_duration_s:
                self._spawn(hosted, "max_duration")

    def _spawn(self, hosted: Hosted, reason: str) -> None:
        log.info("ending session: %s", reason, extra={"session_id": hosted.session.session_id})
        task = asyncio.create_task(self._stop(hosted, reason))
        hosted.tasks.add(task)
        task.add_done_callback(hosted.tasks.discard)
