"""The error tree of the service: every code a client can see on the wire.

Every error a client can see is an :class:`SttError` subclass with a stable wire ``code`` (a
snake_case string that never changes once released), the WebSocket ``close_code`` that follows it
when it is ``fatal`` (ends the connection), and the ``http_status`` a REST answer carries. Every
warning is a :class:`SttWarning` subclass. Handlers raise or send these classes; no handler writes a
code as a string literal, so this module and the README's error table list the same codes.

::

    SttError                       base; never sent as is
    ├── ProtocolError              close 4400, HTTP 400
    │   ├── InvalidMessage         "invalid_message"   malformed JSON, bad fields, bad options
    │   │   └── ConfigError        "invalid_message"   a bad session option or setting value
    │   ├── UnknownCommand         "unknown_command"
    │   ├── WrongFrameType         "wrong_frame_type"
    │   ├── InvalidState           "invalid_state"     command not allowed now
    │   ├── InvalidRequest         "invalid_request"   a bad REST path or query parameter
    │   └── PayloadTooLarge        "payload_too_large" HTTP 413: an upload over prerecorded.max_upload_bytes
    ├── AudioError                 bad audio; the frame is dropped, the session lives (close 4400)
    │   ├── FrameTooLarge          "frame_too_large"
    │   ├── MisalignedAudio        "misaligned_audio"  a byte count that is not whole samples
    │   ├── UndecodableAudio       "undecodable_audio"
    │   ├── AudioBeforeStart       "audio_before_start"
    │   ├── BufferOverflow         "buffer_overflow"   (the frame refused; the warning drops the oldest)
    │   ├── AudioTooFast           "audio_too_fast"
    │   └── AudioTooLong           "audio_too_long"    an upload over prerecorded.max_duration_s
    ├── TranscriptionFailed        "transcription_failed" one utterance lost to the model; the stream goes on
    ├── AuthError                  fatal
    │   ├── Unauthenticated        "unauthenticated"   close 4401, HTTP 401
    │   └── Forbidden              "forbidden"         close 4403, HTTP 403
    ├── LimitError                 fatal, close 4429, HTTP 429
    │   ├── TooManySessions        "too_many_sessions"
    │   ├── TooManyConnections     "too_many_connections"  sockets of one client on one ingress replica
    │   ├── TooManyRequests        "too_many_requests"     repeated failed authentication from one address
    │   └── TooManyJobs            "too_many_jobs"     pre-recorded files transcribed at once (REST)
    ├── SessionNotFound            "session_not_found" close 4404, HTTP 404
    ├── SessionActive              "session_active"    HTTP 409 (DELETE of a session still streaming)
    ├── StreamEnded                "stream_ended"      close 1000 (audio after the session ended)
    ├── SessionTimeout             fatal
    │   ├── IdleTimeout            "idle_timeout"      close 4408 (no audio or command; no start_stream)
    │   └── MaxDurationReached     "max_duration"      close 4409
    ├── SessionInterrupted         "session_interrupted" close 1012: the session's host went away;
    │                                                  reconnect and resume (not a 4xxx: not final)
    ├── AtCapacity                 "at_capacity"       close 1013 ("try again later"), HTTP 503: the service
    │                                                  carries limits.max_streams streams already
    ├── StorageUnavailable         "storage_unavailable" close 4503, HTTP 503
    ├── ServiceUnavailable         "service_unavailable" HTTP 503: pre-recorded transcription is off
    └── InternalError              "internal_error"    close 4500, HTTP 500 (never carries exception text)

    SttWarning                     base of ``warning`` messages (the stream goes on)
    ├── BufferOverflowWarning      "buffer_overflow"   the oldest unprocessed frame was dropped
    ├── AudioMissing               "audio_missing"     stop_stream named more bytes than arrived
    ├── FallingBehind              "falling_behind"    the session's finals lag its audio by more than
    │                                                  limits.falling_behind_s (the server is overloaded)
    └── StorageFailed              "storage_failed"    a final was delivered but could not be stored

Messages are written for the client: they say what was wrong and what is allowed, quote at most
:data:`MAX_QUOTE` characters of the input, and never include exception text or stack traces.
"""

from __future__ import annotations

from typing import ClassVar

#: characters of a client's input an error message may quote
MAX_QUOTE = 60


