"""AssemblyAI's Universal-Streaming v3 over this service: ``GET /v3/ws`` (WebSocket), ``GET /v3/token``.

The API key comes in ``Authorization`` with no scheme (as the SDK sends it; ``Bearer`` works too), or
a temporary token from ``/v3/token`` as ``?token=`` (browsers). Errors follow AssemblyAI: an ``Error``
frame, then a close with the same code (1008 unauthorized, 3006 invalid input, 3008 session expired,
3009 too many sessions, 3005 server error); problems the session survives (audio sent too fast, a
frame that cannot be decoded) come as ``Warning`` frames. Each utterance is a turn: its partials
are ``Turn`` messages with ``end_of_turn`` false whose ``transcript`` holds the words confirmed so
far; its final is a ``Turn`` with ``end_of_turn`` true, unformatted, and then formatted when
``format_turns`` is on. ``Terminate`` flushes and answers ``Termination``; ``ForceEndpoint`` ends the
turn now; ``inactivity_timeout`` ends a session that receives nothing for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from app import protocol as p
from app.auth import mint_token
from app.compat import assemblyai_wire as wire
from app.compat.common import authenticate, query_of, scheme_credential
from app.compat.context import Compat
from app.compat.live import LiveSession
from app.compat.options import session_options
from app.compat.socket import VendorSocket
from app.errors import AtCapacity, AuthError, ConfigError, LimitError, SttError, TooManyRequests, TooManySessions

#: the host's close codes (by end reason) as AssemblyAI's; None: a normal Termination
ENDS: dict[int, tuple[int, str] | None] = {
    1000: None,
    4408: None,  # idle: ended as AssemblyAI ends an inactive session
    4409: (wire.EXPIRED, "Session Expired: Maximum session duration exceeded"),
    1001: (wire.SERVER_ERROR, "Session Cancelled: the server is shutting down"),
}


def credential(request_headers: Any, query_token: str | None) -> str | None:
    header = request_headers.get("authorization")
    if header and header.strip():
        return scheme_credential(header, ("bearer",)) or header.strip()
    return query_token.strip() if query_token and query_token.strip() else None


class AssemblyAIStream(VendorSocket):
    name = "assemblyai"

    def __init__(self, ws: WebSocket, compat: Compat) -> None:
        super().__init__(ws, compat)
        self.turns: dict[int, int] = {}  # utterance id → turn_order
        self.opened_at = time.monotonic()
        self.last_frame = self.opened_at
        self.fatal: tuple[int, str] | None = None

    async def handle(self) -> None:
        compat = self.compat
        await self.ws.accept()
        try:
            principal = authenticate(
                compat.gate, self.ws, credential(self.ws.headers, self.ws.query_params.get("token"))
            )
        except (AuthError, TooManyRequests) as exc:
            await self.refuse(wire.UNAUTHORIZED, f"Unauthorized Connection: {exc.message}")
            return
        try:
            self.streaming, wanted = wire.parse(query_of(self.ws.query_params))
            options = session_options(compat.settings.default_options, wanted)
            self.session = LiveSession(compat.directory, compat.settings, compat.metrics, principal.client_id)
            self.count_connection(principal.client_id)
            await self.start(options)
        except ConfigError as exc:
            await self.refuse(wire.INVALID_INPUT, f"Invalid Configuration: {exc.message}")
            return
        except LimitError as exc:
            await self.refuse(wire.TOO_MANY, f"Unauthorized Connection: {exc.message}")
            return
        except AtCapacity as exc:
            await self.refuse(wire.TRY_LATER, exc.message)
            return
        except SttError as exc:
            await self.fail(exc)
            return
        if self.streaming.inactivity_timeout_s is not None:
            self.spawn(self.watch_inactivity(self.streaming.inactivity_timeout_s))
        await self.serve()

    async def refuse(self, code: int, text: str) -> None:
        await self.send(wire.error(code, text))
        await self.close(code, text)

    async def on_opened(self) -> None:
        assert self.session is not None
        expires = int(time.time() + self.compat.settings.limits.max_session_duration_s)
        await self.send(wire.begin(self.session.session_id, expires))

    # ------------------------------------------------------------------ client frames

    async def on_audio(self, data: bytes) -> None:
        assert self.session is not None
        self.last_frame = time.monotonic()
        await self.session.feed(data)

    async def on_text(self, kind: str | None, body: dict[str, Any]) -> None:
        assert self.session is not None
        self.last_frame = time.monotonic()
        if kind == "Terminate":
            await self.session.stop()
        elif kind == "ForceEndpoint":
            await self.session.command(p.Finalize())
        elif kind == "KeepAlive":
            await self.session.command(p.KeepAlive())
        elif kind == "UpdateConfiguration":
            patch = wire.update(body)
            if patch:
                await self.session.command(p.Configure(options=patch))
        else:  # AssemblyAI ends the session on a message it cannot read: flush first, then say why
            self.fatal = (
                wire.INVALID_INPUT,
                "Invalid Message Type: expected Terminate, ForceEndpoint, KeepAlive or UpdateConfiguration",
            )
            await self.session.stop()

    async def watch_inactivity(self, timeout_s: float) -> None:
        while self.session is not None and not self.session.stopping and not self.closing:
            left = self.last_frame + timeout_s - time.monotonic()
            if left <= 0:
                await self.stop()
                return
            await asyncio.sleep(min(left, 1.0))

    # ------------------------------------------------------------------ results

    def translate(self, msg: p.ServerMessage) -> list[dict[str, Any]]:
        match msg:
            case p.PartialResult():
                return [wire.turn(msg, self.order(msg.utterance_id), self.streaming)]
            case p.FinalResult():
                order = self.order(msg.utterance_id)
                out = [wire.turn(msg, order, self.streaming)]
                if self.streaming.format_turns:
                    out.append(wire.turn(msg, order, self.streaming, formatted=True))
                return out
            case p.Error():
                code = wire.WARNING_CODES.get(msg.code, wire.SERVER_ERROR)
                return [wire.warning(code, msg.message)]
        return []

    def order(self, utterance_id: int) -> int:
        return self.turns.setdefault(utterance_id, len(self.turns))

    async def ended(self, msg: p.SessionEnded | None, close_code: int) -> None:
        end = self.fatal or ENDS.get(close_code, (wire.SERVER_ERROR, "Session Cancelled: An error occurred"))
        if end is None:
            audio = msg.audio_duration if msg is not None else 0.0
            await self.send(wire.termination(audio, time.monotonic() - self.opened_at))
            await self.close(1000)
            return
        await self.refuse(*end)

    def close_for(self, exc: SttError) -> tuple[int, str]:
        if isinstance(exc, AuthError):
            return wire.UNAUTHORIZED, f"Unauthorized Connection: {exc.message}"
        if isinstance(exc, TooManySessions):
            return wire.TOO_MANY, f"Unauthorized Connection: {exc.message}"
        if isinstance(exc, AtCapacity):
            return wire.TRY_LATER, exc.message
        return wire.SERVER_ERROR, "Session Cancelled: An error occurred"

    async def fail(self, exc: SttError | None) -> None:
        code, text = self.close_for(exc) if exc is not None else (wire.SERVER_ERROR, "Session Cancelled")
        with contextlib.suppress(Exception):
            await self.send(wire.error(code, text))
        await super().fail(exc)


async def token(request: Request, compat: Compat) -> Response:
    """``GET /v3/token?expires_in_seconds=N``: ``{"token", "expires_in_seconds"}`` for ``?token=``."""
    try:
        principal = authenticate(compat.gate, request, credential(request.headers, None))
        query = query_of(request.query_params)
        expires = query.integer("expires_in_seconds", 1, 600)
        if expires is None:
            raise ConfigError("expires_in_seconds is required (1 to 600)")
        query.integer("max_session_duration_seconds", 60, 10800)  # sessions end at the server's limit
        jwt, ttl = mint_token(compat.settings.auth, principal, ttl_s=expires)
    except (AuthError, TooManyRequests) as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.http_status)
    except ConfigError as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    return JSONResponse({"token": jwt, "expires_in_seconds": ttl})
