"""The one exception the client raises, and how wire failures become it.

:class:`SttClientError` carries:

* ``code``: the server's stable error code when the server gave one (``"unauthenticated"``,
  ``"session_not_found"``, ``"too_many_sessions"`` …, see :mod:`app.errors`), otherwise one of
  the client's own codes:

  - ``"connection_failed"``: no connection (refused, unknown host, TLS, handshake timeout)
  - ``"connection_lost"``: the socket dropped without a 4xxx close; :meth:`SttStream.reconnect` may resume
  - ``"invalid_state"``: the call is not allowed now (audio after ``stop()``, a command after the end …)
  - ``"timeout"``: the server did not answer ``start_stream`` in time
  - ``"invalid_options"``: the session options did not validate before sending
  - ``"invalid_response"``: the server answered something this client cannot read

* ``close_code``: the WebSocket close code (4401, 4404 …, or 1006 for a dropped socket), when a socket closed.
* ``http_status``: the HTTP status, when the server refused a request or a WebSocket upgrade.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.protocol import Error

_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")  # a stable error code, as opposed to a sentence

#: the server's close codes (app/errors.py) and the code each stands for when no ``error`` message names it
CLOSE_CODES: dict[int, str] = {
    4400: "invalid_message",
    4401: "unauthenticated",
    4403: "forbidden",
    4404: "session_not_found",
    4408: "idle_timeout",
    4409: "max_duration",
    4429: "too_many_sessions",
    4500: "internal_error",
}

HTTP_CODES: dict[int, str] = {
    400: "invalid_message",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    429: "too_many_sessions",
    500: "internal_error",
    503: "unavailable",
}


class SttClientError(Exception):
    """A failure of a call to the service; see the module docstring for ``code``."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        close_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.close_code = close_code
        self.http_status = http_status

    @property
    def fatal(self) -> bool:
        """The server ended the session (a 4xxx close); reconnecting will not resume it."""
        return self.close_code is not None and 4000 <= self.close_code < 5000

    def __repr__(self) -> str:
        return (
            f"SttClientError({self.message!r}, code={self.code!r}, close_code={self.close_code!r}, "
            f"http_status={self.http_status!r})"
        )


def invalid_state(message: str) -> SttClientError:
    return SttClientError(message, code="invalid_state")


def from_close(close_code: int | None, reason: str, last_error: Error | None = None) -> SttClientError:
    """The error for a socket the server closed; ``last_error`` is a fatal ``error`` message sent just before.

    The server's close reason is either its error code (``"unauthenticated"``) or a sentence.
    """
    code_num = 1006 if close_code is None else close_code
    if last_error is not None and last_error.fatal:
        return SttClientError(last_error.message, code=last_error.code, close_code=code_num)
    reason_is_code = bool(_CODE.fullmatch(reason))
    if 4000 <= code_num < 5000:
        code = reason if reason_is_code else CLOSE_CODES.get(code_num, "error")
        message = reason if reason and not reason_is_code else f"the server closed the session: {code}"
        return SttClientError(f"{message} (close {code_num})", code=code, close_code=code_num)
    if code_num == 1000:
        message = "the server closed the connection before session_ended"
    else:
        message = f"connection lost (close {code_num}{': ' + reason if reason else ''})"
    return SttClientError(message, code="connection_lost", close_code=code_num)


def from_message(msg: Error) -> SttClientError:
    return SttClientError(msg.message, code=msg.code)


def from_http(status: int, body: bytes, fallback: str) -> SttClientError:
    """The error for a refused HTTP request; the body's ``{"error": {"code", "message"}}`` wins when present."""
    code: str | None = None
    message = ""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        message = body.decode("utf-8", "replace").strip()[:200]
    else:
        if isinstance(data, dict):
            nested = data.get("error")
            detail: dict[str, Any] = nested if isinstance(nested, dict) else data  # {"error": {code, message}}
            code = detail["code"] if isinstance(detail.get("code"), str) else None
            message = str(detail.get("message") or detail.get("detail") or "")[:200]
    return SttClientError(message or fallback, code=code or HTTP_CODES.get(status, "error"), http_status=status)