def quote(value: object, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages that name the bad input."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SttError(Exception):
    code: ClassVar[str] = "error"
    close_code: ClassVar[int] = 4500
    http_status: ClassVar[int] = 500
    #: fatal errors close the connection with ``close_code`` (any error raised before a socket's
    #: session exists, at the handshake, closes it too)
    fatal: ClassVar[bool] = False
    #: an answer of the REST API only (never on a socket)
    rest_only: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(SttError):
    code = "invalid_message"
    close_code = 4400
    http_status = 400


class InvalidMessage(ProtocolError):
    code = "invalid_message"


class ConfigError(InvalidMessage):
    """A bad session option or setting value (its message names the field and the allowed range)."""


class UnknownCommand(ProtocolError):
    code = "unknown_command"


class WrongFrameType(ProtocolError):
    code = "wrong_frame_type"


class InvalidState(ProtocolError):
    code = "invalid_state"


class InvalidRequest(ProtocolError):
    code = "invalid_request"
    rest_only = True


class PayloadTooLarge(ProtocolError):
    code = "payload_too_large"
    http_status = 413
    rest_only = True


class AudioError(SttError):
    code = "invalid_audio"
    close_code = 4400
    http_status = 400


class FrameTooLarge(AudioError):
    code = "frame_too_large"


class MisalignedAudio(AudioError):
    code = "misaligned_audio"


class UndecodableAudio(AudioError):
    code = "undecodable_audio"


class AudioTooLong(AudioError):
    code = "audio_too_long"
    rest_only = True


class AudioBeforeStart(AudioError):
    code = "audio_before_start"


class BufferOverflow(AudioError):
    code = "buffer_overflow"


class AudioTooFast(AudioError):
    code = "audio_too_fast"


class TranscriptionFailed(SttError):
    code = "transcription_failed"
    http_status = 500


class AuthError(SttError):
    code = "unauthenticated"
    close_code = 4401
    http_status = 401
    fatal = True


class Unauthenticated(AuthError):
    code = "unauthenticated"


class Forbidden(AuthError):
    code = "forbidden"
    close_code = 4403
    http_status = 403


class LimitError(SttError):
    code = "limit_exceeded"
    close_code = 4429
    http_status = 429
    fatal = True


class TooManySessions(LimitError):
    code = "too_many_sessions"


class TooManyConnections(LimitError):
    code = "too_many_connections"


class TooManyRequests(LimitError):
    code = "too_many_requests"


class TooManyJobs(LimitError):
    code = "too_many_jobs"
    rest_only = True


class SessionNotFound(SttError):
    code = "session_not_found"
    close_code = 4404
    http_status = 404
    fatal = True


class SessionActive(SttError):
    """A REST change to a session that is still streaming (HTTP 409; never a WebSocket close)."""

    code = "session_active"
    http_status = 409
    rest_only = True


class StreamEnded(SttError):
    """Audio for a session that has ended: the audio socket closes normally."""

    code = "stream_ended"
    close_code = 1000
    http_status = 409
    fatal = True


class SessionTimeout(SttError):
    code = "idle_timeout"
    close_code = 4408
    http_status = 408
    fatal = True


class IdleTimeout(SessionTimeout):
    code = "idle_timeout"


class MaxDurationReached(SessionTimeout):
    code = "max_duration"
    close_code = 4409


class SessionInterrupted(SttError):
    """The session host serving the socket went away (a crash): the session is kept in the store,
    so the client reconnects and resumes. 1012 ("service restart") is not in the 4xxx range that
    clients read as the end of a session."""

    code = "session_interrupted"
    close_code = 1012
    http_status = 503
    fatal = True

    def __init__(self, message: str = "the session's host went away; reconnect and resume with last_seq") -> None:
        super().__init__(message)


class AtCapacity(SttError):
    """A new session while the service carries as many streams as it is configured to carry in real
    time: refused, so that the sessions it has keep their latency. 1013 is WebSocket's "try again
    later"; it is not a 4xxx, so a client may retry."""

    code = "at_capacity"
    close_code = 1013
    http_status = 503
    fatal = True


class StorageUnavailable(SttError):
    code = "storage_unavailable"
    close_code = 4503
    http_status = 503
    fatal = True


class ServiceUnavailable(SttError):
    code = "service_unavailable"
    close_code = 4503
    http_status = 503
    fatal = True
    rest_only = True


class InternalError(SttError):
    code = "internal_error"
    close_code = 4500
    http_status = 500
    fatal = True

    def __init__(self, message: str = "internal error; the session's finals so far are kept") -> None:
        super().__init__(message)


class SttWarning:
    """A ``warning`` message: something the client should know; the stream goes on."""

    code: ClassVar[str] = "warning"

    def __init__(self, message: str) -> None:
        self.message = message


class BufferOverflowWarning(SttWarning):
    code = "buffer_overflow"


class AudioMissing(SttWarning):
    code = "audio_missing"


class FallingBehind(SttWarning):
    code = "falling_behind"


class StorageFailed(SttWarning):
    code = "storage_failed"


def wire_errors() -> list[type[SttError]]:
    """Every error class that names a wire code (the leaves and the codes they share), for docs and tests."""
    out: list[type[SttError]] = []
    pending: list[type[SttError]] = [SttError]
    while pending:
        cls = pending.pop()
        subs = cls.__subclasses__()
        pending.extend(subs)
        if not subs and cls.code not in {c.code for c in out}:
            out.append(cls)
    return sorted(out, key=lambda c: c.code)


def wire_warnings() -> list[type[SttWarning]]:
    return sorted(SttWarning.__subclasses__(), key=lambda c: c.code)
