"""How ``stt`` ends: its exit codes, and the one line it prints for a failure.

Exit codes: 0 done; 2 usage (bad arguments or options, no microphone); 3 no connection (refused,
timed out, dropped); 4 authentication refused; 5 any other server error, including a stream that
ended normally but reported errors on the way; 130 Ctrl-C twice.
"""

from __future__ import annotations

from app.client.errors import SttClientError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_AUTH = 4
EXIT_SERVER = 5
EXIT_INTERRUPTED = 130

_CONNECTION_CODES = frozenset({"connection_failed", "connection_lost", "timeout", "session_interrupted"})
_AUTH_CODES = frozenset({"unauthenticated", "forbidden"})
_USAGE_CODES = frozenset({"invalid_options", "mic_unavailable"})


class UsageError(Exception):
    """Arguments that cannot work; exit code 2."""


def exit_code(error: SttClientError) -> int:
    if error.code in _CONNECTION_CODES:
        return EXIT_CONNECTION
    if error.code in _AUTH_CODES:
        return EXIT_AUTH
    if error.code in _USAGE_CODES:
        return EXIT_USAGE
    return EXIT_SERVER


def describe(error: SttClientError) -> str:
    """The one line ``stt`` prints for a failure, with what to do about it when that is known."""
    if error.code in _AUTH_CODES:
        what = "authentication failed" if error.code == "unauthenticated" else "not allowed"
        hint = "give an API key with --api-key or STT_API_KEY, or a token with --token or STT_TOKEN"
        return f"{what}: {error.message.rstrip('.')}. {hint[0].upper()}{hint[1:]}."
    if error.code in _CONNECTION_CODES:
        return f"connection failed: {error.message}"
    if error.code in _USAGE_CODES:
        return error.message
    code = f" [{error.code}]" if error.code else ""
    return f"server error{code}: {error.message}"
