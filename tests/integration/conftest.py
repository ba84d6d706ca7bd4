"""The real Starlette app over ``TestClient``: real VAD, real clips, a scripted model, no Ray.

``serve(...)`` builds one app per call around one in-process :class:`SessionHost`. The
``TestClient`` is entered as a context manager, so every socket and request of a test runs
on its one portal event loop, the loop on which the host lazily creates its tasks and events
(it creates none in ``__init__``). Without the context manager each socket would run on a
loop of its own, and a task the host starts for one socket (a session's audio feeder, the
reaper) would die with that socket.

Tests wait by reading: :func:`read_until` reads messages until the wanted one, at most
:data:`MAX_MESSAGES` of them; each module's ``timeout`` mark bounds a read that never returns.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.audio.files import load_audio, to_pcm16
from app.auth import AuthSettings
from app.batch.job import BatchTranscriber
from app.config import Limits, ServerSettings, StoreSettings
from app.metrics import MemoryMetrics
from app.service.local import LocalDirectory
from app.service.routes import build_app
from app.session.host import SessionHost
from app.session.ports import Ports
from app.session.storage import HostStorage
from app.store import TranscriptStore
from app.transcript import SAMPLE_RATE
from tests.fakes.models import ScriptedTranscriber
from tests.integration.databases import database_url, postgres  # noqa: F401 (fixtures)

Message = dict[str, Any]

API_KEYS = {"key-a": "client-a", "key-b": "client-b"}
JWT_SECRET = "x" * 32
AUTH_A = {"Authorization": "Bearer key-a"}
CHUNK_BYTES = 3200  # 100 ms of 16 kHz PCM16
MAX_MESSAGES = 500
# audio is sent as fast as the socket takes it: no pace or queue limit may trip unless a test asks
UNPACED = {"max_realtime_factor": 1000.0, "realtime_burst_s": 600.0, "allowed_latency_limit": 10000}


@dataclass(frozen=True)
class Stack:
    """One app, its session host and the metrics it records; with ``store=``, the transcript store its
    REST API reads (the host has one of its own, as separate processes would)."""

    client: TestClient
    host: SessionHost
    metrics: MemoryMetrics
    settings: ServerSettings
    store: TranscriptStore | None = None
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` (sync or async) on the app's event loop, e.g. a store query."""
        assert self.client.portal is not None
        return self.client.portal.call(functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop this app now (sessions flushed, stores closed) instead of at the end of the test."""
        self.resources.close()

    def crash(self) -> None:
        """The app's process dies: sessions dropped unflushed, nothing more stored. Close the
        test's sockets first (the server side of an open socket would wait for it)."""
        self.call(self.host.shutdown, flush=False)
        self.close()

    def control(self, key: str | None = "key-a", **query: str) -> WebSocketTestSession:
        """A control socket sending ``Authorization: Bearer <key>`` (no header when ``key`` is None)."""
        return self._connect("/v1/stream/control", key, query)

    def audio(self, key: str | None = "key-a", **query: str) -> WebSocketTestSession:
        return self._connect("/v1/stream/audio", key, query)

    def errors(self, code: str) -> float:
        """How many ``errors`` the app counted with this code."""
        return self.metrics.counts.get(("errors", (("code", code),)), 0.0)

    def _connect(
        self, path: str, key: str | None, query: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> WebSocketTestSession:
        url = f"{path}?{urlencode(query)}" if query else path
        sent = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.websocket_connect(url, headers={**sent, **(headers or {})})

    def socket(
        self, path: str, key: str | None = "key-a", headers: Mapping[str, str] | None = None, **query: str
    ) -> WebSocketTestSession:
        """Either socket, with extra handshake headers (``Origin`` …)."""
        return self._connect(path, key, query, headers)


def make_settings(auth: Mapping[str, Any] | None = None, **limits: Any) -> ServerSettings:
    return ServerSettings(
        auth=AuthSettings(api_keys=API_KEYS, jwt_secret=JWT_SECRET, **(auth or {})),
        limits=Limits(**{"max_sessions_per_client": 2, **UNPACED, **limits}),
    )


@pytest.fixture
def serve() -> Iterator[Callable[..., Stack]]:
    """``serve(reap_interval_s=…, store=StoreSettings(…), auth={…}, **limits)``: a running app, closed after
    the test (or by ``Stack.close``); with ``store``, sessions and finals are stored and the REST API serves
    them; ``auth`` adds to the auth settings."""
    with contextlib.ExitStack() as stack:

        def make(
            *,
            reap_interval_s: float = 1.0,
            store: StoreSettings | None = None,
            auth: Mapping[str, Any] | None = None,
            **limits: Any,
        ) -> Stack:
            settings = make_settings(auth, **limits)
            if store is not None:
                settings.store = store
            fake = ScriptedTranscriber()
            metrics = MemoryMetrics()  # shared, as one process serving both the sockets and the sessions would
            storage = HostStorage.from_settings(store, metrics=metrics) if store else None
            rest_store = TranscriptStore(store) if store else None
            host = SessionHost(
                settings,
                Ports(realtime=fake, main=fake),
                metrics=metrics,
                reap_interval_s=reap_interval_s,
                storage=storage,
            )
            resources = stack.enter_context(contextlib.ExitStack())
            batch = BatchTranscriber(settings, fake, store=rest_store)
            app = build_app(settings, LocalDirectory([host]), metrics=metrics, store=rest_store, batch=batch)
            client = resources.enter_context(TestClient(app))
            assert client.portal is not None
            # on the app's loop, before it closes (in reverse order): end what the test left running
            # and stop the reaper, then close the stores
            for closing in (rest_store, storage.store if storage else None):
                if closing is not None:
                    resources.callback(client.portal.call, closing.close)
            resources.callback(client.portal.call, host.shutdown)
            return Stack(client, host, metrics, settings, rest_store, resources)

        yield make


@pytest.fixture
def stack(serve: Callable[..., Stack]) -> Stack:
    return serve()


# --------------------------------------------------------------------------- audio


@functools.cache
def _clip(path: Path) -> np.ndarray:
    return load_audio(path)


def silence(seconds: float) -> bytes:
    return to_pcm16(np.zeros(int(seconds * SAMPLE_RATE), np.float32))


@pytest.fixture(scope="session")
def speech(shared_data: Path) -> Callable[..., bytes]:
    """``speech(*clip_names, lead_s=0.5, gap_s=1.5)``: PCM16 of the clips, each followed by silence."""

    def build(*names: str, lead_s: float = 0.5, gap_s: float = 1.5) -> bytes:
        parts = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)]
        for name in names:
            parts += [_clip(shared_data / "clips" / name), np.zeros(int(gap_s * SAMPLE_RATE), np.float32)]
        return to_pcm16(np.concatenate(parts))

    return build


