"""The service's endpoints, from one base URL.

The base may carry a path prefix (``https://host/stt`` → ``wss://host/stt/v1/stream/control``)
and be given as http(s) or ws(s); sockets get ws/wss, HTTP calls get http/https.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

CONTROL_PATH = "/v1/stream/control"
AUDIO_PATH = "/v1/stream/audio"
TOKEN_PATH = "/v1/auth/token"
SESSIONS_PATH = "/v1/sessions"

_TO_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_TO_HTTP = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def _build(base: str, path: str, schemes: dict[str, str], params: dict[str, str | None]) -> str:
    parts = urlsplit(base)
    scheme = schemes.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"base URL {base!r} must look like http://host:port or https://host/prefix")
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, urlencode(query), ""))


def ws_url(base: str, path: str, **params: str | None) -> str:
    """A socket URL; ``None`` parameters are left out."""
    return _build(base, path, _TO_WS, params)


def http_url(base: str, path: str, **params: str | None) -> str:
    return _build(base, path, _TO_HTTP, params)
