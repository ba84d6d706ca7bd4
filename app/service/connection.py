"""One WebSocket's life: admit, accept, read frames, pump results.

Both channels share this code. The control socket carries JSON commands and receives results.
The audio socket carries binary audio; when its session was started on a control socket it is
*attached* (text frames are refused with ``wrong_frame_type``), otherwise it is *standalone*: it
takes the JSON commands too and receives the results itself.

A socket moves through :class:`SocketState` (``NEXT`` lists the moves; any other raises)::

    CONNECTING ──admitted──▶ OPEN ──start_stream──▶ STARTED ──▶ CLOSED
                               └──joins a session (audio)──▶ ATTACHED ──▶ CLOSED

A socket still ``OPEN`` after ``limits.start_timeout_s`` is closed (``idle_timeout``); an attached
audio socket is closed (1000) once its session has ended, whether or not frames still come.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass, field
from typing import Literal

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app import protocol as p
from app.auth import Principal, authorize_session, select_subprotocol
from app.config import ServerSettings
from app.errors import (
    AudioBeforeStart,
    IdleTimeout,
    InternalError,
    SessionInterrupted,
    SttError,
    TooManyConnections,
    WrongFrameType,
)
from app.logsample import SampledLog
from app.metrics import Metrics
from app.service import admission
from app.service.gate import Gate
from app.service.ports import Directory, HostPort
from app.session.ids import check_session_id, new_session_id

log = logging.getLogger(__name__)
_sampled = SampledLog(log)

Channel = Literal["control", "audio"]
POLL_TIMEOUT_S = 20.0
#: how often a quiet attached audio socket asks whether its session still runs
SESSION_CHECK_S = 10.0
#: a new session's start meets a host that went away: the pauses before it asks the hosts again
#: (~5 s in all, within a client's 10 s wait for session_started; a restarted host answers in ~4 s)
FRESH_START_RETRY_S = (0.25, 0.5, 1.0, 1.5, 2.0)


class SocketState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"  # admitted, no session yet
    STARTED = "started"  # this socket started (or resumed) its session
    ATTACHED = "attached"  # an audio socket joined a control socket's session
    CLOSED = "closed"


NEXT: dict[SocketState, frozenset[SocketState]] = {
    SocketState.CONNECTING: frozenset({SocketState.OPEN, SocketState.CLOSED}),
    SocketState.OPEN: frozenset({SocketState.STARTED, SocketState.ATTACHED, SocketState.CLOSED}),
    SocketState.STARTED: frozenset({SocketState.CLOSED}),
    SocketState.ATTACHED: frozenset({SocketState.CLOSED}),
    SocketState.CLOSED: frozenset(),
}


@dataclass(slots=True)
class ReplicaState:
    """What one ingress replica counts across its sockets."""

    replica_id: str = "local"
    connections: int = 0  # open WebSockets
    by_client: dict[str, int] = field(default_factory=dict)

    def opened(self, client_id: str, limit: int) -> None:
        held = self.by_client.get(client_id, 0)
        if held >= limit:
            raise TooManyConnections(f"this client has {limit} sockets open here, the most allowed; close some")
        self.by_client[client_id] = held + 1
        self.connections += 1

    def closed(self, client_id: str) -> None:
        self.connections -= 1
        left = self.by_client.get(client_id, 1) - 1
        if left > 0:
            self.by_client[client_id] = left
        else:
            self.by_client.pop(client_id, None)


class Connection:
    def __init__(
        self,
        ws: WebSocket,
        channel: Channel,
        *,
        settings: ServerSettings,
        gate: Gate,
        directory: Directory,
        replica: ReplicaState,
        metrics: Metrics,
    ) -> None:
        self.ws = ws
        self.channel = channel
        self.settings = settings
        self.gate = gate
        self.directory = directory
        self.replica = replica
        self.metrics = metrics
        self.state = SocketState.CONNECTING
        self.session_id: str | None = None
        self.client_id = ""
        self.host: HostPort | None = None
        self._pump: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    def _move(self, new: SocketState) -> None:
        if new not in NEXT[self.state]:
            raise RuntimeError(f"socket state {self.state.value} → {new.value} is not allowed")
        self.state = new

    @property
    def _bound(self) -> tuple[HostPort, str]:
        """The host and id of this socket's session (STARTED or ATTACHED)."""
        if self.host is None or self.session_id is None:
            raise RuntimeError(f"socket has no session in state {self.state.value}")
        return self.host, self.session_id

    async def run(self) -> None:
        try:
            principal = self._admit()
            self.replica.opened(principal.client_id, self.settings.limits.max_connections_per_client)
        except SttError as exc:
            await self._accept()
            await self._fail(exc)
            self.state = SocketState.CLOSED
            return
        await self._accept()
        self.client_id = principal.client_id
        self._move(SocketState.OPEN)
        self._watcher = asyncio.create_task(self._watch(), name="socket-watch")
        try:
            await self._bind_session(principal)
            await self._read_loop()
        except SttError as exc:
            await self._fail(exc)
        except WebSocketDisconnect:
            pass
        except Exception:
            _sampled.exception("connection", "connection failed", extra={"session_id": self.session_id})
            await self._fail(InternalError())
        finally:
            for task in (self._pump, self._watcher):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self.replica.closed(self.client_id)
            self.state = SocketState.CLOSED

    # ------------------------------------------------------------------ set-up

    def _admit(self) -> Principal:
        q, headers = self.ws.query_params, self.ws.headers
        return self.gate.admit(
            address=self.gate.address(self.ws.client.host if self.ws.client else None, headers),
            authorization=headers.get("authorization"),
            query_token=q.get("token"),
            subprotocols=self.ws.scope.get("subprotocols", []),
            client_id=q.get("client_id"),
            origin=headers.get("origin"),
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
        authorize_session(principal, sid, None)  # a token bound to another session: refused
        self.host = self.directory.host_for(sid)
        if self.channel != "audio":
            return
        # another client's session is treated as an unknown one: the handshake reveals nothing
        info = await self.host.info(sid)
        if info is not None and info.owner == self.client_id and not info.standalone:
            self._move(SocketState.ATTACHED)

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

    async def _watch(self) -> None:
        """Closes a socket that never starts or joins a session, and an attached audio socket whose
        session has ended (a timer beside the read loop: nothing is added per frame)."""
        await asyncio.sleep(self.settings.limits.start_timeout_s)
        if self.state is SocketState.OPEN:
            limit = self.settings.limits.start_timeout_s
            await self._fail(IdleTimeout(f"no start_stream within {limit:g} s of connecting"))
            return
        while self.state is SocketState.ATTACHED:
            try:
                over = await self._session_over()
            except SttError as exc:  # the host went away: session_interrupted
                await self._fail(exc)
                return
            if over:
                await self._close(1000, "session ended")
                return
            await asyncio.sleep(SESSION_CHECK_S)

    async def _session_over(self) -> bool:
        host, sid = self._bound
        info = await host.info(sid)
        return info is None or info.ended

    async def _on_bytes(self, data: bytes) -> None:
        if self.channel == "control":
            raise WrongFrameType("binary frames go to /v1/stream/audio; the control socket takes JSON text")
        if self.state not in (SocketState.STARTED, SocketState.ATTACHED):
            raise AudioBeforeStart("audio before start_stream; start the stream first (or name a started session_id)")
        if not data:
            return  # an empty frame carries nothing (some clients send one as a keep-alive)
        # frame limits depend on the session's encoding: its decoder checks them, so that
        # every binary frame counts toward stop_stream's audio_bytes
        self.metrics.count("audio_bytes", float(len(data)))
        host, sid = self._bound
        await host.feed(sid, self.client_id, data)

    async def _on_text(self, text: str) -> None:
        if self.state is SocketState.ATTACHED:
            host, sid = self._bound
            error = WrongFrameType("text frames go to /v1/stream/control; the audio socket takes binary audio")
            self.metrics.count("errors", code=error.code)
            await host.report(sid, self.client_id, error)
            return
        if self.state is SocketState.OPEN:
            await self._start(text)
            return
        host, sid = self._bound
        await host.command(sid, self.client_id, text)

    async def _start(self, text: str) -> None:
        msg = p.parse_client_message(text)  # a bad first message gets its precise error
        if self.session_id is not None:
            await self._start_on_host(msg)
            return
        # a new session: a host that went away (crashed, restarting) is not the client's business
        # while others answer, so the hosts are asked again before the start fails with 1012
        self.session_id = new_session_id()
        for pause in (*FRESH_START_RETRY_S, None):
            self.host = self.directory.host_for(self.session_id)
            try:
                await self._start_on_host(msg)
                return
            except SessionInterrupted:
                if pause is None:
                    raise
            await asyncio.sleep(pause)
            with contextlib.suppress(Exception):  # the pool restarting too: the next pause, or 1012
                await asyncio.wait_for(self.directory.refresh(), pause + 1.0)

    async def _start_on_host(self, msg: p.ClientMessage) -> None:
        host, sid = self._bound
        info = await host.info(sid)
        resuming = info is not None and info.owner == self.client_id
        limits = self.settings.limits
        if not resuming:
            await admission.before_start(self.directory, self.client_id, limits)
        reply = await host.start(sid, self.client_id, msg.model_dump_json(), standalone=self.channel == "audio")
        if not resuming and reply.new:
            await admission.after_start(self.directory, host, sid, self.client_id, limits)
            self.metrics.count("sessions_started")
        self._move(SocketState.STARTED)
        for raw in reply.replay:
            await self.ws.send_text(raw)
        self._pump = asyncio.create_task(self._pump_results(reply.cursor), name=f"pump-{sid}")

    # ------------------------------------------------------------------ results

    async def _pump_results(self, cursor: int) -> None:
        host, sid = self._bound
        try:
            while True:
                reply = await host.poll(sid, self.client_id, cursor, POLL_TIMEOUT_S)
                for index, raw in reply.messages:
                    await self.ws.send_text(raw)
                    cursor = index
                if reply.ended:
                    await self._close(reply.close_code, "session ended")
                    return
        except SttError as exc:  # the host went away (session_interrupted), or refused the poll
            await self._fail(exc)
        except Exception:
            _sampled.exception("pump", "result pump failed", extra={"session_id": sid})
            await self._fail(InternalError())

    # ------------------------------------------------------------------ errors

    async def _send_error(self, exc: SttError, *, fatal: bool = False) -> None:
        msg = p.Error.of(self.session_id or "", exc, fatal=fatal)
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
