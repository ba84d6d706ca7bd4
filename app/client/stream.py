"""One streaming session seen from the client: sending, commands, results.

With a control socket (the default) commands and results travel as JSON on
``/v1/stream/control`` and audio as binary frames on ``/v1/stream/audio``; in
standalone mode everything shares the audio socket. A receive task per socket
reads server messages into the stream's :class:`~app.client.inbox.Inbox`, which
iteration drains, so sending and receiving interleave. The sockets, the state and
resuming after a dropped connection are :class:`~app.client.link.Link`'s.

State (:class:`~app.client.state.StreamState`) moves only along its ``NEXT`` table; a call not allowed in the
current state raises ``SttClientError(code="invalid_state")``, or the failure that
caused the state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed

from app import protocol as p
from app.client.audio import chunk_bytes, file_pcm, paced, split_frames
from app.client.errors import SttClientError, invalid_state
from app.client.inbox import Closed
from app.client.link import Link
from app.client.resume import KeptAudio
from app.client.state import S
from app.options import SessionOptions


class SttStream(Link):
    """Use through :meth:`SttClient.stream` as ``async with``; iterate for typed server messages."""

    # ------------------------------------------------------------------ what it has received and sent

    @property
    def audio_format(self) -> p.AudioFormat:
        return self.started.audio

    @property
    def finals(self) -> list[p.FinalResult]:
        """Every final received so far (queued or consumed), in seq order, without replayed duplicates."""
        return self.inbox.finals

    @property
    def dropped_partials(self) -> int:
        return self.inbox.dropped_partials

    @property
    def audio_bytes_sent(self) -> int:
        """Audio bytes given to the stream so far (sent, or kept to be sent on a resume)."""
        return self._out.total

    @property
    def kept_audio(self) -> KeptAudio | None:
        """The audio a resume would send again (None where bytes are not time: wav, ogg, mp3)."""
        return self._out.kept

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
            if not self.started.resumed:  # a session this stream began: its bytes are its time
                self._out.kept = KeptAudio.for_format(self.started.audio, self.policy.buffer_s)
            if not self.standalone:
                await self._open_audio()
            assert self._audio_ws is not None
            self._out.attach(self._audio_ws)
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
        self._resumed.set()
        await self._cancel(self._resumer, self._cmd_task, self._audio_task)
        for ws in {self._cmd_ws, self._audio_ws}:
            if ws is not None:
                await ws.close()
        self.inbox.wake(self._gen)

    async def reconnect(self) -> p.SessionStarted:
        """Reopen the sockets and resume with ``last_seq`` (missed finals are replayed) by hand, and
        send the kept audio again."""
        self._check("reconnect()", S.OPEN, S.STOPPING, S.DISCONNECTED)
        if self._state is not S.DISCONNECTED:
            self._set(S.DISCONNECTED)
        try:
            await self._reopen()
        except SttClientError as exc:
            self._failure = exc
            if exc.fatal and self._state is not S.FAILED:
                self._set(S.FAILED)
            await self.inbox.put_closed(self._gen, exc)
            raise
        return self.started

    # ------------------------------------------------------------------ audio

    async def send_audio(self, data: bytes) -> None:
        """Send audio as binary frames of at most ``max_frame_bytes`` each (kept, and sent once
        resumed, while the stream resumes)."""
        allowed = (S.OPEN, S.RESUMING) if self.standalone else (S.OPEN, S.RESUMING, S.DISCONNECTED)
        self._check("send_audio()", *allowed)
        if self._state is S.RESUMING and self._out.kept is None:
            await self._while_resuming()  # audio that cannot be kept by time waits for the resume
            self._check("send_audio()", S.OPEN)
        if self._state is not S.RESUMING and (self._out.ws is None or self._audio_error is not None):
            raise self._audio_error or invalid_state("the audio socket is not open")
        ws = self._out.ws
        try:
            await self._out.send(data)
        except ConnectionClosed as exc:
            error = self._closed_error(ws) if ws is not None else invalid_state("the audio socket is not open")
            if not self.policy.enabled or error.fatal:
                raise error from exc
            await self._lost(error)  # the audio is kept: the resume sends it

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
        if self._state is S.RESUMING:
            await self._while_resuming()
        # the sockets are not ordered with each other: tell the server how much audio to wait for
        sent = None if self.standalone else self._out.total
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
        if self._state is S.RESUMING:
            await self._while_resuming()
        self._check(what, S.OPEN, S.STOPPING)
        await self._cmd_ws_send(msg, what)

    # ------------------------------------------------------------------ receiving

    def __aiter__(self) -> SttStream:
        return self

    async def __anext__(self) -> p.ServerMessage:
        """The next server message; stops after ``session_ended``; raises the failure that ended the socket
        (while the stream resumes by itself, it waits for the resumed session's messages instead)."""
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
