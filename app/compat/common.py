"""What the compatible endpoints share: query parsing, credentials in the vendors' forms, bounded
request bodies, refusing a WebSocket handshake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from app.auth import Principal
from app.errors import ConfigError, InvalidRequest, PayloadTooLarge
from app.safejson import JsonRejected, parse_json
from app.service.gate import Gate

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
MAX_LIST = 100  # key terms and such: more are refused


class Query:
    """Typed reads of one request's query parameters; a bad value raises :class:`ConfigError`
    naming the parameter (never echoing more than a few characters of it)."""

    def __init__(self, params: Mapping[str, str], lists: Mapping[str, list[str]] | None = None) -> None:
        self._params = params
        self._lists = lists or {}

    def text(self, name: str, max_len: int = 200) -> str | None:
        value = self._params.get(name)
        if value is None:
            return None
        if len(value) > max_len:
            raise ConfigError(f"{name} is longer than {max_len} characters")
        return value

    def flag(self, name: str) -> bool | None:
        value = self._params.get(name)
        if value is None:
            return None
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false (got {value[:20]!r})")

    def number(self, name: str, lo: float, hi: float) -> float | None:
        value = self._params.get(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number (got {value[:20]!r})") from None
        if not lo <= number <= hi:
            raise ConfigError(f"{name} {number:g} is out of range; use {lo:g} to {hi:g}")
        return number

    def integer(self, name: str, lo: int, hi: int) -> int | None:
        number = self.number(name, lo, hi)
        if number is None:
            return None
        if not number.is_integer():
            raise ConfigError(f"{name} must be a whole number (got {number:g})")
        return int(number)

    def many(self, name: str, max_len: int = 200) -> list[str]:
        """Every value of a repeated parameter (``keyterm=a&keyterm=b``)."""
        values = [v for v in self._lists.get(name, []) if v.strip()]
        if len(values) > MAX_LIST or any(len(v) > max_len for v in values):
            raise ConfigError(f"{name}: at most {MAX_LIST} values of up to {max_len} characters each")
        return values


def query_of(params: Any) -> Query:
    """A :class:`Query` over Starlette's ``QueryParams`` (a multi-dict)."""
    return Query(dict(params), {key: params.getlist(key) for key in params})


def json_list(name: str, raw: str | None) -> list[str]:
    """A parameter that carries a JSON list of strings (AssemblyAI's ``keyterms_prompt``)."""
    if raw is None:
        return []
    try:
        value = parse_json(raw)
    except JsonRejected:
        raise ConfigError(f"{name} must be a JSON list of strings") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > MAX_LIST:
        raise ConfigError(f"{name} must be a JSON list of at most {MAX_LIST} strings")
    return [v for v in value if v.strip()]


def authenticate(gate: Gate, conn: HTTPConnection, credential: str | None) -> Principal:
    """A credential the vendor form carried (an API key or a JWT), checked as ``Bearer`` would be, through
    the app's gate (failed-authentication throttling, the Origin allow-list for sockets)."""
    return gate.admit(
        address=gate.address(conn.client.host if conn.client else None, conn.headers),
        authorization=f"Bearer {credential}" if credential and credential.strip() else None,
        query_token=None,
        origin=conn.headers.get("origin") if conn.scope["type"] == "websocket" else None,
    )


def scheme_credential(header: str | None, schemes: tuple[str, ...]) -> str | None:
    """The credential of ``Authorization: <scheme> <credential>`` for one of ``schemes`` (any case)."""
    if not header or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in schemes and value.strip():
        return value.strip()
    return None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with :class:`PayloadTooLarge` past ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def refuse_handshake(ws: WebSocket, status: int, body: Mapping[str, Any]) -> None:
    """Refuse a WebSocket before it opens: an HTTP ``status`` with a JSON ``body`` where the server
    supports denial responses, else a plain refusal (HTTP 403 from the server)."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse(dict(body), status_code=status))
    else:
        await ws.close(code=1008)


def sniff_container(head: bytes) -> str | None:
    """The encoding of a container stream from its first bytes (``wav``, ``ogg``, ``mp3``), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None
