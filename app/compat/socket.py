"""The life of one vendor WebSocket, which the Deepgram and AssemblyAI adapters share: a read loop
(audio and JSON text), a pump that translates the session's messages, and the end (the session is
flushed and stored however the socket ends; the client's finals are never dropped)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app import protocol as p
from app.compat.context import Compat
from app.compat.live import LiveSession
from app.errors import InternalError, SttError
from app.logsample import SampledLog
from app.options import SessionOptions
from app.safejson import JsonRejected, parse_json

log = logging.getLogger(__name__)
_sampled = SampledLog(log)  # a server fault a client can repeat, socket after socket

MAX_TEXT_CHARS = 64 * 1024  # a JSON control message
_FLUSHING: set[asyncio.Task[None]] = set()  # flushes that outlive their socket's handler


class VendorSocket(ABC):
    name = "vendor"

    def __init__(self, ws: WebSocket, compat: Compat) -> None:
        self.ws = ws
        self.compat = compat
        self.session: LiveSession | None = None
        self.closing = False
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._counted: str | None = None  # the client whose socket this replica counts

    async def run(self) -> None:
        try:
            await self.handle()
        finally:
            if self._counted is not None and self.compat.replica is not None:
                self.compat.replica.closed(self._counted)

    @abstractmethod
    async def handle(self) -> None:
        """Authenticate, open the session, serve the socket."""

    def count_connection(self, client_id: str) -> None:
        """Counts this socket against ``limits.max_connections_per_client`` (raises TooManyConnections)."""
        if self.compat.replica is not None:
            self.compat.replica.opened(client_id, self.compat.settings.limits.max_connections_per_client)
            self._counted = client_id

    # ------------------------------------------------------------------ for subclasses

    @abstractmethod
    async def on_audio(self, data: bytes) -> None: ...

    @abstractmethod
    async def on_text(self, kind: str | None, body: dict[str, Any]) -> None:
        """A text frame: its ``type`` (None when it is no JSON object with a string ``type``)."""

    @abstractmethod
    def translate(self, msg: p.ServerMessage) -> list[dict[str, Any]]:
        """The vendor's messages for one session message."""

    @abstractmethod
    async def ended(self, msg: p.SessionEnded | None, close_code: int) -> None:
        """The session ended (``session_ended`` was translated): send the last words and close."""

    @abstractmethod
    def close_for(self, exc: SttError) -> tuple[int, str]:
        """A fatal error as the vendor's close code and reason."""

    async def on_opened(self) -> None:  # noqa: B027 (a hook; most vendors need none)
        """After the session started (``Begin``, for instance)."""

    # ------------------------------------------------------------------ the socket

    async def serve(self) -> None:
        """The accepted socket until it ends."""
        try:
            await self.read_loop()
        except WebSocketDisconnect:
            pass
        except SttError as exc:
            await self.fail(exc)
        except Exception:
            _sampled.exception(
                f"{self.name}-stream", "%s stream failed", self.name, extra={"session_id": self.session_id}
            )
            await self.fail(None)
        finally:
            await self.finish()

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session is not None else None

    async def start(self, options: SessionOptions) -> None:
        assert self.session is not None
        await self.session.start(options)
        await self.on_opened()
        self._pump = asyncio.create_task(self._pump_results(), name=f"{self.name}-{self.session.session_id}")

    async def read_loop(self) -> None:
        assert self.session is not None
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data: bytes | None = message.get("bytes")
            text: str | None = message.get("text")
            if self.session.stopping or self.closing:
                continue  # the stream is being flushed: later frames are not read
            if data:
                await self.on_audio(data)
            elif text is not None:
                kind, body = _parse(text)
                await self.on_text(kind, body)

    async def _pump_results(self) -> None:
        assert self.session is not None
        try:
            ended: p.SessionEnded | None = None
            async for msg in self.session.messages():
                for out in self.translate(msg):
                    await self.send(out)
                if isinstance(msg, p.SessionEnded):
                    ended = msg
            await self.ended(ended, self.session.close_code)
        except SttError as exc:
            await self.fail(exc)
        except Exception:
            _sampled.exception(
                f"{self.name}-results", "%s results failed", self.name, extra={"session_id": self.session_id}
            )
            await self.fail(None)

    async def fail(self, exc: SttError | None) -> None:
        """Closes for a fatal error (None: a server fault)."""
        if exc is not None:
            self.compat.metrics.count("errors", code=exc.code)
        await self.close(*self.close_for(exc if exc is not None else InternalError()))

    # ------------------------------------------------------------------ ending

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self.session is not None:
            with contextlib.suppress(SttError):
                await self.session.stop()

    async def finish(self) -> None:
        # a client that went away without ending the stream: its session is flushed and stored all the same,
        # even when this handler is cancelled meanwhile (the flush runs as a task of its own)
        if self.session is not None and self.session.started and not self.session.stopping:
            flush = asyncio.create_task(self.stop(), name=f"{self.name}-flush-{self.session_id}")
            _FLUSHING.add(flush)
            flush.add_done_callback(_FLUSHING.discard)
            await asyncio.shield(flush)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump

    async def send(self, body: dict[str, Any]) -> None:
        if self.ws.application_state is WebSocketState.CONNECTED and not self.closing:
            with contextlib.suppress(Exception):
                await self.ws.send_text(json.dumps(body))

    async def close(self, code: int, reason: str = "") -> None:
        if self.ws.application_state is WebSocketState.CONNECTED and not self.closing:
            self.closing = True
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason[:120])


def _parse(text: str) -> tuple[str | None, dict[str, Any]]:
    if len(text) > MAX_TEXT_CHARS:
        return None, {}
    try:
        body = parse_json(text)
    except JsonRejected:
        return None, {}
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return None, {}
    return body["type"], body
