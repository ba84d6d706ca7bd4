"""The REST API over the transcript store: a client's sessions, their transcripts, deletion.

Same credentials as the WebSocket channels (``Authorization: Bearer``, or ``?token=``); a client
only ever sees its own sessions: another client's session answers 404, exactly as a session that
does not exist (its existence is not revealed). A JWT bound to one session (``sid``) reads only
that session and cannot list. Errors are JSON ``{"error": {"code", "message"}}``:

====  ==========================  =====================================================
400   ``invalid_request``         bad session id, format, limit, cursor, since/until
401   ``unauthenticated``         missing or bad credentials
403   ``forbidden``               a ``client_id`` that is not the caller's; a session-bound token
404   ``session_not_found``       no such session of this client
409   ``session_active``          DELETE of a session still streaming
503   ``storage_unavailable``     no store configured, or the database is unreachable
====  ==========================  =====================================================
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth import Principal
from app.errors import (
    Forbidden,
    InternalError,
    InvalidMessage,
    InvalidRequest,
    SessionActive,
    SessionNotFound,
    StorageUnavailable,
    SttError,
    quote,
)
from app.logsample import SampledLog
from app.service.gate import Gate
from app.session.ids import check_session_id
from app.store import SessionRecord, TranscriptStore
from app.store.audio import AudioArchive
from app.store.export import FORMATS, MEDIA_TYPES, Format, render
from app.store.store import MAX_PAGE

log = logging.getLogger(__name__)
_sampled = SampledLog(log)  # a server fault a client can repeat, request after request

DEFAULT_PAGE = 20
_NO_STORE = {"Cache-Control": "no-store"}

Handler = Callable[[Request], Awaitable[Response]]


def rest_routes(
    store: TranscriptStore | None,
    gate: Gate,
    *,
    archive: AudioArchive | None,
    on_error: Callable[[SttError], Response],
) -> list[Route]:
    def endpoint(handler: Callable[[Request, TranscriptStore, Principal], Awaitable[Response]]) -> Handler:
        async def run(request: Request) -> Response:
            try:
                principal = gate.admit(
                    address=gate.address(request.client.host if request.client else None, request.headers),
                    authorization=request.headers.get("authorization"),
                    query_token=request.query_params.get("token"),
                    client_id=request.query_params.get("client_id"),
                )
                if store is None:
                    raise StorageUnavailable("this server keeps no transcripts (store.enabled is false)")
                response = await handler(request, store, principal)
            except SttError as exc:
                response = on_error(exc)
            except Exception:
                _sampled.exception("rest", "REST request failed")
                response = on_error(InternalError())
            response.headers.update(_NO_STORE)
            return response

        return run

    async def list_sessions(request: Request, store: TranscriptStore, principal: Principal) -> Response:
        if principal.session_id is not None:
            raise Forbidden("this token is bound to one session; it cannot list sessions")
        q = request.query_params
        since, until = _time(q.get("since"), "since"), _time(q.get("until"), "until")
        if since is not None and until is not None and since >= until:
            raise InvalidRequest("since must be earlier than until")
        page = await store.list_sessions(
            principal.client_id, limit=_limit(q.get("limit")), cursor=q.get("cursor") or None, since=since, until=until
        )
        return JSONResponse({"sessions": [s.summary() for s in page.sessions], "next_cursor": page.next_cursor})

    async def get_session(request: Request, store: TranscriptStore, principal: Principal) -> Response:
        record = await _owned(request, store, principal)
        retained = archive is not None and bool(await asyncio.to_thread(archive.files, record.session_id))
        return JSONResponse({**record.summary(), "options": record.options, "audio_retained": retained})

    async def transcript(request: Request, store: TranscriptStore, principal: Principal) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise InvalidRequest(f"format {fmt[:20]!r} is not supported; use one of {', '.join(FORMATS)}")
        record = await _owned(request, store, principal)
        body = render(cast(Format, fmt), record, await store.finals(record.session_id))
        disposition = f'inline; filename="{record.session_id}.{fmt}"'
        return Response(body, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition})

    async def delete_session(request: Request, store: TranscriptStore, principal: Principal) -> Response:
        record = await _owned(request, store, principal)
        if record.status == "active":
            raise SessionActive("the session is still streaming; stop it (stop_stream) before deleting it")
        await store.delete_session(record.session_id)
        if archive is not None:
            await asyncio.to_thread(archive.delete, record.session_id)
        return Response(status_code=204)

    return [
        Route("/v1/sessions", endpoint(list_sessions), methods=["GET"]),
        Route("/v1/sessions/{session_id}", endpoint(get_session), methods=["GET"]),
        Route("/v1/sessions/{session_id}", endpoint(delete_session), methods=["DELETE"]),
        Route("/v1/sessions/{session_id}/transcript", endpoint(transcript), methods=["GET"]),
    ]


async def _owned(request: Request, store: TranscriptStore, principal: Principal) -> SessionRecord:
    """The caller's session named by the path; 404 for a missing one and another client's alike."""
    session_id: str = request.path_params["session_id"]
    try:
        check_session_id(session_id)
    except InvalidMessage as exc:
        raise InvalidRequest(exc.message) from None
    if principal.session_id is not None and principal.session_id != session_id:
        raise Forbidden("this token is bound to another session")
    record = await store.get_session(session_id)
    if record is None or record.client_id != principal.client_id:
        raise SessionNotFound(f"no session {quote(session_id)}")
    return record


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_PAGE} (got {raw[:20]!r})")
    return value


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z (got {raw[:40]!r})"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
