"""Deepgram's REST endpoints: pre-recorded ``POST /v1/listen`` and ``POST /v1/auth/grant``.

Pre-recorded: the body is the audio file (any container FFmpeg reads, or headerless ``encoding`` +
``sample_rate``), transcribed through the main model in batches (:mod:`app.batch`) and stored as a
session, whose id is the response's ``request_id``. A JSON body naming a ``url`` is refused: this
server has no network egress. Errors are Deepgram's ``{"err_code", "err_msg", "request_id"}``.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth import mint_token
from app.batch.job import BatchRequest, RawFormat
from app.compat import deepgram_wire as wire
from app.compat.common import authenticate, query_of, read_body, scheme_credential
from app.compat.context import Compat
from app.compat.deepgram import SCHEMES
from app.compat.options import session_options
from app.errors import InvalidRequest, SttError
from app.safejson import JsonRejected, parse_json
from app.session.ids import new_session_id

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024


def _error(exc: SttError, request_id: str) -> JSONResponse:
    status = exc.http_status  # bad audio is a 400, as Deepgram answers it
    message = exc.message if status != 500 else "internal server error"
    return JSONResponse(wire.http_error(status, message, request_id), status_code=status)


async def listen(request: Request, compat: Compat) -> Response:
    request_id = new_session_id()
    try:
        principal = authenticate(compat.gate, request, scheme_credential(request.headers.get("authorization"), SCHEMES))
        batch = compat.prerecorded()
        listen_params, wanted = wire.parse(query_of(request.query_params), live=False)
        options = session_options(compat.settings.default_options, wanted)
        raw = None
        if wanted.encoding in wire.RAW:
            assert wanted.encoding is not None
            raw = RawFormat(wanted.encoding, wanted.sample_rate or 16000, wanted.channels or 1)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
            await _refuse_url(request)
        data = await read_body(request, compat.settings.prerecorded.max_upload_bytes)
        if not data:
            raise InvalidRequest("the request body is empty; send the audio file as the body")
        result = await batch.transcribe(BatchRequest(principal.client_id, data, options, raw))
    except SttError as exc:
        if exc.http_status >= 500:
            log.warning("deepgram pre-recorded request failed: %s", exc.code)
        return _error(exc, request_id)
    model = wire.Model(listen_params.model, compat.model)
    body = wire.prerecorded(
        result.session_id,
        result.finals,
        sha256=result.sha256,
        created=result.created,
        duration=result.duration_s,
        listen=listen_params,
        model=model,
    )
    return JSONResponse(body)


async def _refuse_url(request: Request) -> None:
    raw = await read_body(request, MAX_JSON_BYTES)
    try:
        body = parse_json(raw or b"{}")
    except JsonRejected:
        raise InvalidRequest("Content-type was application/json, but the JSON payload could not be read") from None
    if isinstance(body, dict) and "url" in body:
        raise InvalidRequest(
            "transcribing a URL is not supported: this server does not fetch from the network; "
            "send the audio file itself as the request body"
        )
    raise InvalidRequest("send the audio file as the request body (any Content-Type but application/json)")


async def grant(request: Request, compat: Compat) -> Response:
    """``{"ttl_seconds"?}`` → ``{"access_token", "expires_in"}``: a JWT the live socket takes as ``Bearer``."""
    request_id = new_session_id()
    try:
        principal = authenticate(compat.gate, request, scheme_credential(request.headers.get("authorization"), SCHEMES))
        raw = await read_body(request, MAX_JSON_BYTES)
        try:
            body = parse_json(raw) if raw.strip() else {}
        except JsonRejected:
            raise InvalidRequest("the request body is not valid JSON") from None
        ttl = body.get("ttl_seconds", 30) if isinstance(body, dict) else None
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 1 <= ttl <= 3600:
            raise InvalidRequest("ttl_seconds must be a number from 1 to 3600")
        token, expires_in = mint_token(compat.settings.auth, principal, ttl_s=int(ttl))
    except SttError as exc:
        return _error(exc, request_id)
    return JSONResponse({"access_token": token, "expires_in": expires_in})