def send_audio(ws: WebSocketTestSession, pcm: bytes) -> None:
    """Binary frames of 100 ms, without pause."""
    for i in range(0, len(pcm), CHUNK_BYTES):
        ws.send_bytes(pcm[i : i + CHUNK_BYTES])


# --------------------------------------------------------------------------- messages


def start(ws: WebSocketTestSession, **fields: Any) -> Message:
    """Send ``start_stream``; return the ``session_started`` that must answer it."""
    ws.send_json({"type": "start_stream", **fields})
    msg: Message = ws.receive_json()
    assert msg["type"] == "session_started", msg
    return msg


def read_until(ws: WebSocketTestSession, kind: str, *, limit: int = MAX_MESSAGES) -> list[Message]:
    """Messages up to and including the first of type ``kind``."""
    seen: list[Message] = []
    for _ in range(limit):
        seen.append(ws.receive_json())
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} in {limit} messages: {[m['type'] for m in seen]}")


def read_until_closed(ws: WebSocketTestSession, *, limit: int = MAX_MESSAGES) -> tuple[list[Message], int]:
    """Messages until the server closes the socket, and its close code."""
    seen: list[Message] = []
    for _ in range(limit):
        try:
            seen.append(ws.receive_json())
        except WebSocketDisconnect as exc:
            return seen, exc.code
    raise AssertionError(f"socket still open after {limit} messages: {[m['type'] for m in seen]}")


def stop(ws: WebSocketTestSession) -> tuple[list[Message], int]:
    """Send ``stop_stream``; return what came until the close, and the close code."""
    ws.send_json({"type": "stop_stream"})
    return read_until_closed(ws)


def rejected(ws: WebSocketTestSession) -> tuple[Message, int]:
    """The fatal error a socket gets before its close, and the close code."""
    messages, code = read_until_closed(ws, limit=2)
    assert len(messages) == 1, messages
    (error,) = messages
    assert error["type"] == "error" and error["fatal"] is True, error
    return error, code


def of_type(messages: list[Message], kind: str) -> list[Message]:
    return [m for m in messages if m["type"] == kind]
