"""A small fake server that speaks the wire protocol (no Ray, no model), for the client's tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from app import protocol as p

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PCM16_16K = p.AudioFormat(sample_rate=16000, encoding="pcm_s16le", channels=1)


@dataclass
class Seen:
    """One socket the fake server accepted."""

    path: str
    params: dict[str, str]
    authorization: str | None


@dataclass
class FakeSession:
    session_id: str
    results: ServerConnection  # the control socket, or the audio socket in standalone mode
    finals: list[p.FinalResult] = field(default_factory=list)
    received: int = 0  # audio bytes


class FakeServer:
    """Answers start_stream with session_started, each audio frame with a partial and a final,
    stop_stream with session_ended; closes 4401 without credentials; resumes with last_seq."""

    def __init__(self) -> None:
        self.base_url = ""
        self.sockets: list[Seen] = []
        self.commands: list[p.ClientMessage] = []
        self.frames: list[bytes] = []
        self.sessions: dict[str, FakeSession] = {}
        self.replay_all = False  # a sloppy server that replays every final on resume
        self.deaf = False  # audio frames are lost in flight (never reach the session)
        self.lost: list[bytes] = []
        self.refuse_resumes = 0  # resumes to answer with 1012 (the host still restarting)
        self.resume_close: int | None = None  # answer every resume with this close (4404: gone for good)

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        auth = ws.request.headers.get("Authorization")
        self.sockets.append(Seen(url.path, params, auth))
        if auth is None:
            await ws.close(4401, "missing credentials")
        elif url.path.endswith("/v1/stream/control"):
            session = await self._start(ws, params)
            if session is not None:
                await self._commands(ws, session)
        elif url.path.endswith("/v1/stream/audio"):
            await self._audio(ws, params)
        else:
            await ws.close(4404, "no such endpoint")

    async def drop(self, session_id: str) -> None:
        """Close the session's result socket as a restarting server would (not 4xxx: resumable)."""
        await self.sessions[session_id].results.close(1012, "service restart")

    async def fail(self, session_id: str) -> None:
        session = self.sessions[session_id]
        error = p.Error(session_id=session_id, code="internal_error", message="the model crashed", fatal=True)
        await session.results.send(error.model_dump_json())
        await session.results.close(4500, "internal error")

    async def _start(self, ws: ServerConnection, params: dict[str, str]) -> FakeSession | None:
        msg = p.parse_client_message(await ws.recv())
        self.commands.append(msg)
        if not isinstance(msg, p.StartStream):
            await ws.close(4400, "start the stream first")
            return None
        if params.get("client_id") == "greedy":
            error = p.Error(session_id="-", code="too_many_sessions", message="10 sessions already", fatal=True)
            await ws.send(error.model_dump_json())
            await ws.close(4429, "too many sessions")
            return None
        session_id = params.get("session_id") or uuid.uuid4().hex
        resumed = msg.last_seq is not None
        if resumed and (self.refuse_resumes or self.resume_close):
            self.refuse_resumes = max(0, self.refuse_resumes - 1)
            await ws.close(self.resume_close or 1012, "session_interrupted")
            return None
        if resumed:
            session = self.sessions[session_id]
            session.results = ws
        else:
            session = self.sessions[session_id] = FakeSession(session_id, ws)
        # a resume that re-sends audio is answered with where the session takes it from: what it has
        taken = session.received if msg.audio_offset_bytes is not None else None
        started = p.SessionStarted(
            session_id=session_id, resumed=resumed, audio=PCM16_16K, options=msg.options, audio_offset_bytes=taken
        )
        await ws.send(started.model_dump_json())
        for final in session.finals:
            if self.replay_all or final.seq > (msg.last_seq or 0):
                await ws.send(final.model_dump_json())
        return session

    async def _commands(self, ws: ServerConnection, session: FakeSession) -> None:
        async for raw in ws:
            if isinstance(raw, bytes):
                if self.deaf:
                    self.lost.append(raw)
                    continue
                self.frames.append(raw)
                session.received += len(raw)
                await self._results(session, len(raw))
                continue
            msg = p.parse_client_message(raw)
            self.commands.append(msg)
            if isinstance(msg, p.StopStream):
                ended = p.SessionEnded(session_id=session.session_id, reason="stopped", audio_duration=1.0, finals=1)
                await ws.send(ended.model_dump_json())
                await ws.close()
                return

    async def _audio(self, ws: ServerConnection, params: dict[str, str]) -> None:
        session = self.sessions.get(params.get("session_id", ""))
        if session is None:  # standalone: start_stream comes first, on this socket
            session = await self._start(ws, params)
        if session is not None:
            await self._commands(ws, session)

    async def _results(self, session: FakeSession, n_bytes: int) -> None:
        """A partial and a final for each frame; the final spans the frame's stream time."""
        sid, seq = session.session_id, len(session.finals) + 1
        end = session.received / 32000
        span = p.AudioSpan(start=end - n_bytes / 32000, end=end, duration=n_bytes / 32000)
        partial = p.PartialResult(
            session_id=sid,
            utterance_id=seq,
            data=p.PartialData(text=f"{n_bytes}", confidence=0.5, timestamp=NOW, audio_start=0.0, audio_current=0.1),
        )
        final = p.FinalResult(
            session_id=sid,
            utterance_id=seq,
            seq=seq,
            data=p.FinalData(text=f"{n_bytes} bytes", confidence=0.9, timestamp=NOW, audio=span),
        )
        session.finals.append(final)
        try:
            await session.results.send(partial.model_dump_json())
            await session.results.send(final.model_dump_json())
        except ConnectionClosed:
            pass  # the client is away; the final waits for its resume


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[FakeServer]:
    """A fake server on a free local port (each client test module makes it its ``server`` fixture)."""
    fake = FakeServer()
    async with serve(fake.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        fake.base_url = f"http://127.0.0.1:{port}"
        yield fake
