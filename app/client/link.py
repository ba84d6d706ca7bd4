"""A stream's connection to its session: the sockets, their receive tasks, the state, resuming.

:class:`Link` is the inside of :class:`~app.client.stream.SttStream` (which adds what a user calls:
sending, commands, iteration). A receive task per socket reads server messages into the stream's
:class:`~app.client.inbox.Inbox`. A socket that drops without ending the session (no close of the
session's own: 1000 after ``session_ended``, or a 4xxx) is resumed by itself unless the stream's
:class:`~app.client.resume.ResumePolicy` says not to: reconnect with backoff (:meth:`Link._resume_forever`),
``start_stream`` with ``last_seq`` and ``audio_offset_bytes``, then the kept audio sent again
(:mod:`app.client.sending`); meanwhile audio is kept, commands wait, and the reader waits for the
resumed session's messages. State moves only along :data:`~app.client.state.NEXT`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from app import protocol as p
from app.client.connection import ConnectionSettings, open_socket, start_session
from app.client.errors import SttClientError, from_close, invalid_state
from app.client.inbox import Inbox, parse
from app.client.resume import ResumeEvent, ResumePolicy, can_retry
from app.client.sending import AudioOut
from app.client.state import NEXT, S, StreamState
from app.client.urls import AUDIO_PATH, CONTROL_PATH, ws_url

#: a fatal ``error`` the server sends before a close that is not the session's end (its host went away)
_RESUMABLE_ERRORS = frozenset({"session_interrupted"})


class Link:
    def __init__(
        self,
        settings: ConnectionSettings,
        start: p.StartStream,
        *,
        session_id: str | None,
        standalone: bool,
        resume: ResumePolicy | None = None,
        on_resume: Callable[[ResumeEvent], None] | None = None,
    ) -> None:
        self._settings = settings
        self._start = start
        self._requested_session_id = session_id
        self.standalone = standalone
        self.policy = resume or ResumePolicy()
        self._on_resume = on_resume
        self._state = S.NEW
        self.inbox = Inbox(settings.queue_size)
        self._gen = 0  # command-socket generation; markers of older ones are stale
        self._cmd_ws: ClientConnection | None = None
        self._audio_ws: ClientConnection | None = None
        self._cmd_task: asyncio.Task[None] | None = None
        self._audio_task: asyncio.Task[None] | None = None
        self._resumer: asyncio.Task[None] | None = None
        self._resumed = asyncio.Event()  # set while not resuming
        self._resumed.set()
        self._failure: SttClientError | None = None
        self._audio_error: SttClientError | None = None
        self._stop_sent = False
        self._out = AudioOut(settings.max_frame_bytes)
        self._exhausted = False
        #: seconds each automatic resume took, from the drop to the resumed stream
        self.resume_times: list[float] = []

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def started(self) -> p.SessionStarted:
        """The latest ``session_started`` (``resumed`` after a reconnect)."""
        if self.inbox.started is None:
            raise invalid_state("the stream has not started; open it first")
        return self.inbox.started

    @property
    def session_id(self) -> str:
        return self.started.session_id

    @property
    def replicas(self) -> dict[str, str | None]:
        """The ingress replica each socket reached (its ``x-stt-replica`` header), by channel: where
        to look in the server's logs."""
        sockets = {"control": self._cmd_ws, "audio": self._audio_ws}
        return {
            channel: ws.response.headers.get("x-stt-replica") if ws is not None and ws.response else None
            for channel, ws in sockets.items()
        }

    @property
    def last_seq(self) -> int | None:
        """The seq of the last final received; what a resume starts after."""
        return self.inbox.last_seq

    def _set(self, new: StreamState) -> None:
        if new not in NEXT[self._state]:
            raise RuntimeError(f"stream state {self._state.value} → {new.value} is not allowed")
        self._state = new

    def _check(self, what: str, *allowed: StreamState) -> None:
        if self._state in allowed:
            return
        if self._state in (S.FAILED, S.DISCONNECTED) and self._failure is not None:
            raise self._failure
        raise invalid_state(f"{what} is not allowed while the stream is {self._state.value}")

    async def _reopen(self) -> int:
        """New sockets, the resume, the kept audio sent again (``stop_stream`` again if it was sent);
        returns the bytes sent again. Raises ``SttClientError`` for a try that failed."""
        self._out.detach()
        await self._cancel(self._cmd_task, self._audio_task)
        for ws in {self._cmd_ws, self._audio_ws}:
            if ws is not None:
                await ws.close()
        kept = self._out.kept
        start = p.StartStream(last_seq=self.last_seq or 0, audio_offset_bytes=kept.start if kept else None)
        await self._connect_command(start, self.session_id)
        if self._state is S.ENDED:  # it ended meanwhile: the replay brought session_ended
            return 0
        self._failure = None
        if not self.standalone:
            await self._open_audio()
        assert self._audio_ws is not None
        try:
            taken = self.started.audio_offset_bytes
            if kept is not None and taken is None:
                self._out.taking = False  # the session is ending: it takes no more audio
                resent = 0
            else:
                resent = await self._out.resend(self._audio_ws, taken or 0, self.policy.resend_speed)
            if self._stop_sent:
                await self._cmd_ws_send(p.StopStream(audio_bytes=None if self.standalone else self._out.total))
        except ConnectionClosed as exc:
            raise from_close(exc.rcvd.code if exc.rcvd else None, "") from exc
        if self._state not in (S.RESUMING, S.DISCONNECTED):
            return resent  # ended, or closed for good, meanwhile
        if not self._open_sockets():
            raise SttClientError("connection lost again while resuming", code="connection_lost", close_code=1006)
        self._set(S.STOPPING if self._stop_sent else S.OPEN)
        return resent

    def _open_sockets(self) -> bool:
        return all(ws is not None and ws.state is State.OPEN for ws in (self._cmd_ws, self._audio_ws))

    async def _lost(self, error: SttClientError) -> None:
        """A socket dropped without ending the session: resume by itself, or wait for reconnect()."""
        if self._state not in (S.OPEN, S.STOPPING):
            return  # resuming already, or over
        self._failure = error
        if not self.policy.enabled:
            self._set(S.DISCONNECTED)  # the audio socket, if it still stands, goes on sending
            await self.inbox.put_closed(self._gen, error)
            return
        self._out.detach()
        self._set(S.RESUMING)
        self._resumed.clear()
        self._notify(ResumeEvent("lost", error))
        self._resumer = self._spawn(self._resume_forever(error), "resume")

    async def _resume_forever(self, error: SttClientError) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        tries = 0
        for delay in self.policy.delays():
            if tries and loop.time() + delay - began > self.policy.timeout_s:
                break
            await asyncio.sleep(delay)
            tries += 1
            try:
                resent = await self._reopen()
            except SttClientError as exc:
                error = exc
                if can_retry(exc) and self._state is S.RESUMING:
                    continue
                await self._give_up(exc, S.FAILED, tries, loop.time() - began)
                return
            if self._state in (S.FAILED, S.CLOSED):  # the new socket was closed for good meanwhile
                self._resumed.set()
                return
            elapsed = loop.time() - began
            self.resume_times.append(elapsed)
            self._resumed.set()
            self._notify(ResumeEvent("resumed", tries=tries, elapsed_s=elapsed, resent_bytes=resent))
            return
        await self._give_up(error, S.DISCONNECTED, tries, loop.time() - began)

    async def _give_up(self, error: SttClientError, state: StreamState, tries: int, elapsed: float) -> None:
        if self._state is S.RESUMING:
            self._failure = error
            self._set(state)
        self._resumed.set()
        self._notify(ResumeEvent("failed", error, tries=tries, elapsed_s=elapsed))
        await self.inbox.put_closed(self._gen, error)

    def _notify(self, event: ResumeEvent) -> None:
        if self._on_resume is not None:
            self._on_resume(event)

    async def _while_resuming(self) -> None:
        """Wait for a resume under way to end (a command goes on the resumed session)."""
        await self._resumed.wait()

    async def _cmd_ws_send(self, msg: p.ClientMessage, what: str = "a command") -> None:
        ws = self._cmd_ws
        if ws is None:
            raise invalid_state(f"{what} needs an open stream")
        try:
            await ws.send(msg.model_dump_json())
        except ConnectionClosed as exc:
            raise self._closed_error(ws) from exc

    async def _connect_command(self, start: p.StartStream, session_id: str | None) -> None:
        path = AUDIO_PATH if self.standalone else CONTROL_PATH
        url = ws_url(self._settings.base_url, path, client_id=self._settings.client_id, session_id=session_id)
        ws = await open_socket(url, self._settings)
        try:
            received = await start_session(ws, start, self._settings.open_timeout_s)
        except BaseException:
            await ws.close()
            raise
        self._gen += 1
        self._cmd_ws = ws
        self.inbox.fatal_error = None  # an old socket's last words name no close of this one
        if self.standalone:
            self._audio_ws = ws
            self._audio_error = None
        for msg in received:
            await self._accept(msg)
        self._cmd_task = self._spawn(self._pump(ws, self._gen, command=True), "control")

    async def _open_audio(self) -> None:
        settings = self._settings
        url = ws_url(settings.base_url, AUDIO_PATH, client_id=settings.client_id, session_id=self.session_id)
        self._audio_ws = await open_socket(url, self._settings)
        self._audio_error = None
        self._audio_task = self._spawn(self._pump(self._audio_ws, self._gen, command=False), "audio")

    async def _pump(self, ws: ClientConnection, gen: int, *, command: bool) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                msg = parse(raw)
                if msg is not None:
                    await self._accept(msg)
        await self._socket_closed(ws, gen, command=command)

    async def _socket_closed(self, ws: ClientConnection, gen: int, *, command: bool) -> None:
        if self._state in (S.ENDED, S.CLOSED, S.FAILED) or gen != self._gen:
            return
        error = from_close(ws.close_code, ws.close_reason or "", self.inbox.fatal_error)
        if not command:
            # The control socket is the one that reports the session's fate (an idle timeout sends
            # session_ended there before closing both); a dead audio socket fails send_audio(), or is
            # resumed when it dropped without a close of the session's own (1000 or 4xxx)
            self._audio_error = error
            if error.close_code in (1000, None) or error.fatal or not self.policy.enabled:
                return
        if error.fatal:
            self._failure = error
            self._set(S.FAILED)
            self._resumed.set()
            await self.inbox.put_closed(gen, error)
            return
        await self._lost(error)

    async def _accept(self, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.Error) and msg.fatal and msg.code in _RESUMABLE_ERRORS and self.policy.enabled:
            self.inbox.fatal_error = msg  # names the close that follows; the resume answers it, not the reader
            return
        if isinstance(msg, p.FinalResult) and self._out.kept is not None:
            self._out.kept.release(msg.data.audio.end)  # audio up to a final's end is not sent again
        await self.inbox.put(msg)
        if isinstance(msg, p.SessionEnded) and S.ENDED in NEXT[self._state]:
            self._set(S.ENDED)
            self._resumed.set()

    def _closed_error(self, ws: ClientConnection) -> SttClientError:
        if ws is self._audio_ws and self._audio_error is not None:
            return self._audio_error
        return self._failure or from_close(ws.close_code, ws.close_reason or "", self.inbox.fatal_error)

    def _spawn(self, coro: Coroutine[Any, Any, None], role: str) -> asyncio.Task[None]:
        return asyncio.create_task(coro, name=f"stt-client-{role}")

    @staticmethod
    async def _cancel(*tasks: asyncio.Task[None] | None) -> None:
        current = asyncio.current_task()
        pending = [t for t in tasks if t is not None and not t.done() and t is not current]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
