"""Deepgram's live API over this service: ``GET /v1/listen`` (WebSocket).

One socket carries binary audio and JSON text (``KeepAlive``, ``Finalize``, ``CloseStream``,
``Configure``). A credential comes as ``Authorization: Token <key>`` / ``Bearer <jwt>`` or as the
subprotocols ``token, <key>`` (browsers); a bad one or a bad parameter refuses the handshake with
HTTP 401 / 400, as Deepgram does. The session starts when the socket opens (with ``encoding``) or at
the first audio frame (a wav/ogg/mp3 stream, recognised by its first bytes). Each session message
becomes Deepgram's: partials are ``Results`` with ``is_final`` false, a final is ``Results`` with
``is_final`` true, ``speech_final`` when a pause ended it and ``from_finalize`` when ``Finalize`` did;
``speech_started`` is ``SpeechStarted`` (``vad_events``); a pause-ended final is followed by
``UtteranceEnd`` (``utterance_end_ms``); the end is ``Metadata`` and a close 1000. Audio that cannot
be decoded ends the stream (its finals first) with close 1008 ``DATA-0000``; an idle stream with
1011 ``NET-0001``.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket

from app import protocol as p
from app.compat import deepgram_wire as wire
from app.compat.common import authenticate, query_of, refuse_handshake, scheme_credential, sniff_container
from app.compat.context import Compat
from app.compat.live import LiveSession
from app.compat.options import PENDING, session_options
from app.compat.socket import VendorSocket
from app.errors import (
    AtCapacity,
    AudioError,
    AuthError,
    ConfigError,
    LimitError,
    SttError,
    TooManyRequests,
    TooManySessions,
    UndecodableAudio,
)
from app.session.ids import new_session_id

SCHEMES = ("token", "bearer")
#: the host's close codes (by end reason) as Deepgram's close code and reason
CLOSES = {1000: (1000, ""), 1001: (1001, "server shutting down"), 4408: (1011, "NET-0001")}
CLOSES |= {4409: (1008, "maximum session duration reached"), 1013: (1013, "at capacity; retry later")}
DATA_ERROR = (1008, "DATA-0000")


def credential(headers: Any, subprotocols: list[str]) -> tuple[str | None, str | None]:
    """The credential and the subprotocol to accept: ``Authorization: Token|Bearer``, or the
    subprotocol pair ``token``/``bearer`` + credential."""
    found = scheme_credential(headers.get("authorization"), SCHEMES)
    if found is not None:
        return found, None
    offered = [s.strip() for s in subprotocols]
    for i, entry in enumerate(offered[:-1]):
        if entry.lower() in SCHEMES and offered[i + 1]:
            return offered[i + 1], entry
    return None, None


class DeepgramLive(VendorSocket):
    name = "deepgram"

    def __init__(self, ws: WebSocket, compat: Compat) -> None:
        super().__init__(ws, compat)
        self.sha = hashlib.sha256()
        self.created_at = datetime.now(UTC)
        self.reasons: dict[int, str] = {}  # utterance id → why it ended
        self.fatal: tuple[int, str] | None = None

    async def handle(self) -> None:
        compat = self.compat
        found, subprotocol = credential(self.ws.headers, list(self.ws.scope.get("subprotocols", [])))
        request_id = new_session_id()
        try:
            principal = authenticate(compat.gate, self.ws, found)
        except (AuthError, TooManyRequests) as exc:
            await refuse_handshake(self.ws, exc.http_status, wire.http_error(exc.http_status, exc.message, request_id))
            return
        try:
            self.listen, wanted = wire.parse(query_of(self.ws.query_params), live=True)
            self.options = session_options(compat.settings.default_options, wanted)
            self.session = LiveSession(compat.directory, compat.settings, compat.metrics, principal.client_id)
            self.count_connection(principal.client_id)
            await self.session.check_capacity()
        except ConfigError as exc:
            await refuse_handshake(self.ws, 400, wire.http_error(400, exc.message, request_id))
            return
        except (LimitError, AtCapacity) as exc:
            await refuse_handshake(self.ws, exc.http_status, wire.http_error(exc.http_status, exc.message, request_id))
            return
        self.model = wire.Model(self.listen.model, compat.model)
        await self.ws.accept(subprotocol=subprotocol)
        if wanted.encoding is not None:
            try:
                await self.start(self.options)
            except SttError as exc:
                await self.fail(exc)
                return
        else:  # the session starts at the first audio: a socket that sends none is closed in time
            self.spawn(self._start_deadline())
        await self.serve()

    async def _start_deadline(self) -> None:
        await asyncio.sleep(self.compat.settings.limits.start_timeout_s)
        if self.session is not None and not self.session.started:
            await self.close(1011, "NET-0001")

    # ------------------------------------------------------------------ client frames

    async def on_audio(self, data: bytes) -> None:
        assert self.session is not None
        if not self.session.started:
            encoding = sniff_container(data)
            if encoding is None:
                await self.close(*DATA_ERROR)
                return
            await self.start(self.options.merged({"audio": {"encoding": encoding}}))
        self.sha.update(data)
        await self.session.feed(data)

    async def on_text(self, kind: str | None, body: dict[str, Any]) -> None:
        assert self.session is not None
        started = self.session.started
        if kind == "KeepAlive":
            if started:
                await self.session.command(p.KeepAlive())
        elif kind == "Finalize":
            if started:
                await self.session.command(p.Finalize())
        elif kind == "CloseStream":
            if started:
                await self.session.stop()  # the pump sends the finals, Metadata, and closes
            else:
                await self.send(self.metadata(0.0))
                await self.close(1000)
        elif kind == "Configure":
            await self.send(await self.configure(body))
        else:
            await self.send(
                wire.error(
                    "SchemaError", "expected audio, or JSON of type KeepAlive, Finalize, CloseStream or Configure"
                )
            )

    async def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """``Configure``: key terms and formatting features, mid-stream."""
        assert self.session is not None
        patch: dict[str, Any] = {}
        keyterms = body.get("keyterms")
        if keyterms is not None:
            if not PENDING["keyterms"]:
                return _configure_failure(self.session_id, "CONFIGURE_KEYTERMS_NOT_SUPPORTED", "no key terms here")
            patch["keyterms"] = keyterms
        features = body.get("features")
        if isinstance(features, dict) and "numerals" in features and PENDING["formatting.numerals"]:
            patch["formatting"] = {"numerals": bool(features["numerals"])}
        try:
            if patch and self.session.started:
                await self.session.command(p.Configure(options=patch))
        except SttError as exc:
            return _configure_failure(self.session_id, "CONFIGURE_INTERNAL_ERROR", exc.message)
        reply: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": self.session_id}
        if keyterms is not None:
            reply["keyterms"] = keyterms
        return reply

    # ------------------------------------------------------------------ results

    def translate(self, msg: p.ServerMessage) -> list[dict[str, Any]]:
        listen = self.listen
        match msg:
            case p.SpeechStarted():
                return [wire.speech_started(msg)] if listen.vad_events else []
            case p.PartialResult():
                return [wire.results(msg, listen, self.model)] if listen.interim_results else []
            case p.UtteranceEnd():
                self.reasons[msg.utterance_id] = msg.reason
                return []
            case p.FinalResult():
                reason = self.reasons.pop(msg.utterance_id, "silence")
                paused = reason == "silence"
                result = wire.results(
                    msg,
                    listen,
                    self.model,
                    speech_final=paused and listen.endpointing,
                    from_finalize=reason == "finalize",
                )
                return [result, wire.utterance_end(msg)] if paused and listen.utterance_end else [result]
            case p.Error():
                if msg.code == UndecodableAudio.code:  # Deepgram ends such a stream: flush, then close DATA-0000
                    if self.fatal is None:
                        self.fatal = DATA_ERROR
                        self.spawn(self.stop())
                    return []
                return [wire.error(msg.code, msg.message)]
        return []

    async def ended(self, msg: p.SessionEnded | None, close_code: int) -> None:
        if self.fatal is not None:
            await self.close(*self.fatal)
            return
        if msg is not None and msg.reason == "stopped":
            await self.send(self.metadata(msg.audio_duration))
        await self.close(*CLOSES.get(close_code, (1011, "internal server error")))

    def close_for(self, exc: SttError) -> tuple[int, str]:
        if isinstance(exc, AudioError):
            return DATA_ERROR
        if isinstance(exc, AuthError | TooManySessions):
            return 1008, exc.code
        return CLOSES.get(exc.close_code, (1011, "internal server error"))

    def metadata(self, duration: float) -> dict[str, Any]:
        return wire.metadata(self.session_id or "", self.sha.hexdigest(), self.created_at, duration, self.model)


def _configure_failure(request_id: str | None, code: str, description: str) -> dict[str, Any]:
    return {"type": "ConfigureFailure", "request_id": request_id or "", "code": code, "description": description}
