"""A live stream that outlives the node it entered by: the wire protocol over raw WebSockets,
paced like a microphone, resuming on another node when its sockets die.

Audio is sent in 100 ms frames at real time; while the stream has no socket, frames are dropped
(a live microphone does not wait), and the stream resumes as the README's "Resume" says: a new
control socket with ``?session_id=`` and ``start_stream`` with ``last_seq``, then a new audio
socket, trying each node's entry URL in turn. Every final is kept by ``seq``; a final received
twice is counted as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.client.urls import AUDIO_PATH, CONTROL_PATH, ws_url

SAMPLE_RATE = 16000
FRAME_BYTES = 3200  # 100 ms of 16 kHz PCM16
#: keepalive pings notice a node that vanished without closing its connections
PING_INTERVAL_S = 3.0
PING_TIMEOUT_S = 6.0
RESUME_DEADLINE_S = 120.0
#: a frame not taken by the socket within this long means the peer is gone: a socket whose send
#: buffer is full never gets its keepalive ping out, so the ping alone would not notice
SEND_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Utterance:
    reference: str
    start_s: float
    end_s: float


def program(
    shared_data: Path, manifest: list[dict[str, Any]], ids: list[str], gap_s: float
) -> tuple[bytes, list[Utterance]]:
    """The clips ``ids`` one after another, ``gap_s`` of silence before each and after the last."""
    by_id = {str(e["id"]): e for e in manifest}
    gap = bytes(int(gap_s * SAMPLE_RATE) * 2)
    pcm, spoken = bytearray(gap), []
    for clip_id in ids:
        clip = to_pcm16(load_audio(shared_data / str(by_id[clip_id]["file"])))
        start = len(pcm) / 2 / SAMPLE_RATE
        pcm += clip
        spoken.append(Utterance(str(by_id[clip_id]["reference"]), start, len(pcm) / 2 / SAMPLE_RATE))
        pcm += gap
    return bytes(pcm), spoken


@dataclass
class StreamLog:
    finals: dict[int, p.FinalResult] = field(default_factory=dict)
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ended: p.SessionEnded | None = None
    #: (monotonic time, base URL) of each connection: the first, then each resume
    connections: list[tuple[float, str]] = field(default_factory=list)
    lost_at: list[float] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)
    frames_dropped: int = 0
    #: (monotonic time, what happened): connections, losses, failed resume attempts
    events: list[tuple[float, str]] = field(default_factory=list)


class LiveStream:
    """One session, entering by ``urls[0]``; ``urls`` are every node's entry, tried in this order to
    resume (the one whose socket just died last)."""

    def __init__(self, name: str, urls: list[str], api_key: str, pcm: bytes) -> None:
        self.name = name
        self.urls = urls
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.pcm = pcm
        self.log = StreamLog()
        self.session_id: str | None = None
        self.sent_s = 0.0  # stream time of the audio handed to the sockets so far
        self._control: ClientConnection | None = None
        self._audio: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._ended = asyncio.Event()
        self._audio_bytes = 0
        self._stop_sent = False

    @property
    def last_seq(self) -> int:
        return max(self.log.finals, default=0)

    async def _connect(self, base: str) -> None:
        """Open (or resume, once the session exists) the session through ``base``."""
        ws_options = {
            "additional_headers": self.headers,
            "open_timeout": 5,
            "ping_interval": PING_INTERVAL_S,
            "ping_timeout": PING_TIMEOUT_S,
        }
        control = await websockets.connect(ws_url(base, CONTROL_PATH, session_id=self.session_id), **ws_options)
        try:
            start: dict[str, object] = {"type": "start_stream"}
            if self.session_id is not None:
                start["last_seq"] = self.last_seq
            await control.send(json.dumps(start))
            while True:
                msg = p.parse_server_message(await asyncio.wait_for(control.recv(), 15))
                if isinstance(msg, p.SessionStarted):
                    break
                if isinstance(msg, p.Error):
                    raise RuntimeError(f"{self.name}: start refused: {msg.code} {msg.message}")
            self.session_id = msg.session_id
            self.log.replicas.append(control.response.headers.get("x-stt-replica", "?"))
            audio = await websockets.connect(ws_url(base, AUDIO_PATH, session_id=self.session_id), **ws_options)
        except BaseException:
            await control.close()
            raise
        self._control, self._audio = control, audio
        self._lost.clear()
        self._reader = asyncio.create_task(self._read(control))
        self.log.connections.append((time.monotonic(), base))
        self.log.events.append((time.monotonic(), f"connected via {base} ({self.log.replicas[-1]})"))
        if self._stop_sent:  # the stop may not have arrived before the old socket died: say it again
            await self._send_stop()

    async def _read(self, control: ClientConnection) -> None:
        try:
            async for raw in control:
                msg = p.parse_server_message(raw)
                if isinstance(msg, p.FinalResult):
                    if msg.seq in self.log.finals:
                        self.log.duplicates += 1
                    self.log.finals[msg.seq] = msg
                    audio = msg.data.audio
                    what = f"final {msg.seq} [{audio.start:.1f}-{audio.end:.1f} s] {msg.data.text[:40]!r}"
                    self.log.events.append((time.monotonic(), what))
                elif isinstance(msg, p.Error | p.Warning_):
                    (self.log.errors if isinstance(msg, p.Error) else self.log.warnings).append(msg.code)
                    self.log.events.append((time.monotonic(), f"{msg.type} {msg.code}: {msg.message[:80]}"))
                elif isinstance(msg, p.SessionEnded):
                    self.log.ended = msg
                    self.log.events.append((time.monotonic(), f"session_ended {msg.reason}"))
                    self._ended.set()
        except ConnectionClosed:
            pass
        if not self._ended.is_set():
            self.log.lost_at.append(time.monotonic())
            self.log.events.append((time.monotonic(), f"control socket closed: {control.close_code}"))
            self._lost.set()

    async def _resume(self) -> None:
        """Reconnect through the first node that answers, with backoff, until the deadline."""
        await self._drop_sockets()
        deadline = time.monotonic() + RESUME_DEADLINE_S
        delay = 0.5
        failures: list[str] = []
        # the entry that just failed is tried last: its node may be the one that went away
        last = self.log.connections[-1][1] if self.log.connections else None
        order = [u for u in self.urls if u != last] + [u for u in self.urls if u == last]
        while time.monotonic() < deadline:
            for base in order:
                try:
                    await self._connect(base)
                    return
                except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, RuntimeError) as exc:
                    failures.append(f"{base}: {type(exc).__name__}")
                    self.log.events.append((time.monotonic(), f"resume via {base} failed: {exc!r}"[:300]))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)
        raise RuntimeError(f"{self.name}: no node took the session back: {failures[-6:]}")

    async def _drop_sockets(self) -> None:
        for ws in (self._control, self._audio):
            if ws is not None:
                ws.transport.abort()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._control = self._audio = None

    async def _send_stop(self) -> None:
        assert self._control is not None
        stop = json.dumps({"type": "stop_stream", "audio_bytes": self._audio_bytes})
        try:
            await asyncio.wait_for(self._control.send(stop), SEND_TIMEOUT_S)
        except (ConnectionClosed, TimeoutError):
            self._lost.set()  # said again on the next connection

    async def run(self) -> StreamLog:
        """Stream the whole program, stop, and wait for ``session_ended`` (resuming as needed)."""
        await self._connect(self.urls[0])
        start = time.monotonic()
        i = 0
        while i < len(self.pcm):
            await asyncio.sleep(max(0.0, start + i / 2 / SAMPLE_RATE - time.monotonic()))
            if self._lost.is_set():
                await self._resume()
                # a microphone does not wait: what was spoken while there was no socket is gone
                now = int((time.monotonic() - start) * SAMPLE_RATE) * 2 // FRAME_BYTES * FRAME_BYTES
                if now > i:
                    self.log.frames_dropped += (now - i) // FRAME_BYTES
                    i = now
                continue
            frame = self.pcm[i : i + FRAME_BYTES]
            audio = self._audio
            assert audio is not None
            try:
                await asyncio.wait_for(audio.send(frame), SEND_TIMEOUT_S)
                self._audio_bytes += len(frame)
            except (ConnectionClosed, TimeoutError) as exc:
                self.log.frames_dropped += 1
                if not self._lost.is_set():
                    why = "send timed out" if isinstance(exc, TimeoutError) else f"closed: {audio.close_code}"
                    self.log.events.append((time.monotonic(), f"audio socket {why}"))
                self._lost.set()
            i += FRAME_BYTES
            self.sent_s = i / 2 / SAMPLE_RATE
        self._stop_sent = True
        self.log.events.append((time.monotonic(), f"stop_stream after {self.sent_s:.1f} s"))
        await self._send_stop()
        deadline = time.monotonic() + 90
        while not self._ended.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no session_ended within 90 s of stop_stream")
            lost = asyncio.ensure_future(self._lost.wait())
            ended = asyncio.ensure_future(self._ended.wait())
            await asyncio.wait({lost, ended}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            ended.cancel()
            if self._lost.is_set() and not self._ended.is_set():
                await self._resume()
        await self._drop_sockets()
        return self.log
