"""Many sessions in one process: sessions as logical actors (docs/architecture.md §5).

A :class:`SessionHost` owns the sessions whose ids hash to it. Both sockets of a
session, on whichever ingress replica, reach the same host by session id and
call it with plain data (JSON text, audio bytes), so the host runs the same
in-process (tests, a single-process server) and as a Ray actor
(``deployments/hosts.py``). Every call names the calling client, and a session
only answers the client that started it. Its async methods are the sockets'
``HostPort`` (``app/service/ports.py``).

With storage (:mod:`app.session.storage`) sessions and finals are stored, each final before it
is sent, so that a host started after a restart takes over a session its client resumes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from app import protocol as p
from app.config import ServerSettings
from app.errors import (
    AudioMissing,
    BufferOverflow,
    BufferOverflowWarning,
    InternalError,
    InvalidState,
    StreamEnded,
    SttError,
    TooManySessions,
)
from app.logsample import SampledLog
from app.metrics import Metrics, NullMetrics
from app.session import resend
from app.session.controller import SessionState, StreamSession
from app.session.hosted import Hosted, Phase, make_hosted, resumed_message
from app.session.ids import check_session_id, not_found
from app.session.inbox import Overflow
from app.session.outbox import Entry, Outbox
from app.session.ports import Clock, Ports, SystemClock
from app.session.replies import PollReply, SessionInfo, StartReply
from app.session.storage import HostStorage
from app.store import SessionRecord

log = logging.getLogger(__name__)
_sampled = SampledLog(log)


class SessionHost:
    def __init__(
        self,
        settings: ServerSettings,
        ports: Ports | Callable[[], Ports],
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        reap_interval_s: float = 1.0,
        storage: HostStorage | None = None,
    ) -> None:
        """``storage``: where sessions and finals are kept (none: nothing is stored, and a session
        lives only as long as this host)."""
        self.settings = settings
        self.metrics: Metrics = metrics or NullMetrics()
        self._ports = ports
        self._clock = clock or SystemClock()
        self._sessions: dict[str, Hosted] = {}
        self._reap_interval_s = reap_interval_s
        self._reaper: asyncio.Task[None] | None = None
        self._storage = storage
        self._starting: set[str] = set()  # ids between the store lookup and their creation

    # ------------------------------------------------------------------ queries

    @property
    def storage(self) -> HostStorage | None:
        return self._storage

    def count(self, client_id: str | None = None) -> int:
        """Live sessions, of one client or of all."""
        return len(self._live_sessions(client_id)) if client_id is not None else self._live()

    def _live(self) -> int:
        return sum(1 for h in self._sessions.values() if not h.ended)

    def _live_sessions(self, client_id: str | None) -> list[tuple[float, str]]:
        return [
            (h.created_at, sid)
            for sid, h in self._sessions.items()
            if not h.ended and (client_id is None or h.owner == client_id)
        ]

    async def live_sessions(self, client_id: str | None = None) -> list[tuple[float, str]]:
        """``(created_at, session_id)`` of one client's live sessions (of every client's, for ``None``):
        the order that decides which of a burst of parallel starts a limit keeps."""
        return self._live_sessions(client_id)

    async def info(self, session_id: str) -> SessionInfo | None:
        hosted = self._sessions.get(session_id)
        return SessionInfo(hosted.owner, hosted.standalone, hosted.ended) if hosted else None

    # ------------------------------------------------------------------ calls from sockets

    async def start(self, session_id: str, client_id: str, raw: str, *, standalone: bool = False) -> StartReply:
        """``start_stream``: a new session, or a resume of this client's session (live here, or
        stored by a host that went away: a restart)."""
        msg = p.parse_client_message(raw)
        if not isinstance(msg, p.StartStream):
            raise InvalidState(f"{msg.type} before start_stream; start the stream first")
        check_session_id(session_id)
        self._ensure_reaper()
        hosted = self._sessions.get(session_id)
        if hosted is not None:
            return await self._resume(hosted, client_id, msg)
        if session_id in self._starting:
            raise InvalidState("this session is being started on another connection")
        self._starting.add(session_id)
        try:
            stored = await self._storage.lookup(session_id) if self._storage is not None else None
            if stored is not None:
                return await self._revive(stored, client_id, msg, standalone)
            if msg.last_seq is not None:
                raise not_found(session_id)
            return await self._new(session_id, client_id, msg, standalone)
        finally:
            self._starting.discard(session_id)

    async def _resume(self, hosted: Hosted, client_id: str, msg: p.StartStream) -> StartReply:
        """A resume of a session this host holds. One that is ending (its flush under way) or ended
        within the resume grace (and not deleted since) gets its missed finals and ``session_ended``:
        the client whose socket dropped during the flush learns how the session ended."""
        self._authorize(hosted, client_id)
        session_id = hosted.session.session_id
        if hosted.ended and self._storage is not None and await self._storage.lookup(session_id) is None:
            raise not_found(session_id)
        taken = resend.on_resume(hosted, msg.audio_offset_bytes, self.settings.limits)
        replay = [resumed_message(hosted, taken), *(e.json for e in hosted.outbox.replay(msg.last_seq))]
        if hosted.outbox.end is not None:
            replay.append(hosted.outbox.end.json)
        return StartReply(session_id, replay, hosted.outbox.last_index)

    async def _new(self, session_id: str, client_id: str, msg: p.StartStream, standalone: bool) -> StartReply:
        self._check_capacity(starting=True)
        if msg.audio_start is None:  # the stored session and the stream must agree on it
            msg = msg.model_copy(update={"audio_start": self._clock.now()})
        if self._storage is not None:
            await self._storage.started(session_id, client_id, msg)
        hosted = self._host(session_id, client_id, standalone)
        hosted.created_at = time.time()
        self._sessions[session_id] = hosted
        try:
            await hosted.session.handle(msg)
        except SttError:
            del self._sessions[session_id]
            if self._storage is not None:
                await self._storage.forget(session_id)
            raise
        self.metrics.gauge("sessions_active", self.count())
        return StartReply(session_id, [], 0, new=True)

    async def _revive(self, stored: SessionRecord, client_id: str, msg: p.StartStream, standalone: bool) -> StartReply:
        """Takes over a stored session that no host runs any more (see :meth:`HostStorage.revival`)."""
        assert self._storage is not None
        session_id = stored.session_id
        plan = await self._storage.revival(stored, client_id)
        self._check_capacity(starting=True)
        resent = msg.audio_offset_bytes
        if resent is not None:
            resend.check(plan.start.options.audio, resent)
        # never a seq the client has seen (one it got although storing it failed)
        first_seq = max(plan.first_seq, (msg.last_seq or 0) + 1)
        offset_s = plan.start_s(resending=resent is not None)
        hosted = self._host(session_id, client_id, standalone, first_seq=first_seq, offset_s=offset_s, state=plan.state)
        hosted.inbox.known_bytes = resent is not None  # else what its old host received is unknown here
        hosted.created_at = time.time()
        # kept in the outbox, as a live session's, for later resumes: the finals (as revised) and then
        # the revisions in order (each sets labels, so replaying them over revised finals ends the same)
        kept: list[p.ServerMessage] = [*plan.finals, *plan.revisions]
        for message in kept:
            hosted.outbox.put(message)
        self._sessions[session_id] = hosted
        try:
            await hosted.session.handle(plan.start)
            taken = resend.take_over(hosted, resent, offset_s, self.settings.limits)
            await self._storage.revived(session_id)
        except SttError:
            del self._sessions[session_id]
            await hosted.session.abort()
            raise
        log.info("session resumed from the store", extra={"session_id": session_id})
        self.metrics.gauge("sessions_active", self.count())
        replay = [resumed_message(hosted, taken), *(e.json for e in hosted.outbox.replay(msg.last_seq or 0))]
        return StartReply(session_id, replay, hosted.outbox.last_index)

    def _check_capacity(self, *, starting: bool) -> None:
        # sessions between their check and their creation (an await apart) count too, this one aside
        reserved = len(self._starting) - 1 if starting else 0
        if self._live() + reserved >= self.settings.limits.max_sessions_per_replica:
            raise TooManySessions(
                f"this server holds {self.settings.limits.max_sessions_per_replica} sessions, its limit; retry shortly"
            )

    def _host(
        self,
        session_id: str,
        client_id: str,
        standalone: bool,
        *,
        first_seq: int = 1,
        offset_s: float = 0.0,
        state: dict[str, Any] | None = None,
    ) -> Hosted:
        return make_hosted(
            session_id,
            client_id,
            standalone,
            settings=self.settings,
            ports=self._ports() if callable(self._ports) else self._ports,
            clock=self._clock,
            metrics=self.metrics,
            storage=self._storage,
            feed=self._feed_one,
            first_seq=first_seq,
            offset_s=offset_s,
            state=state,
        )

    async def command(self, session_id: str, client_id: str, raw: str) -> None:
        hosted = self._get(session_id, client_id)
        msg = p.parse_client_message(raw)
        if isinstance(msg, p.StartStream):
            raise InvalidState("the stream is already started")
        if isinstance(msg, p.StopStream):
            if hosted.phase is not Phase.LIVE:
                return  # already ending (a client that resumed during the flush stops again)
            if msg.audio_bytes is not None:
                await self._await_audio(hosted, msg.audio_bytes)
            await self._stop(hosted, "stopped")
            return
        # a command acts on all the audio sent before it (finalize, pause, configure)
        await hosted.inbox.drain()
        await hosted.session.handle(msg)

    async def _await_audio(self, hosted: Hosted, total: int) -> None:
        wait_s = self.settings.limits.stop_wait_s
        if not await hosted.inbox.wait_for_bytes(total, wait_s=wait_s, monotonic=self._clock.monotonic):
            got = hosted.inbox.received_bytes
            warning = AudioMissing(f"stop_stream named {total} audio bytes but {got} arrived; flushing what arrived")
            hosted.outbox.put(p.Warning_.of(hosted.session.session_id, warning))

    async def feed(self, session_id: str, client_id: str, data: bytes) -> None:
        """Audio, queued in the session's inbox (:mod:`app.session.inbox`); returns at once. A
        ``buffer_overflow`` warning or error says what a full inbox did; bad audio becomes an
        ``error`` message for the session's consumer."""
        hosted = self._get(session_id, client_id)
        if hosted.phase is not Phase.LIVE:
            raise StreamEnded("the stream has ended; start a new session to send more audio")
        drop_oldest = hosted.session.options.audio.handle_buffer_overflow
        overflow = hosted.inbox.put(data, drop_oldest=drop_oldest)
        if overflow is Overflow.DROPPED_OLDEST:
            warning = BufferOverflowWarning("the server fell behind; the oldest unprocessed audio frame was dropped")
            hosted.outbox.put(p.Warning_.of(session_id, warning))
        elif overflow is Overflow.REFUSED:
            error = BufferOverflow(
                "the server is behind; this audio frame was refused (handle_buffer_overflow is false)"
            )
            self.metrics.count("errors", code=error.code)
            hosted.outbox.put(p.Error.of(session_id, error))

    async def _feed_one(self, session: StreamSession, outbox: Outbox, data: bytes) -> None:
        """One frame from a session's inbox: applied, or reported (never raised: the inbox goes on)."""
        try:
            await session.feed(data)
        except SttError as exc:
            self.metrics.count("errors", code=exc.code)
            outbox.put(p.Error.of(session.session_id, exc, fatal=False))
        except Exception:
            # a bug, not the client's fault, but a client can repeat it frame after frame
            _sampled.exception("feed", "audio processing failed", extra={"session_id": session.session_id})
            error = InternalError("an audio frame could not be processed; it was dropped")
            self.metrics.count("errors", code=error.code)
            outbox.put(p.Error.of(session.session_id, error, fatal=False))

    async def report(self, session_id: str, client_id: str, error: SttError) -> None:
        """An error found at a socket (wrong frame type …), for the session's consumer."""
        hosted = self._get(session_id, client_id)
        hosted.outbox.put(p.Error.of(session_id, error))

    async def poll(self, session_id: str, client_id: str, after: int, wait_s: float = 20.0) -> PollReply:
        hosted = self._get(session_id, client_id)
        entries: list[Entry] = await hosted.outbox.wait(after, wait_s)
        ended = hosted.outbox.ended and (not entries or entries[-1].type == "session_ended")
        return PollReply([(e.index, e.json) for e in entries], ended, hosted.close_code)

    async def abandon(self, session_id: str, client_id: str) -> None:
        """Undo a start that lost to a limit (before its client heard of it): dropped unflushed, forgotten
        by the store."""
        hosted = self._get(session_id, client_id)
        del self._sessions[session_id]
        await hosted.session.abort()
        hosted.inbox.close()
        if hosted.recorder is not None:
            await hosted.recorder.close()
        if self._storage is not None:
            await self._storage.forget(session_id)
        self.metrics.gauge("sessions_active", self.count())

    async def shutdown(self, *, flush: bool = True) -> None:
        """End every session: flush what can be flushed quickly, then drop. Stored sessions are left
        ``interrupted``, so that their clients can resume them on the next host. ``flush=False`` drops
        everything at once and records nothing, as a crash would."""
        for hosted in list(self._sessions.values()):
            if not hosted.ended:
                try:
                    if not flush:
                        raise TimeoutError
                    await asyncio.wait_for(self._stop(hosted, "shutdown"), timeout=5.0)
                except (TimeoutError, SttError):
                    await hosted.session.abort()
                    if hosted.phase is Phase.LIVE:
                        hosted.begin_end("shutdown")
                    if hosted.phase is Phase.ENDING:
                        hosted.finish_end(self._clock.monotonic())
                    hosted.inbox.close()
            if hosted.recorder is not None:
                await hosted.recorder.close()
        if self._reaper is not None:
            self._reaper.cancel()
        if self._storage is not None:
            await self._storage.close()

    # ------------------------------------------------------------------ internals

    def _get(self, session_id: str, client_id: str) -> Hosted:
        hosted = self._sessions.get(session_id)
        if hosted is None:
            raise not_found(session_id)
        self._authorize(hosted, client_id)
        return hosted

    @staticmethod
    def _authorize(hosted: Hosted, client_id: str) -> None:
        # another client's session is answered exactly as a missing one: its existence is not revealed
        if hosted.owner != client_id:
            raise not_found(hosted.session.session_id)

    async def _stop(self, hosted: Hosted, reason: p.SessionEndReason) -> None:
        if hosted.phase is not Phase.LIVE:
            return
        hosted.begin_end(reason)
        try:
            if reason == "stopped":
                await hosted.inbox.drain()
            await hosted.session.stop(reason)
        finally:
            hosted.finish_end(self._clock.monotonic())
            self.metrics.gauge("sessions_active", self.count())
            hosted.inbox.close()
        if hosted.recorder is not None:
            await hosted.recorder.close()

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever(), name="session-reaper")

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reap_interval_s)
            try:
                self.reap()
                if self._storage is not None:
                    self._storage.tick(self._live_audio)
            except Exception:
                log.exception("session reaper failed")

    def _live_audio(self) -> dict[str, float]:
        """Seconds of stream of each live session (its heartbeat)."""
        return {
            sid: h.session.audio_seconds
            for sid, h in self._sessions.items()
            if not h.ended and h.session.state is not SessionState.CREATED
        }

    def reap(self) -> None:
        """End idle and over-long sessions; forget ended ones after the resume grace."""
        now = self._clock.monotonic()
        for sid, hosted in list(self._sessions.items()):
            due = hosted.due(now, self.settings.limits)
            if due == "forget":
                del self._sessions[sid]
            elif due is not None:
                self._spawn(hosted, due)

    def _spawn(self, hosted: Hosted, reason: p.SessionEndReason) -> None:
        log.info("ending session: %s", reason, extra={"session_id": hosted.session.session_id})
        task = asyncio.create_task(self._stop(hosted, reason))
        hosted.tasks.add(task)
        task.add_done_callback(hosted.tasks.discard)
