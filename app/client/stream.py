"""One streaming session seen from the client: its sockets, its state, sending.

With a control socket (the default) commands and results travel as JSON on
``/v1/stream/control`` and audio as binary frames on ``/v1/stream/audio``; in
standalone mode everything shares the audio socket. A receive task per socket
reads server messages into the stream's :class:`~app.client.inbox.Inbox`, which
iteration drains, so sending and receiving interleave.

State (:class:`~app.client.state.StreamState`) moves only along its ``NEXT`` table; a call not allowed in the
current state raises ``SttClientError(code="invalid_state")``, or the failure that
caused the state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Coroutine, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app import protocol as p
from app.client.audio import chunk_bytes, file_pcm, paced, split_frames
from app.client.connection import ConnectionSettings, open_socket, start_session
from app.client.errors import SttClientError, from_close, invalid_state
from app.client.inbox import Closed, Inbox, parse
from app.client.state import NEXT, S, StreamState
from app.client.urls import AUDIO_PATH, CONTROL_PATH, ws_url
from app.options import SessionOptions


class SttStream:
    """Use through :meth:`SttClient.stream` as ``async with``; iterate for typed server messages."""

    def __init__(
        self, settings: ConnectionSettings, start: p.StartStream, *, session_id: str | None, standalone: bool
    ) -> None:
        self._settings = settings
        self._start = start
        self._requested_session_id = session_id
        self.standalone = standalone
        self._state = S.NEW
        self.inbox = Inbox(settings.queue_size)
        self._gen = 0  # command-socket generation; markers of older ones are stale
        self._cmd_ws: ClientConnection | None = None
        self._audio_ws: ClientConnection | None = None
        self._cmd_task: asyncio.Task[None] | None = None
        self._audio_task: asyncio.Task[None] | None = None
        self._failure: SttClientError | None = None
        self._audio_error: SttClientError | None = None
        self._stop_sent = False
        self.audio_bytes_sent = 0
        self._exhausted = False

    # ------------------------------------------------------------------ state

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
    def audio_format(self) -> p.AudioFormat:
        return self.started.audio

    @property
    def finals(self) -> list[p.FinalResult]:
        """Every final received so far (queued or consumed), in seq order, without replayed duplicates."""
        return self.inbox.finals

    @property
    def last_seq(self) -> int | None:
        """The seq of the last final received; what a resume starts after."""
        return self.inbox.last_seq

    @property
    def dropped_partials(self) -> int:
        return self.inbox.dropped_partials

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

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SttStream:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> SttStream:
        """Connect, send ``start_stream``, wait for ``session_started`` (and open the audio socket)."""
        self._check("open()", S.NEW)
        try:
            await self._connect_command(self._start, self._requested_session_id)
            if not self.standalone:
                await self._open_audio()
        except BaseException:
            await self.close()
            raise
        self._set(S.OPEN)
        return self

    async def close(self) -> None:
        """Stop the receive tasks and close the sockets (no ``stop_stream``: the server may keep the
        session for a resume). Safe to call more than once."""
        if self._state is S.CLOSED:
            return
        self._set(S.CLOSED)
        await self._cancel(self._cmd_task, self._audio_task)
        for ws in {self._cmd_ws, self._audio_ws}:
            if ws is not None:
                await ws.close()
        self.inbox.wake(self._gen)

    async def reconnect(self) -> p.SessionStarted:
        """Reopen the command socket and resume with ``last_seq``; missed finals are replayed."""
        self._check("reconnect()", S.OPEN, S.STOPPING, S.DISCONNECTED)
        await self._cancel(self._cmd_task)
        if self._cmd_ws is not None:
            await self._cmd_ws.close()
        if self._state is not S.DISCONNECTED:
            self._set(S.DISCONNECTED)
        try:
            await self._connect_command(p.StartStream(last_seq=self.last_seq or 0), self.session_id)
        except SttClientError as exc:
            self._failure = exc
            if exc.fatal:
                self._set(S.FAILED)
            await self.inbox.put_closed(self._gen, exc)
            raise
        self._failure = None
        self._set(S.STOPPING if self._stop_sent else S.OPEN)
        if not self.standalone:
            # a fresh audio socket too: the old one may be attached to a host that went away
            await self._cancel(self._audio_task)
            if self._audio_ws is not None:
                await self._audio_ws.close()
            await self._open_audio()
        return self.started

    # ------------------------------------------------------------------ audio

    async def send_audio(self, data: bytes) -> None:
        """Send audio as binary frames of at most ``max_frame_bytes`` each."""
        allowed = (S.OPEN,) if self.standalone else (S.OPEN, S.DISCONNECTED)
        self._check("send_audio()", *allowed)
        ws = self._audio_ws
        if ws is None or self._audio_error is not None:
            raise self._audio_error or invalid_state("the audio socket is not open")
        try:
            for frame in split_frames(data, self._settings.max_frame_bytes):
                await ws.send(frame)
                self.audio_bytes_sent += len(frame)
        except ConnectionClosed as exc:
            raise self._closed_error(ws) from exc

    async def send_iter(self, chunks: AsyncIterable[bytes] | Iterable[bytes]) -> None:
        """Send each chunk as it comes (a microphone paces itself)."""
        if isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                await self.send_audio(chunk)
        else:
            for chunk in chunks:
                await self.send_audio(chunk)

    async def send_pcm(
        self,
        pcm: bytes,
        *,
        realtime: bool = True,
        chunk_ms: float = 100.0,
        speed: float = 1.0,
        burst_s: float = 0.0,
    ) -> None:
        """Send PCM16 of the session's format in ``chunk_ms`` chunks, paced at ``speed`` x real time
        after the first ``burst_s`` seconds of audio, which go at once."""
        if speed <= 0:
            raise ValueError(f"speed {speed} must be positive")
        chunks = split_frames(pcm, chunk_bytes(self.audio_format, chunk_ms))
        burst = int(burst_s * 1000.0 / chunk_ms)
        await self.send_iter(paced(chunks, chunk_ms / 1000.0 / speed, burst=burst) if realtime else chunks)

    async def send_file(
        self,
        path: str | Path,
        *,
        realtime: bool = True,
        chunk_ms: float = 100.0,
        speed: float = 1.0,
        burst_s: float = 0.0,
    ) -> float:
        """Decode a file to the session's PCM16 format and send it; returns the seconds of audio sent."""
        fmt = self.audio_format
        pcm = await asyncio.to_thread(file_pcm, path, fmt)
        await self.send_pcm(pcm, realtime=realtime, chunk_ms=chunk_ms, speed=speed, burst_s=burst_s)
        return len(pcm) / (2 * fmt.channels * fmt.sample_rate)

    # ------------------------------------------------------------------ commands

    async def finalize(self) -> None:
        """End the current utterance now; its final follows."""
        await self._command(p.Finalize(), "finalize()")

    async def pause(self) -> None:
        await self._command(p.PauseStream(), "pause()")

    async def resume(self) -> None:
        await self._command(p.ResumeStream(), "resume()")

    async def configure(self, options: dict[str, Any] | SessionOptions) -> None:
        """Merge (partial) options into the session's."""
        patch = options.model_dump() if isinstance(options, BaseModel) else options
        await self._command(p.Configure(options=patch), "configure()")

    async def keep_alive(self) -> None:
        await self._command(p.KeepAlive(), "keep_alive()")

    async def stop(self, audio_end: datetime | None = None) -> None:
        """Send ``stop_stream``; results keep arriving until ``session_ended``."""
        # the sockets are not ordered with each other: tell the server how much audio to wait for
        sent = None if self.standalone else self.audio_bytes_sent
        await self._command(p.StopStream(audio_end=audio_end, audio_bytes=sent), "stop()")
        self._stop_sent = True
        if self._state is S.OPEN:
            self._set(S.STOPPING)

    async def finish(self) -> list[p.FinalResult]:
        """Stop (unless stopped), read every message up to ``session_ended``, return the finals."""
        if not self._stop_sent:
            await self.stop()
        async for _ in self:
            pass
        return list(self.finals)

    async def _command(self, msg: p.ClientMessage, what: str) -> None:
        self._check(what, S.OPEN, S.STOPPING)
        ws = self._cmd_ws
        if ws is None:
            raise invalid_state(f"{what} needs an open stream")
        try:
            await ws.send(msg.model_dump_json())
        except ConnectionClosed as exc:
            raise self._closed_error(ws) from exc

    # ------------------------------------------------------------------ receiving

    def __aiter__(self) -> SttStream:
        return self

    async def __anext__(self) -> p.ServerMessage:
        """The next server message; stops after ``session_ended``; raises the failure that ended the socket."""
        while not self._exhausted and self._state is not S.CLOSED:
            if self.inbox.empty() and self._failure is not None and self._state in (S.FAILED, S.DISCONNECTED):
                raise self._failure
            item = await self.inbox.get()
            if isinstance(item, Closed):
                if item.gen == self._gen and item.error is not None and self._state in (S.FAILED, S.DISCONNECTED):
                    raise item.error
                continue
            if isinstance(item, p.SessionEnded):
                self._exhausted = True
            return item
        raise StopAsyncIteration

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
        if self.standalone:
            self._audio_ws = ws
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
        try:
            async for raw in ws:
                msg = parse(raw)
                if msg is not None:
                    await self._accept(msg)
        except ConnectionClosed:
            pass
        await self._socket_closed(ws, gen, command=command)

    async def _socket_closed(self, ws: ClientConnection, gen: int, *, command: bool) -> None:
        if self._state in (S.ENDED, S.CLOSED, S.FAILED) or (command and gen != self._gen):
            return
        error = from_close(ws.close_code, ws.close_reason or "", self.inbox.fatal_error)
        if not command:
            # The control socket is the one that reports the session's fate (an idle timeout sends
            # session_ended there before closing both); a dead audio socket fails send_audio().
            self._audio_error = error
            return
        self._failure = error
        self._set(S.FAILED if error.fatal else S.DISCONNECTED)
        await self.inbox.put_closed(gen, error)

    async def _accept(self, msg: p.ServerMessage) -> None:
        await self.inbox.put(msg)
        if isinstance(msg, p.SessionEnded) and S.ENDED in NEXT[self._state]:
            self._set(S.ENDED)

    def _closed_error(self, ws: ClientConnection) -> SttClientError:
        if ws is self._audio_ws and self._audio_error is not None:
            return self._audio_error
        return self._failure or from_close(ws.close_code, ws.close_reason or "", self.inbox.fatal_error)

    def _spawn(self, coro: Coroutine[Any, Any, None], role: str) -> asyncio.Task[None]:
        return asyncio.create_task(coro, name=f"stt-client-{role}")

    @staticmethod
    async def _cancel(*tasks: asyncio.Task[None] | None) -> None:
        pending = [t for t in tasks if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
