"""The service's Starlette app: WebSocket channels, token minting, health, the REST API over stored
transcripts (``app.service.rest``).

``build_app`` takes its collaborators (settings, a session directory, metrics),
so the same app runs behind Ray Serve's ingress and, in tests, in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from app.auth import mint_token
from app.batch.job import BatchTranscriber
from app.compat.context import Compat
from app.compat.routes import compat_routes
from app.config import ServerSettings
from app.errors import InvalidMessage, SttError
from app.metrics import Metrics, NullMetrics
from app.protocol import PROTOCOL_VERSION
from app.safejson import JsonRejected, parse_json
from app.service.connection import Connection, ReplicaState
from app.service.gate import Gate
from app.service.ports import Directory
from app.service.rest import rest_routes
from app.service.web import WEB_ROOT, web_routes
from app.session.ids import check_session_id
from app.store import TranscriptStore
from app.store.audio import AudioArchive


def error_response(exc: SttError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.http_status)


def build_app(
    settings: ServerSettings,
    directory: Directory,
    *,
    metrics: Metrics | None = None,
    replica_id: str = "local",
    web_root: Path | None = None,
    store: TranscriptStore | None = None,
    batch: BatchTranscriber | None = None,
) -> Starlette:
    """``store``: the transcripts the REST API reads (none: its routes answer 503); ``batch``: pre-recorded
    transcription for the compatible endpoints (none: they answer 503)."""
    gate = Gate(settings.auth)
    replica = ReplicaState(replica_id=replica_id)
    sink: Metrics = metrics or NullMetrics()

    async def control(ws: WebSocket) -> None:
        await Connection(
            ws, "control", settings=settings, gate=gate, directory=directory, replica=replica, metrics=sink
        ).run()

    async def audio(ws: WebSocket) -> None:
        await Connection(
            ws, "audio", settings=settings, gate=gate, directory=directory, replica=replica, metrics=sink
        ).run()

    async def healthz(request: Request) -> Response:
        ok = await directory.healthy()
        body: dict[str, object] = {"status": "ok" if ok else "degraded", "protocol_version": PROTOCOL_VERSION}
        body["replica"] = replica_id
        body["connections"] = replica.connections
        return JSONResponse(body, status_code=200 if ok else 503)

    async def token(request: Request) -> Response:
        try:
            principal = gate.admit(
                address=gate.address(request.client.host if request.client else None, request.headers),
                authorization=request.headers.get("authorization"),
                query_token=None,
                client_id=request.query_params.get("client_id"),
            )
            body = await _json_body(request)
            session_id = body.get("session_id")
            ttl = body.get("ttl_s")
            if session_id is not None:
                if not isinstance(session_id, str):
                    raise InvalidMessage("session_id must be a string")
                check_session_id(session_id)  # a token the sockets would refuse is not minted
            if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
                raise InvalidMessage("ttl_s must be an integer number of seconds")
            jwt, expires_in = mint_token(settings.auth, principal, session_id=session_id, ttl_s=ttl)
        except SttError as exc:
            return error_response(exc)
        return JSONResponse({"token": jwt, "token_type": "Bearer", "expires_in": expires_in})

    routes: list[Any] = [
        WebSocketRoute("/v1/stream/control", control),
        WebSocketRoute("/v1/stream/audio", audio),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/v1/auth/token", token, methods=["POST"]),
        *rest_routes(store, gate, archive=_archive(settings) if store else None, on_error=error_response),
        *compat_routes(Compat(settings, gate, directory, sink, batch, replica)),
        *web_routes(web_root or WEB_ROOT),
    ]
    return Starlette(routes=routes)


#: the largest JSON body the token endpoint reads
MAX_BODY_BYTES = 4096


def _archive(settings: ServerSettings) -> AudioArchive:
    # always, for DELETE: audio kept while retention was on is deleted with its session
    return AudioArchive(settings.store.audio_dir, settings.store.audio_retention.retention_days)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidMessage(f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = parse_json(raw)
    except JsonRejected as exc:
        raise InvalidMessage(f"request body: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidMessage("request body must be a JSON object")
    return body
