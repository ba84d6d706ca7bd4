"""One WebSocket's life: authenticate, accept, read frames, pump results.

Both channels share this code. The control socket carries JSON commands and
receives results. The audio socket carries binary audio; when its session was
started on a control socket it is *attached* (text frames are refused with
``wrong_frame_type``), otherwise it is *standalone*: it takes the JSON commands
too and receives the results itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Literal

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app import protocol as p
from app.auth import Authenticator, Principal, authorize_session, select_subprotocol
from app.config import ServerSettings
from app.errors import (
    AudioBeforeStart,
    AuthError,
    InternalError,
    SttError,
    TooManySessions,
    WrongFrameType,
)
from app.metrics import Metrics
from app.service.ports import Directory, HostPort
from app.session.host import check_session_id, new_session_id

log = logging.getLogger(__name__)

Channel = Literal["control", "audio"]
POLL_TIMEOUT_S = 20.0


@dataclass(slots=True)
class ReplicaState:
    """What one ingress replica counts across its sockets."""

    replica_id: str = "local"
    connections: int = 0  # open WebSockets


class Connection:
    def __init__(
        self,
        ws: WebSocket,
        channel: Channel,
        *,
        settings: ServerSettings,
        auth: Authenticator,
        directory: Directory,
        replica: ReplicaState,
        metrics: Metrics,
    ) -> None:
        self.ws = ws
        self.channel = channel
        self.settings = settings
        self.auth = auth
        self.directory = directory
        self.replica = replica
        self.metrics = metrics
        self.session_id: str | None = None
        self.client_id = ""
        self.host: HostPort | None = None
        self.started = False  # this socket started (or resumed) the session
        self.attached = False  # audio socket joining a control socket's session
        self._pump: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            principal = self._authenticate()
        except AuthError as exc:
            await self._accept()
            await self._fail(exc)
            return
        await self._accept()
        self.client_id = principal.client_id
        self.replica.connections += 1
        try:
            await self._bind_session(principal)
            await self._read_loop()
        except SttError as exc:
            await self._fail(exc)
        except WebSocketDisconnect:
            pass
        except Exception:
            log.exception("connection failed", extra={"session_id": self.session_id})
            await self._fail(InternalError())
        finally:
            if self._pump is not None:
                self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._pump
            self.replica.connections -= 1

    # ------------------------------------------------------------------ set-up

    def _authenticate(self) -> Principal:
        q = self.ws.query_params
        return self.auth.authenticate(
            authorization=self.ws.headers.get("authorization"),
            query_token=q.get("token"),
            subprotocols=self.ws.scope.get("subprotocols", []),
            client_id=q.get("client_id"),
        )

    async def _accept(self) -> None:
        await self.ws.accept(
            subprotocol=select_subprotocol(self.ws.scope.get("subprotocols", [])),
            headers=[(b"x-stt-replica", self.replica.replica_id.encode())],
        )

    async def _bind_session(self, principal: Principal) -> None:
        sid = self.ws.query_params.get("session_id") or principal.session_id
        if sid is None:
            return
        self.session_id = check_session_id(sid)
        self.host = self.directory.host_for(sid)
        info = await self.host.info(sid)
        authorize_session(principal, sid, info.owner if info else None)
        if self.channel == "audio" and info is not None and not info.standalone:
            self.attached = True

    # ------------------------------------------------------------------ frames

    async def _read_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data: bytes | None = message.get("bytes")
            text: str | None = message.get("text")
            try:
                if data is not None:
                    await self._on_bytes(data)
                elif text is not None:
                    await self._on_text(text)
            except SttError as exc:
                if exc.fatal:
                    raise  # run() fails the socket and counts the error once
                self.metrics.count("errors", code=exc.code)
                await self._send_error(exc)

    async def _on_bytes(self, data: bytes) -> None:
        if self.channel == "control":
            raise WrongFrameType("binary frames go to /v1/stream/audio; the control socket takes JSON text")
        # frame limits depend on the session's encoding: its decoder checks them, so that
        # every binary frame counts toward stop_stream's audio_bytes
        if self.host is None or self.session_id is None or not (self.attached or self.started):
            raise AudioBeforeStart("audio before start_stream; start the stream first (or name a started session_id)")
        self.metrics.count("audio_bytes", float(len(data)))
        await self.host.feed(self.session_id, self.client_id, data)

    async def _on_text(self, text: str) -> None:
        if self.attached:
            assert self.host is not None and self.session_id is not None
            error = WrongFrameType("text frames go to /v1/stream/control; the audio socket takes binary audio")
            self.metrics.count("errors", code=error.code)
            await self.host.report(self.session_id, self.client_id, error)
            return
        if not self.started:
            await self._start(text)
            return
        assert self.host is not None and self.session_id is not None
        await self.host.command(self.session_id, self.client_id, text)

    async def _start(self, text: str) -> None:
        msg = p.parse_client_message(text)  # a bad first message gets its precise error
        if self.session_id is None:
            self.session_id = new_session_id()
            self.host = self.directory.host_for(self.session_id)
        assert self.host is not None
        resuming = await self.host.info(self.session_id) is not None
        limit = self.settings.limits.max_sessions_per_client
        if not resuming and await self.directory.count_client(self.client_id) >= limit:
            raise TooManySessions(f"client has {limit} sessions open, the most allowed")
        reply = await self.host.start(
            self.session_id, self.client_id, msg.model_dump_json(), standalone=self.channel == "audio"
        )
        self.started = True
        if not resuming:
            self.metrics.count("sessions_started")
        for raw in reply.replay:
            await self.ws.send_text(raw)
        self._pump = asyncio.create_task(self._pump_results(reply.cursor), name=f"pump-{self.session_id}")

    # ------------------------------------------------------------------ results

    async def _pump_results(self, cursor: int) -> None:
        assert self.host is not None and self.session_id is not None
        while True:
            reply = await self.host.poll(self.session_id, self.client_id, cursor, POLL_TIMEOUT_S)
            for index, raw in reply.messages:
                await self.ws.send_text(raw)
                cursor = index
            if reply.ended:
                await self._close(reply.close_code, "session ended")
                return

    # ------------------------------------------------------------------ errors

    async def _send_error(self, exc: SttError, *, fatal: bool = False) -> None:
        msg = p.Error(session_id=self.session_id or "", code=exc.code, message=exc.message, fatal=fatal)
        if self.ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.send_text(msg.model_dump_json())

    async def _fail(self, exc: SttError) -> None:
        self.metrics.count("errors", code=exc.code)
        await self._send_error(exc, fatal=True)
        await self._close(exc.close_code, exc.code)

    async def _close(self, code: int, reason: str) -> None:
        if self.ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, reason=reason)
